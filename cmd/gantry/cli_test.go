package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/echoserver"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp (echo-server) keeps a date updater for the process and a
		// worker-pool cleaner that notices a stop only after its sleep.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
}

const groupDoc = `kind: TargetGroup
name: web
targets: ["127.0.0.1:9001"]
`

const listenerDoc = `kind: Listener
name: public
port: 8080
defaultAction: {forward: {targetGroup: web}}
`

// apiFixture starts an admin API over a memory store on 127.0.0.1.
func apiFixture(t *testing.T) (string, *store.Memory) {
	t.Helper()
	st := store.NewMemory()
	srv := httptest.NewServer(apiserver.New(apiserver.Config{
		Store: st, Logger: slog.New(slog.DiscardHandler), Version: "test",
		Node: apiserver.NodeInfo{Name: "n1", Address: "127.0.0.1:7070"},
	}).Handler())
	t.Cleanup(func() {
		srv.Close()
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	})
	return srv.URL, st
}

// run executes the root command in-process and returns what it printed.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyGetDelete(t *testing.T) {
	api, _ := apiFixture(t)
	dir := t.TempDir()
	writeFile(t, dir, "1-group.yaml", groupDoc)
	lis := writeFile(t, dir, "2-listener.yaml", listenerDoc)
	writeFile(t, dir, "notes.txt", "ignored")
	steps := []struct {
		args    []string
		wantOut []string
		wantErr string
	}{
		{[]string{"apply", "-f", dir}, []string{"target-group/web created\nlistener/public created\n"}, ""},
		{[]string{"apply", "-f", lis}, []string{"listener/public unchanged\n"}, ""},
		{[]string{"get", "tg"}, []string{"NAME", "ALGORITHM", "web", "round_robin"}, ""},
		{[]string{"get", "listeners"}, []string{"public", "HTTP", "8080", "forward web=1"}, ""},
		{[]string{"get", "listener", "public", "-o", "yaml"}, []string{"kind: Listener", "name: public", "targetGroup: web"}, ""},
		{[]string{"get", "targets", "web"}, []string{"TARGET", "127.0.0.1:9001", "initial", "static"}, ""},
		{[]string{"get", "nodes"}, []string{"n1", "alive", "server"}, ""},
		{[]string{"get", "status"}, []string{"storeVersion: 1", "listeners: 1"}, ""},
		{[]string{"get", "status", "-o", "json"}, []string{`"targetGroups": 1`}, ""},
		{[]string{"get", "services"}, nil, "not available yet"},
		{[]string{"get", "targets"}, nil, "needs the target group"},
		{[]string{"get", "tg", "-o", "xml"}, nil, "unknown output"},
		{[]string{"get", "tg", "nope"}, nil, "not found"},
		{[]string{"register-targets", "web", "10.0.0.7:80", "--weight", "3"}, []string{"target 10.0.0.7:80 registered with target-group/web\n"}, ""},
		{[]string{"register-targets", "web", "bad"}, nil, "not host:port"},
		{[]string{"get", "targets", "web", "-o", "json"}, []string{`"address": "10.0.0.7:80"`, `"weight": 3`, `"source": "registered"`}, ""},
		{[]string{"deregister-targets", "web", "10.0.0.7:80"}, []string{"deregistered from target-group/web"}, ""},
		{[]string{"deregister-targets", "web", "10.0.0.7:80"}, nil, "not registered"},
		{[]string{"delete", "tg", "web"}, nil, "in use"},
		{[]string{"delete", "listener", "public"}, []string{"listener/public deleted\n"}, ""},
		{[]string{"delete", "target-groups", "web"}, []string{"target-group/web deleted\n"}, ""},
	}
	for _, st := range steps {
		args := append(st.args, "--api", api)
		out, _, err := run(t, args...)
		name := strings.Join(st.args, " ")
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Errorf("gantry %s: error = %v, want one containing %q", name, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("gantry %s: error = %v", name, err)
			continue
		}
		for _, w := range st.wantOut {
			if !strings.Contains(out, w) {
				t.Errorf("gantry %s printed %q, want it to contain %q", name, out, w)
			}
		}
	}
}

