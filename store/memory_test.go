package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantrylb/gantry/spec"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const groupWeb = `
kind: TargetGroup
name: web
targets: ["127.0.0.1:9001"]
`

const listenerPublic = `
kind: Listener
name: public
port: 8080
defaultAction: {forward: {targetGroup: web}}
`

// forEachStore runs a test of the Store contract against every
// implementation: Memory, and a single-server Raft.
func forEachStore(t *testing.T, test func(t *testing.T, m Store)) {
	t.Run("memory", func(t *testing.T) { test(t, NewMemory()) })
	t.Run("raft", func(t *testing.T) { test(t, newLeader(t)) })
}

func decode(t *testing.T, file, yaml string) []spec.Document {
	t.Helper()
	docs, err := spec.Decode(file, []byte(yaml))
	if err != nil {
		t.Fatalf("spec.Decode(%s): %v", file, err)
	}
	return docs
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestApplyResults(t *testing.T) {
	forEachStore(t, func(t *testing.T, m Store) {
		steps := []struct {
			name    string
			yaml    string
			want    []Result
			version uint64
		}{
			{"create", groupWeb + "---" + listenerPublic, []Result{
				{spec.KindTargetGroup, "web", ActionCreated}, {spec.KindListener, "public", ActionCreated}}, 1},
			{"same again", groupWeb + "---" + listenerPublic, []Result{
				{spec.KindTargetGroup, "web", ActionUnchanged}, {spec.KindListener, "public", ActionUnchanged}}, 1},
			{"defaults spelled out", groupWeb + "protocol: HTTP\nalgorithm: round_robin\n", []Result{
				{spec.KindTargetGroup, "web", ActionUnchanged}}, 1},
			{"change group", groupWeb + "algorithm: least_outstanding_requests\n", []Result{
				{spec.KindTargetGroup, "web", ActionConfigured}}, 2},
		}
		for _, st := range steps {
			got, err := m.Apply(ctx(t), decode(t, st.name+".yaml", st.yaml))
			if err != nil {
				t.Fatalf("%s: Apply() error = %v", st.name, err)
			}
			if len(got) != len(st.want) {
				t.Fatalf("%s: Apply() = %v, want %v", st.name, got, st.want)
			}
			for i := range got {
				if got[i] != st.want[i] {
					t.Errorf("%s: Apply()[%d] = %v, want %v", st.name, i, got[i], st.want[i])
				}
			}
			if v := m.Snapshot().Version; v != st.version {
				t.Errorf("%s: Version = %d, want %d", st.name, v, st.version)
			}
		}
		g := m.Snapshot().TargetGroups["web"]
		if g.HealthCheck.Path != "/" || g.Targets[0].Weight != 1 {
			t.Errorf("stored group not defaulted: path %q weight %d", g.HealthCheck.Path, g.Targets[0].Weight)
		}
	})
}

func TestApplyAllOrNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, m Store) {
		if _, err := m.Apply(ctx(t), decode(t, "base.yaml", groupWeb+"---"+listenerPublic)); err != nil {
			t.Fatal(err)
		}
		before := m.Snapshot()
		tests := []struct {
			name    string
			docs    []spec.Document
			wantMsg string
			wantPos string
		}{
			{
				name:    "forward to missing group",
				docs:    decode(t, "bad.yaml", groupWeb+"algorithm: weighted_random\n---\nkind: Listener\nname: other\nport: 9090\ndefaultAction: {forward: {targetGroup: nope}}\n"),
				wantMsg: `target group "nope" does not exist`,
				wantPos: "bad.yaml:",
			},
			{
				name:    "port taken by existing listener",
				docs:    decode(t, "port.yaml", "kind: Listener\nname: second\nport: 8080\ndefaultAction: {fixedResponse: {statusCode: 200}}\n"),
				wantMsg: "port 8080 is already used",
			},
			{
				name:    "duplicate in one apply",
				docs:    decode(t, "dup.yaml", groupWeb+"---"+groupWeb),
				wantMsg: "appears twice",
				wantPos: "dup.yaml:",
			},
			{
				name: "invalid resource built in code",
				docs: []spec.Document{{Kind: spec.KindTargetGroup, TargetGroup: &spec.TargetGroup{Name: "bad name!"}}},
			},
			{
				name:    "unsupported kind",
				docs:    []spec.Document{{Kind: "Service"}},
				wantMsg: "unsupported kind",
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, err := m.Apply(ctx(t), tt.docs)
				var el spec.ErrorList
				if !errors.As(err, &el) || len(el) == 0 {
					t.Fatalf("Apply() = %v, %v; want a spec.ErrorList", res, err)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), tt.wantPos) {
					t.Errorf("Apply() error = %q, want it to contain %q and %q", err, tt.wantMsg, tt.wantPos)
				}
				if after := m.Snapshot(); after != before {
					t.Errorf("rejected apply changed the state: version %d -> %d", before.Version, after.Version)
				}
			})
		}
		if alg := m.Snapshot().TargetGroups["web"].Algorithm; alg != spec.AlgorithmRoundRobin {
			t.Errorf("group algorithm after rejected applies = %q, want %q", alg, spec.AlgorithmRoundRobin)
		}
	})
}

func TestDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, m Store) {
		if _, err := m.Apply(ctx(t), decode(t, "base.yaml", groupWeb+"---"+listenerPublic)); err != nil {
			t.Fatal(err)
		}
		if err := m.RegisterTargets(ctx(t), "web", []spec.Target{{Address: "10.0.0.1:80"}}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			kind, name string
			want       error
		}{
			{"target-groups", "web", ErrInUse},
			{"tg", "missing", ErrNotFound},
			{"widgets", "x", ErrInvalid},
			{"listener", "public", nil},
			{"listeners", "public", ErrNotFound},
			{"TargetGroup", "web", nil},
		}
		for _, st := range steps {
			err := m.Delete(ctx(t), st.kind, st.name)
			if !errors.Is(err, st.want) || (st.want == nil) != (err == nil) {
				t.Errorf("Delete(%q, %q) = %v, want %v", st.kind, st.name, err, st.want)
			}
		}
		s := m.Snapshot()
		if len(s.Listeners)+len(s.TargetGroups)+len(s.Registered) != 0 {
			t.Errorf("after deletes: %d listeners, %d groups, %d registered; want none", len(s.Listeners), len(s.TargetGroups), len(s.Registered))
		}
	})
}

func TestRegisterDeregister(t *testing.T) {
	forEachStore(t, func(t *testing.T, m Store) {
		if _, err := m.Apply(ctx(t), decode(t, "g.yaml", groupWeb)); err != nil {
			t.Fatal(err)
		}
		c := ctx(t)
		if err := m.RegisterTargets(c, "web", []spec.Target{{Address: "10.0.0.1:80"}, {Address: "10.0.0.2:80", Weight: 5}}); err != nil {
			t.Fatalf("RegisterTargets() = %v", err)
		}
		v := m.Snapshot().Version
		if err := m.RegisterTargets(c, "web", []spec.Target{{Address: "10.0.0.1:80", Weight: 1}}); err != nil || m.Snapshot().Version != v {
			t.Errorf("re-registering the same target = %v, version %d; want nil and unchanged version %d", err, m.Snapshot().Version, v)
		}
		all := m.Snapshot().AllTargets("web")
		want := []spec.Target{{Address: "127.0.0.1:9001", Weight: 1}, {Address: "10.0.0.1:80", Weight: 1}, {Address: "10.0.0.2:80", Weight: 5}}
		if len(all) != len(want) {
			t.Fatalf("AllTargets(web) = %v, want %v", all, want)
		}
		for i := range want {
			if all[i] != want[i] {
				t.Errorf("AllTargets(web)[%d] = %v, want %v", i, all[i], want[i])
			}
		}
		errTests := []struct {
			name string
			err  error
			want error
		}{
			{"unknown group", m.RegisterTargets(c, "nope", []spec.Target{{Address: "10.0.0.1:80"}}), ErrNotFound},
			{"bad address", m.RegisterTargets(c, "web", []spec.Target{{Address: "10.0.0.1"}}), ErrInvalid},
			{"bad port", m.RegisterTargets(c, "web", []spec.Target{{Address: "h:70000"}}), ErrInvalid},
			{"bad weight", m.RegisterTargets(c, "web", []spec.Target{{Address: "h:1", Weight: 1001}}), ErrInvalid},
			{"deregister static", m.DeregisterTargets(c, "web", []string{"127.0.0.1:9001"}), ErrNotFound},
			{"deregister unknown among known", m.DeregisterTargets(c, "web", []string{"10.0.0.1:80", "10.9.9.9:1"}), ErrNotFound},
		}
		for _, tt := range errTests {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("%s: error = %v, want %v", tt.name, tt.err, tt.want)
			}
		}
		if n := len(m.Snapshot().Registered["web"]); n != 2 {
			t.Errorf("failed deregister removed targets: %d registered, want 2", n)
		}
		if err := m.DeregisterTargets(c, "web", []string{"10.0.0.1:80", "10.0.0.2:80"}); err != nil {
			t.Fatalf("DeregisterTargets() = %v", err)
		}
		if _, ok := m.Snapshot().Registered["web"]; ok {
			t.Errorf("Registered[web] still present after removing every target")
		}
	})
}

func TestWatchWakes(t *testing.T) {
	forEachStore(t, func(t *testing.T, m Store) {
		got := make(chan *State, 1)
		go func() {
			s, err := m.Watch(ctx(t), 0)
			if err != nil {
				t.Error(err)
			}
			got <- s
		}()
		if _, err := m.Apply(ctx(t), decode(t, "g.yaml", groupWeb)); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if s.Version != 1 || s.TargetGroups["web"] == nil {
				t.Errorf("Watch(0) = version %d with %d groups, want version 1 with web", s.Version, len(s.TargetGroups))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Watch(0) did not wake after an apply")
		}
		// A version already past returns at once.
		if s, err := m.Watch(ctx(t), 0); err != nil || s.Version != 1 {
			t.Errorf("Watch(0) after apply = %v, %v; want version 1", s, err)
		}
		// Nothing changes: the watch ends with its context.
		c, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := m.Watch(c, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("Watch(canceled, 1) = %v, want context.Canceled", err)
		}
	})
}

func TestParseKind(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"listeners", KindListeners, true},
		{"Listener", KindListeners, true},
		{"tg", KindTargetGroups, true},
		{"target-group", KindTargetGroups, true},
		{"TargetGroups", KindTargetGroups, true},
		{"services", KindServices, true},
		{"svc", KindServices, true},
		{"TaskDefinition", KindTaskDefinitions, true},
		{"td", KindTaskDefinitions, true},
		{"task", KindTasks, true},
		{"widgets", "", false},
	}
	for _, tt := range tests {
		if got, ok := ParseKind(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("ParseKind(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestConcurrentWritersAndWatchers(t *testing.T) {
	forEachStore(t, func(t *testing.T, m Store) {
		if _, err := m.Apply(ctx(t), decode(t, "g.yaml", groupWeb)); err != nil {
			t.Fatal(err)
		}
		const writers, each = 4, 25
		c := ctx(t)
		done := make(chan error, writers)
		for w := range writers {
			go func() {
				for i := range each {
					addr := fmt.Sprintf("10.0.%d.%d:80", w, i+1)
					if err := m.RegisterTargets(c, "web", []spec.Target{{Address: addr}}); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
		}
		// A watcher following every version sees them increase to the last one.
		want := uint64(1 + writers*each)
		var seen uint64 = 1
		for seen < want {
			s, err := m.Watch(c, seen)
			if err != nil {
				t.Fatalf("Watch(%d) = %v", seen, err)
			}
			if s.Version <= seen {
				t.Fatalf("Watch(%d) returned version %d", seen, s.Version)
			}
			seen = s.Version
		}
		for range writers {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if n := len(m.Snapshot().Registered["web"]); n != writers*each {
			t.Errorf("registered targets = %d, want %d", n, writers*each)
		}
	})
}
