package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const resources = `kind: TargetGroup
name: web
targets: ["127.0.0.1:9001", "127.0.0.1:9002"]
---
kind: TargetGroup
name: api
targets: ["127.0.0.1:9100"]
---
kind: Listener
name: public
port: 8080
defaultAction: {forward: {targetGroup: web}}
`

// fakeTargets reports health for the groups it knows, as the balancer would.
type fakeTargets struct {
	mu     sync.Mutex
	groups map[string][]spec.TargetHealth
}

func (f *fakeTargets) TargetHealth(group string) ([]spec.TargetHealth, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	th, ok := f.groups[group]
	return append([]spec.TargetHealth(nil), th...), ok
}

type fixture struct {
	url    string
	client *Client
	store  *store.Memory
	hc     *http.Client
}

func newFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	st := store.NewMemory()
	cfg := Config{
		Store: st,
		Targets: &fakeTargets{groups: map[string][]spec.TargetHealth{
			"web": {{Address: "127.0.0.1:9001", State: spec.TargetHealthy, Source: "static"},
				{Address: "127.0.0.1:9002", State: spec.TargetUnhealthy, Reason: "Target.Timeout", Source: "static"}},
		}},
		Registry: prometheus.NewRegistry(),
		Logger:   slog.New(slog.DiscardHandler),
		Version:  "v0.0.0-test",
		Status:   func() any { return map[string]int{"balancerListeners": 1} },
		Node:     NodeInfo{Name: "node-1", Address: "127.0.0.1:7070", Roles: []string{"server", "agent"}},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ts := httptest.NewServer(New(cfg).Handler())
	t.Cleanup(ts.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	c := NewClient(ts.URL)
	c.HTTPClient = hc
	return &fixture{url: ts.URL, client: c, store: st, hc: hc}
}

func (f *fixture) call(t *testing.T, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (f *fixture) seed(t *testing.T) {
	t.Helper()
	if _, err := f.client.Apply(testCtx(t), []byte(resources)); err != nil {
		t.Fatalf("seed apply: %v", err)
	}
}

func TestApply(t *testing.T) {
	f := newFixture(t, nil)
	ctx := testCtx(t)
	res, err := f.client.Apply(ctx, []byte(resources))
	if err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	want := []store.Result{{Kind: spec.KindTargetGroup, Name: "web", Action: "created"}, {Kind: spec.KindTargetGroup, Name: "api", Action: "created"}, {Kind: spec.KindListener, Name: "public", Action: "created"}}
	if len(res) != len(want) {
		t.Fatalf("Apply() = %v, want %v", res, want)
	}
	for i := range want {
		if res[i] != want[i] {
			t.Errorf("Apply()[%d] = %v, want %v", i, res[i], want[i])
		}
	}
	res, err = f.client.ApplyFiles(ctx, []File{{Name: "a.yaml", Data: []byte(resources)}})
	if err != nil || res[0].Action != store.ActionUnchanged {
		t.Errorf("ApplyFiles(same) = %v, %v; want unchanged", res, err)
	}
}

func TestApplyLocatedErrors(t *testing.T) {
	f := newFixture(t, nil)
	f.seed(t)
	before := f.store.Snapshot().Version
	tests := []struct {
		name      string
		send      func() error
		wantFile  string
		wantLine  int
		wantMatch string
	}{
		{
			name: "unknown key, raw body named by query",
			send: func() error {
				code, _, body := f.call(t, "POST", "/v1/apply?file=app.yaml", "kind: TargetGroup\nname: x\nbogus: 1\n")
				return decodeErr(code, body)
			},
			wantFile: "app.yaml", wantLine: 3, wantMatch: "bogus",
		},
		{
			name: "missing group in second of two files",
			send: func() error {
				_, err := f.client.ApplyFiles(testCtx(t), []File{
					{Name: "one.yaml", Data: []byte("kind: TargetGroup\nname: ok\n")},
					{Name: "two.yaml", Data: []byte("kind: Listener\nname: l2\nport: 9090\ndefaultAction:\n  forward: {targetGroup: nope}\n")},
				})
				return err
			},
			wantFile: "two.yaml", wantLine: 5, wantMatch: `"nope" does not exist`,
		},
		{
			// The missing group is found with the other errors, not once
			// they are fixed.
			name: "missing group beside a document error",
			send: func() error {
				_, err := f.client.Apply(testCtx(t), []byte("kind: Listener\nname: l4\nport: 9091\nbogus: 1\ndefaultAction:\n  forward: {targetGroup: nope}\n"))
				return err
			},
			wantFile: "request", wantLine: 6, wantMatch: `"nope" does not exist`,
		},
		{
			name: "port clash with the stored listener",
			send: func() error {
				_, err := f.client.Apply(testCtx(t), []byte("kind: Listener\nname: l3\nport: 8080\ndefaultAction: {fixedResponse: {statusCode: 200}}\n"))
				return err
			},
			wantFile: "request", wantLine: 3, wantMatch: "already used",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.send()
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != 400 || len(ae.Errors) == 0 {
				t.Fatalf("apply = %v, want a 400 APIError with located errors", err)
			}
			found := false
			for _, le := range ae.Errors {
				if le.File == tt.wantFile && le.Line == tt.wantLine && le.Column > 0 && strings.Contains(le.Message, tt.wantMatch) {
					found = true
				}
			}
			if !found {
				t.Errorf("apply errors = %+v, want one at %s:%d matching %q", ae.Errors, tt.wantFile, tt.wantLine, tt.wantMatch)
			}
		})
	}
	if v := f.store.Snapshot().Version; v != before {
		t.Errorf("rejected applies changed the store version %d -> %d", before, v)
	}
}

func decodeErr(code int, body string) error {
	var eb ErrorBody
	json.Unmarshal([]byte(body), &eb)
	return &APIError{StatusCode: code, Message: eb.Error, Errors: eb.Errors}
}

func TestEndpoints(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	f.seed(t)
	tests := []struct {
		method, path, body string
		code               int
		contains           string
	}{
		{"GET", "/healthz", "", 200, "ok"},
		{"GET", "/v1/listeners", "", 200, `"name": "public"`},
		{"GET", "/v1/target-groups", "", 200, `"name": "api"`},
		{"GET", "/v1/tg", "", 200, `"name": "web"`},
		{"GET", "/v1/listeners/public", "", 200, `"port": 8080`},
		{"GET", "/v1/target-groups/web", "", 200, `"algorithm": "round_robin"`},
		{"GET", "/v1/listeners/nope", "", 404, `not found`},
		{"GET", "/v1/widgets", "", 404, `unknown kind`},
		{"GET", "/v1/services", "", 200, `"items": []`},
		{"GET", "/v1/tasks/t1", "", 404, `not found`},
		{"GET", "/v1/services/web/events", "", 404, `not found`},
		{"POST", "/v1/nodes/node-1/drain", "", 200, `"draining": true`},
		{"GET", "/v1/nodes", "", 200, `"state": "alive"`},
		{"GET", "/v1/nodes/node-1", "", 200, `"roles": [`},
		{"GET", "/v1/nodes/other", "", 404, `not found`},
		{"DELETE", "/v1/nodes/node-1", "", 405, `cannot be deleted`},
		{"GET", "/v1/status", "", 200, `"balancerListeners": 1`},
		{"GET", "/v1/target-groups/web/targets", "", 200, `"state": "unhealthy"`},
		{"GET", "/v1/target-groups/api/targets", "", 200, `"state": "initial"`},
		{"GET", "/v1/target-groups/nope/targets", "", 404, `not found`},
		{"DELETE", "/v1/target-groups/web", "", 409, `in use`},
		{"DELETE", "/v1/target-groups/nope", "", 404, `not found`},
		{"PUT", "/v1/apply", "", 405, `not allowed`},
		{"GET", "/v1/apply", "", 405, `not allowed`},
		{"POST", "/v1/target-groups/api/targets", `{"targets":[{"address":"h:1","wieght":5}]}`, 400, `unknown field \"wieght\"`},
		{"POST", "/v1/target-groups/api/targets", `{"targets":[{"address":"h:1","weight":0}]}`, 400, `weight 0 is out of range`},
		{"POST", "/v1/target-groups/api/targets", `{"targets":["h:1",{"address":"h:1","weight":9}]}`, 400, `h:1 is already listed at targets[0]`},
		{"DELETE", "/v1/target-groups/api/targets", `{"targets":["h:1","h:1"]}`, 400, `already listed`},
		{"POST", "/v1/target-groups/api/targets", `{"targets":["127.0.0.1:022101"]}`, 400, `write the port as 22101`},
		{"POST", "/v1/listeners", "", 405, `not allowed`},
		{"PATCH", "/v1/target-groups/web/targets", "", 405, `not allowed`},
		{"GET", "/nope", "", 404, `no such endpoint`},
		{"POST", "/v1/apply", "", 400, `no resource documents`},
		{"POST", "/v1/apply", strings.Repeat("#", 5000), 413, `larger than 4096`},
		{"POST", "/v1/target-groups/api/targets", `{"targets":[]}`, 400, `no targets`},
		{"POST", "/v1/target-groups/api/targets", `{"targetz":[{"address":"h:1"}]}`, 400, `bad body`},
		{"POST", "/v1/target-groups/api/targets", `{"targets":[{"address":"nohost"}]}`, 400, `not host:port`},
		{"POST", "/v1/target-groups/nope/targets", `{"targets":["h:1"]}`, 404, `not found`},
		{"DELETE", "/v1/target-groups/api/targets", `{"targets":["10.9.9.9:1"]}`, 404, `not registered`},
		{"GET", "/metrics", "", 200, `gantry_api_requests_total`},
		{"GET", "/", "", 200, `<td>public</td>`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			code, h, body := f.call(t, tt.method, tt.path, tt.body)
			if code != tt.code || !strings.Contains(body, tt.contains) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tt.method, tt.path, code, body, tt.code, tt.contains)
			}
			if code >= 400 && !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Errorf("%s %s error Content-Type = %q, want application/json", tt.method, tt.path, h.Get("Content-Type"))
			}
			if code == 405 && h.Get("Allow") == "" {
				t.Errorf("%s %s = 405 without Allow", tt.method, tt.path)
			}
		})
	}
}