func TestGetJSONRoundTrips(t *testing.T) {
	api, _ := apiFixture(t)
	for _, o := range []string{"json", "yaml", "table"} {
		out, _, err := run(t, "get", "listeners", "-o", o, "--api", api)
		if err != nil || (o == "json" && out != "[]\n") || (o == "yaml" && out != "") {
			t.Errorf("get listeners -o %s with none = %q, %v", o, out, err)
		}
	}
	dir := t.TempDir()
	f := writeFile(t, dir, "all.yaml", groupDoc+"---\n"+listenerDoc)
	if _, _, err := run(t, "apply", "-f", f, "--api", api); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "get", "tg", "-o", "json", "--api", api)
	var groups []spec.TargetGroup
	if err != nil || json.Unmarshal([]byte(out), &groups) != nil || len(groups) != 1 || groups[0].Name != "web" {
		t.Fatalf("get tg -o json = %q, %v; want a JSON array with web", out, err)
	}
	out, _, err = run(t, "get", "listeners", "-o", "yaml", "--api", api)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := spec.Decode("out.yaml", []byte(out))
	if err != nil || len(docs) != 1 || docs[0].Name() != "public" {
		t.Errorf("get listeners -o yaml does not decode back: %v, %d docs\n%s", err, len(docs), out)
	}
}

func TestApplyPrintsLocatedErrors(t *testing.T) {
	api, st := apiFixture(t)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", groupDoc)
	bad := writeFile(t, dir, "bad.yaml", "kind: Listener\nname: l\nport: 8080\ndefaultAction:\n  forward: {targetGroup: missing}\n")
	_, stderr, err := run(t, "apply", "-f", good, "-f", bad, "--api", api)
	if err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("apply with a bad file: error = %v, want rejected", err)
	}
	if want := bad + ":5:"; !strings.Contains(stderr, want) || !strings.Contains(stderr, `"missing" does not exist`) {
		t.Errorf("apply stderr = %q, want a line starting %q about the missing group", stderr, want)
	}
	if v := st.Snapshot().Version; v != 0 {
		t.Errorf("rejected apply changed the store to version %d", v)
	}
	if _, _, err := run(t, "apply", "-f", filepath.Join(dir, "absent.yaml"), "--api", api); err == nil {
		t.Error("apply of a missing file succeeded")
	}
}

func TestAPIFromEnvironment(t *testing.T) {
	api, _ := apiFixture(t)
	t.Setenv("GANTRY_API", api)
	if out, _, err := run(t, "get", "nodes"); err != nil || !strings.Contains(out, "n1") {
		t.Errorf("get nodes with GANTRY_API = %q, %v; want node n1", out, err)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", groupDoc+"---\n"+listenerDoc)
	bad := writeFile(t, dir, "bad.yaml", "kind: TargetGroup\nname: web\nalgorithm: fastest\n---\n"+
		"kind: Listener\nname: l\nport: 8080\ndefaultAction: {forward: {targetGroup: nope}}\n")
	tests := []struct {
		name    string
		args    []string
		wantOut []string
		wantErr string
	}{
		{"valid", []string{"validate", "-f", good}, []string{"2 documents valid\n"}, ""},
		{"directory", []string{"validate", "-f", dir}, []string{bad + ":3:"}, "problem"},
		{"located errors", []string{"validate", "-f", bad}, []string{bad + ":3:12: algorithm:", bad + ":8:"}, "problems in 2 documents"},
		{"positional", []string{"validate", good}, []string{"2 documents valid"}, ""},
		{"missing file", []string{"validate", "-f", filepath.Join(dir, "nope.yaml")}, []string{"nope.yaml"}, "problem"},
		{"no files", []string{"validate"}, nil, "no files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := run(t, tt.args...)
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("gantry %v: error = %v, want %q", tt.args, err, tt.wantErr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("gantry %v printed %q, want it to contain %q", tt.args, out, w)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "gantry "+version+" (go") {
		t.Errorf("version = %q, %v", out, err)
	}
}

func TestEchoServerCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the command listens itself; the port was free a moment ago
	ctx, cancel := context.WithCancel(context.Background())
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"echo-server", "--addr", addr, "--name", "cli-echo"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("echo-server returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("echo-server did not stop")
		}
	})
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	// The server's readiness is not observable from here except by asking.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			if got := resp.Header.Get(echoserver.HeaderName); got != "cli-echo" {
				t.Errorf("echo-server %s = %q, want cli-echo", echoserver.HeaderName, got)
			}
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("echo-server never answered: %v", err)
		}
	}
}
