package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantrylb/gantry/spec"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

func newTestFSM() *fsm {
	return &fsm{pub: newPublished(emptyState()), log: slog.New(slog.DiscardHandler), onCommit: func(string) {}}
}

// applyFSM feeds c to f as a committed log entry, through the codec.
func applyFSM(t *testing.T, f *fsm, c *command) ([]Result, error) {
	t.Helper()
	data, err := c.encode()
	if err != nil {
		t.Fatal(err)
	}
	resp, ok := f.Apply(&raft.Log{Type: raft.LogCommand, Data: data}).(fsmResponse)
	if !ok {
		t.Fatalf("FSM.Apply did not return an fsmResponse")
	}
	return resp.results, resp.err
}

// TestFSMMatchesMemory feeds the same requests, accepted and rejected, to
// Memory and to the FSM (through the command codec, as the log carries them)
// and expects the same answers and the same states, positions included.
func TestFSMMatchesMemory(t *testing.T) {
	c := context.Background()
	m, f := NewMemory(), newTestFSM()
	steps := []struct {
		name string
		mem  func() ([]Result, error)
		cmd  func() *command
	}{
		{"apply", func() ([]Result, error) { return m.Apply(c, decode(t, "a.yaml", groupWeb+"---"+listenerPublic)) },
			func() *command {
				return &command{op: opApply, Docs: toWireDocs(decode(t, "a.yaml", groupWeb+"---"+listenerPublic))}
			}},
		{"apply unchanged from another file", func() ([]Result, error) { return m.Apply(c, decode(t, "b.yaml", groupWeb)) },
			func() *command { return &command{op: opApply, Docs: toWireDocs(decode(t, "b.yaml", groupWeb))} }},
		{"apply rejected with positions", func() ([]Result, error) {
			return m.Apply(c, decode(t, "c.yaml", "kind: Listener\nname: two\nport: 8080\ndefaultAction: {forward: {targetGroup: nope}}\n"))
		}, func() *command {
			return &command{op: opApply, Docs: toWireDocs(decode(t, "c.yaml", "kind: Listener\nname: two\nport: 8080\ndefaultAction: {forward: {targetGroup: nope}}\n"))}
		}},
		{"unsupported kind", func() ([]Result, error) {
			return m.Apply(c, []spec.Document{{Kind: "Service", Pos: spec.Position{File: "s.yaml", Line: 3}}})
		},
			func() *command {
				return &command{op: opApply, Docs: toWireDocs([]spec.Document{{Kind: "Service", Pos: spec.Position{File: "s.yaml", Line: 3}}})}
			}},
		{"register", func() ([]Result, error) {
			return nil, m.RegisterTargets(c, "web", []spec.Target{{Address: "10.0.0.1:80"}, {Address: "10.0.0.2:80", Weight: 7}})
		}, func() *command {
			return &command{op: opRegister, Group: "web", Targets: []spec.Target{{Address: "10.0.0.1:80"}, {Address: "10.0.0.2:80", Weight: 7}}}
		}},
		{"register bad", func() ([]Result, error) { return nil, m.RegisterTargets(c, "web", []spec.Target{{Address: "x"}}) },
			func() *command { return &command{op: opRegister, Group: "web", Targets: []spec.Target{{Address: "x"}}} }},
		{"deregister static", func() ([]Result, error) { return nil, m.DeregisterTargets(c, "web", []string{"127.0.0.1:9001"}) },
			func() *command { return &command{op: opDeregister, Group: "web", Addrs: []string{"127.0.0.1:9001"}} }},
		{"deregister", func() ([]Result, error) { return nil, m.DeregisterTargets(c, "web", []string{"10.0.0.1:80"}) },
			func() *command { return &command{op: opDeregister, Group: "web", Addrs: []string{"10.0.0.1:80"}} }},
		{"delete in use", func() ([]Result, error) { return nil, m.Delete(c, "tg", "web") },
			func() *command { return &command{op: opDelete, Kind: "tg", Name: "web"} }},
		{"delete", func() ([]Result, error) { return nil, m.Delete(c, "listener", "public") },
			func() *command { return &command{op: opDelete, Kind: "listener", Name: "public"} }},
		{"delete unknown kind", func() ([]Result, error) { return nil, m.Delete(c, "widgets", "x") },
			func() *command { return &command{op: opDelete, Kind: "widgets", Name: "x"} }},
	}
	for _, st := range steps {
		wantRes, wantErr := st.mem()
		gotRes, gotErr := applyFSM(t, f, st.cmd())
		if errString(gotErr) != errString(wantErr) {
			t.Errorf("%s: FSM error = %v, Memory's = %v", st.name, gotErr, wantErr)
		}
		for _, target := range []error{ErrNotFound, ErrInUse, ErrInvalid} {
			if errors.Is(gotErr, target) != errors.Is(wantErr, target) {
				t.Errorf("%s: errors.Is(FSM error, %v) differs from Memory's", st.name, target)
			}
		}
		if len(gotRes) != len(wantRes) || (len(gotRes) > 0 && !equalResults(gotRes, wantRes)) {
			t.Errorf("%s: FSM results = %v, Memory's = %v", st.name, gotRes, wantRes)
		}
		if got, want := stateJSON(t, f.pub.load()), stateJSON(t, m.Snapshot()); got != want {
			t.Errorf("%s: FSM state =\n%s\nMemory's =\n%s", st.name, got, want)
		}
	}
	if v := f.pub.load().Version; v != 4 {
		t.Errorf("FSM version after the steps = %d, want 4", v)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func equalResults(a, b []Result) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFSMSnapshotRestore(t *testing.T) {
	f := newTestFSM()
	if _, err := applyFSM(t, f, &command{op: opApply, Docs: toWireDocs(decode(t, "a.yaml", groupWeb+"---"+listenerPublic))}); err != nil {
		t.Fatal(err)
	}
	if _, err := applyFSM(t, f, &command{op: opRegister, Group: "web", Targets: []spec.Target{{Address: "10.0.0.1:80"}}}); err != nil {
		t.Fatal(err)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil || !sink.closed {
		t.Fatalf("Persist() = %v, closed %v", err, sink.closed)
	}
	g := newTestFSM()
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got, want := stateJSON(t, g.pub.load()), stateJSON(t, f.pub.load()); got != want {
		t.Errorf("restored state =\n%s\nwant\n%s", got, want)
	}
	// Positions survive: a clash names where the stored listener was written.
	_, err = applyFSM(t, g, &command{op: opApply, Docs: toWireDocs(decode(t, "b.yaml", "kind: Listener\nname: two\nport: 8080\ndefaultAction: {fixedResponse: {statusCode: 200}}\n"))})
	if err == nil || !strings.Contains(err.Error(), "(at a.yaml:") {
		t.Errorf("clash after restore = %v, want it to locate the stored listener in a.yaml", err)
	}
}

type memSink struct {
	bytes.Buffer
	closed bool
}

func (s *memSink) ID() string    { return "test" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

func TestDecodeSnapshot(t *testing.T) {
	tests := []struct {
		name, doc, wantErr string
		version            uint64
	}{
		{"older snapshot without some kinds", `{"format":1,"version":7}`, "", 7},
		{"unknown optional field of a later build", `{"format":1,"version":3,"services":{}}`, "", 3},
		{"newer format", `{"format":2,"version":3}`, "upgrade this server", 0},
		{"no format", `{"version":3}`, "format 0", 0},
		{"garbage", `nope`, "decode snapshot", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodeSnapshot(strings.NewReader(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("decodeSnapshot(%s) = %v, want an error containing %q", tt.doc, err, tt.wantErr)
				}
				return
			}
			if err != nil || s.Version != tt.version || s.Listeners == nil || s.TargetGroups == nil || s.Registered == nil {
				t.Errorf("decodeSnapshot(%s) = %+v, %v; want version %d with empty maps", tt.doc, s, err, tt.version)
			}
		})
	}
}

func TestDecodeCommand(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"short", []byte{commandFormat}, "too short"},
		{"newer format", []byte{commandFormat + 1, opApply, '{', '}'}, "upgrade this server"},
		{"bad body", []byte{commandFormat, opApply, 'x'}, "decode command"},
	}
	for _, tt := range tests {
		if _, err := decodeCommand(tt.data); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: decodeCommand() = %v, want an error containing %q", tt.name, err, tt.wantErr)
		}
	}
	// An operation this build does not know changes nothing.
	f := newTestFSM()
	if _, err := applyFSM(t, f, &command{op: 99}); err == nil || f.pub.load().Version != 0 {
		t.Errorf("unknown operation: error %v, version %d; want an error and version 0", err, f.pub.load().Version)
	}
}