func TestDashboard(t *testing.T) {
	f := newFixture(t, nil)
	f.seed(t)
	code, h, body := f.call(t, "GET", "/", "")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s, want 200 text/html", code, h.Get("Content-Type"))
	}
	for _, want := range []string{"forward to web (1)", `class="healthy"`, `class="unhealthy"`, "Target.Timeout", `class="initial"`, "127.0.0.1:9100", "v0.0.0-test"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
}

func TestClientCalls(t *testing.T) {
	f := newFixture(t, nil)
	f.seed(t)
	ctx := testCtx(t)
	items, err := f.client.List(ctx, "listener")
	if err != nil || len(items) != 1 {
		t.Fatalf("List(listener) = %d items, %v; want 1", len(items), err)
	}
	raw, err := f.client.Get(ctx, "tg", "api")
	var g spec.TargetGroup
	if err != nil || json.Unmarshal(raw, &g) != nil || g.Name != "api" || len(g.Targets) != 1 {
		t.Fatalf("Get(tg, api) = %s, %v", raw, err)
	}
	th, err := f.client.Register(ctx, "api", []spec.Target{{Address: "10.0.0.5:80", Weight: 3}})
	if err != nil || len(th) != 2 || th[1].Source != "registered" || th[1].Weight != 3 {
		t.Fatalf("Register() = %+v, %v; want the static and the registered target", th, err)
	}
	th, err = f.client.Deregister(ctx, "api", []string{"10.0.0.5:80"})
	if err != nil || len(th) != 1 {
		t.Fatalf("Deregister() = %+v, %v; want one target left", th, err)
	}
	th, err = f.client.Targets(ctx, "web")
	if err != nil || len(th) != 2 || th[0].State != spec.TargetHealthy {
		t.Fatalf("Targets(web) = %+v, %v; want the balancer's view", th, err)
	}
	st, err := f.client.Status(ctx)
	if err != nil || st.Listeners != 1 || st.TargetGroups != 2 || st.Version != "v0.0.0-test" || st.StoreVersion == 0 {
		t.Fatalf("Status() = %+v, %v", st, err)
	}
	nodes, err := f.client.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Name != "node-1" || nodes[0].State != "alive" {
		t.Fatalf("Nodes() = %+v, %v", nodes, err)
	}
	var ae *APIError
	if err := f.client.Delete(ctx, "tg", "web"); !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict {
		t.Errorf("Delete(tg, web) = %v, want 409", err)
	}
	if err := f.client.Delete(ctx, "listeners", "public"); err != nil {
		t.Errorf("Delete(listeners, public) = %v", err)
	}
	if err := f.client.Delete(ctx, "tg", "web"); err != nil {
		t.Errorf("Delete(tg, web) after the listener = %v", err)
	}
	if _, err := f.client.Get(ctx, "tg", "web"); !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
		t.Errorf("Get(tg, web) after delete = %v, want 404", err)
	}
}

func TestClientUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := NewClient(addr)
	if _, err := c.Status(testCtx(t)); err == nil || !strings.Contains(err.Error(), "GET /v1/status") {
		t.Errorf("Status() against a closed port = %v, want an error naming the call", err)
	}
}

func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Store: store.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve() = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := NewClient(ln.Addr().String())
	c.HTTPClient = &http.Client{Transport: tr}
	nodes, err := c.Nodes(testCtx(t))
	if err != nil || len(nodes) != 1 || nodes[0].Address != ln.Addr().String() || nodes[0].Roles[0] != "server" {
		t.Errorf("Nodes() = %+v, %v; want this node at %s", nodes, err, ln.Addr())
	}
}

// TestApplyFilesResolvesCertificatePaths: a relative certificate path is
// resolved against the directory the client read the file from.
func TestApplyFilesResolvesCertificatePaths(t *testing.T) {
	f := newFixture(t, nil)
	doc := "kind: Listener\nname: secure\nport: 8443\nprotocol: HTTPS\n" +
		"certificates: [{certFile: tls/site.crt, keyFile: tls/site.key}]\n" +
		"defaultAction: {fixedResponse: {statusCode: 200}}\n"
	if _, err := f.client.ApplyFiles(testCtx(t), []File{{Name: "l.yaml", Data: []byte(doc), Dir: "/srv/app"}}); err != nil {
		t.Fatalf("ApplyFiles() = %v", err)
	}
	l := f.store.Snapshot().Listeners["secure"]
	if l == nil {
		t.Fatal("listener secure was not stored")
	}
	if got := l.Certificates[0].CertFile; got != "/srv/app/tls/site.crt" {
		t.Errorf("certFile = %q, want /srv/app/tls/site.crt", got)
	}
}

// TestAPIMetricMethodBounded: the method label of gantry_api_requests_total
// is bounded (DESIGN 3.5): any token a client sends as a method must not
// become a series of its own.
func TestAPIMetricMethodBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, func(c *Config) { c.Registry = reg })
	for _, m := range []string{"RANDOM1", "RANDOM2", "GET"} {
		f.call(t, m, "/v1/listeners", "")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "gantry_api_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" {
					methods[l.GetValue()] = true
				}
			}
		}
	}
	if methods["RANDOM1"] || methods["RANDOM2"] || !methods["other"] || !methods["GET"] {
		t.Fatalf("method label values = %v, want GET and other only", methods)
	}
}

// TestClientRefusesOtherServers: a client pointed at an HTTP server that is
// not the admin API (a wrong --api) fails every call, rather than reading
// its answers as an empty list, a deleted resource or a drained node.
func TestClientRefusesOtherServers(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{}`)
	}))
	defer other.Close()
	c := NewClient(other.URL)
	ctx := testCtx(t)
	calls := map[string]func() error{
		"List":      func() error { _, err := c.List(ctx, "listeners"); return err },
		"Get":       func() error { _, err := c.Get(ctx, "listeners", "public"); return err },
		"Delete":    func() error { return c.Delete(ctx, "listeners", "public") },
		"DrainNode": func() error { _, err := c.DrainNode(ctx, "n1", true); return err },
		"Targets":   func() error { _, err := c.Targets(ctx, "web"); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil || !strings.Contains(err.Error(), "is the API URL right?") {
			t.Errorf("%s against another server: %v, want the not-the-API error", name, err)
		}
	}
}

// TestUnconfirmedWriteSaysOutcomeUnknown: a write that timed out waiting
// for its commit may still be committed; its 503 says so, so that a client
// does not blindly send it again.
func TestUnconfirmedWriteSaysOutcomeUnknown(t *testing.T) {
	rec := httptest.NewRecorder()
	writeErr(rec, fmt.Errorf("store: register targets: commit: %w", context.DeadlineExceeded))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "outcome is unknown") {
		t.Errorf("writeErr(deadline) = %d %q, want 503 saying the outcome is unknown", rec.Code, rec.Body.String())
	}
}