func TestHCLogAdapter(t *testing.T) {
	var b bytes.Buffer
	h := newHCLog(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo})))
	var l hclog.Logger = h
	l.Named("raft").With("server-id", "n1").Info("entering leader state", "votesNeeded", 2, "odd")
	l.Debug("hidden")
	got := b.String()
	for _, want := range []string{"subcomponent=raft", "server_id=n1", "votes_needed=2", "extra=odd", `msg="entering leader state"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log line %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "hidden") || l.IsDebug() || !l.IsInfo() || l.GetLevel() != hclog.Info {
		t.Errorf("levels: debug shown or IsDebug %v IsInfo %v GetLevel %v", l.IsDebug(), l.IsInfo(), l.GetLevel())
	}
	l.StandardLogger(nil).Print("from the standard logger")
	if !strings.Contains(b.String(), "from the standard logger") {
		t.Errorf("StandardLogger output missing: %q", b.String())
	}
}

// TestCommandRoundTripExamples sends every example document through the
// command codec: the resource, its positions and its apply result survive.
func TestCommandRoundTripExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("examples: %v, %v", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			docs := decode(t, file, string(data))
			// Examples may hold kinds this store does not take yet: the codec
			// must carry them all the same.
			m := NewMemory()
			_, applyErr := m.Apply(context.Background(), docs)
			b, err := (&command{op: opApply, Docs: toWireDocs(docs)}).encode()
			if err != nil {
				t.Fatal(err)
			}
			c, err := decodeCommand(b)
			if err != nil {
				t.Fatal(err)
			}
			back := fromWireDocs(c.Docs)
			for i := range docs {
				want, got := docJSON(t, docs[i]), docJSON(t, back[i])
				if got != want {
					t.Errorf("document %d after the codec =\n%s\nwant\n%s", i, got, want)
				}
			}
			if applyErr != nil {
				return
			}
			results, err := m.Apply(context.Background(), back)
			if err != nil {
				t.Fatalf("Apply(round-tripped) = %v", err)
			}
			for _, r := range results {
				if r.Action != ActionUnchanged {
					t.Errorf("Apply(round-tripped): %v, want unchanged", r)
				}
			}
		})
	}
}

// docJSON encodes a document with its positions, which json.Marshal of the
// resource alone leaves out.
func docJSON(t *testing.T, d spec.Document) string {
	t.Helper()
	var res any
	var pos spec.Position
	var positions map[string]spec.Position
	switch {
	case d.Listener != nil:
		res, pos, positions = d.Listener, d.Listener.Pos, d.Listener.Positions
	case d.TargetGroup != nil:
		res, pos, positions = d.TargetGroup, d.TargetGroup.Pos, d.TargetGroup.Positions
	}
	b, err := json.Marshal(map[string]any{"kind": d.Kind, "docPos": d.Pos, "res": res, "pos": pos, "positions": positions})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
