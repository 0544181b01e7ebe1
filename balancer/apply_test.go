package balancer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/health"
)

// applyDoc is the configuration of TestFailingListenerDoesNotFreezeOthers:
// listener front answers /v with version, forwards the rest to group web;
// listener other (HTTP, or HTTPS when secure) forwards to web; listener late
// (when withLate) forwards to web too.
func applyDoc(version string, targets []string, secure, withLate bool) string {
	other := "kind: Listener\nname: other\nport: 1\ndefaultAction: {forward: {targetGroup: web}}\n"
	if secure {
		other = "kind: Listener\nname: other\nport: 1\nprotocol: HTTPS\ncertificates: [{certFile: a.crt, keyFile: a.key}]\n" +
			"defaultAction: {forward: {targetGroup: web}}\n"
	}
	doc := fmt.Sprintf(`kind: Listener
name: front
port: 1
rules:
  - priority: 1
    conditions: {pathPattern: [/v]}
    action: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: %q}}
defaultAction: {forward: {targetGroup: web}}
---
%s---
kind: TargetGroup
name: web
targets: [%s]
healthCheck: {enabled: false}
`, version, other, quoteList(targets))
	if withLate {
		doc += "---\nkind: Listener\nname: late\nport: 1\ndefaultAction: {forward: {targetGroup: web}}\n"
	}
	return doc
}

// withPorts returns cfg with each named listener's port set (0 elsewhere).
func withPorts(cfg Config, ports map[string]int) Config {
	for _, l := range cfg.Listeners {
		l.Port = ports[l.Name]
	}
	return cfg
}

// failingTLS is a TLS provider that can be told to fail.
type failingTLS struct {
	*staticTLS
}

func (f failingTLS) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// getVia sends GET uri to addr over plain HTTP or TLS and returns the
// status, body and X-Backend header.
func getVia(t *testing.T, addr, uri string, tlsCfg *tls.Config) (int, string, string) {
	t.Helper()
	c := &fasthttp.HostClient{Addr: addr, IsTLS: tlsCfg != nil, TLSConfig: tlsCfg, MaxIdemponentCallAttempts: 1, ReadTimeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	scheme := "http://"
	if tlsCfg != nil {
		scheme = "https://"
	}
	req.SetRequestURI(scheme + addr + uri)
	if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatalf("GET %s%s: %v", addr, uri, err)
	}
	return resp.StatusCode(), string(resp.Body()), string(resp.Header.Peek("X-Backend"))
}

// TestFailingListenerDoesNotFreezeOthers: a listener that cannot be applied
// (its address is in use, its certificates cannot be had) is reported, keeps
// its previous configuration if it had one, and does not hold back the other
// listeners or the target groups; once the cause is gone, the next Update
// applies it.
func TestFailingListenerDoesNotFreezeOthers(t *testing.T) {
	tests := []struct {
		name string
		// secure makes listener other HTTPS.
		secure bool
		// breakIt makes the second Update fail for the listener it returns,
		// given the port held by another process; fix undoes it and returns
		// the ports of the third Update.
		breakIt  func(ports map[string]int, busy int, prov failingTLS) (failing string, existed bool)
		fix      func(ports map[string]int, busy net.Listener, prov failingTLS)
		withLate bool
		wantErr  string
	}{
		{
			name:     "new listener on an address in use",
			withLate: true,
			breakIt: func(ports map[string]int, busy int, _ failingTLS) (string, bool) {
				ports["late"] = busy
				return "late", false
			},
			fix:     func(_ map[string]int, busy net.Listener, _ failingTLS) { _ = busy.Close() },
			wantErr: "address already in use",
		},
		{
			name: "listener moved to an address in use",
			breakIt: func(ports map[string]int, busy int, _ failingTLS) (string, bool) {
				ports["other"] = busy
				return "other", true
			},
			fix:     func(_ map[string]int, busy net.Listener, _ failingTLS) { _ = busy.Close() },
			wantErr: "address already in use",
		},
		{
			name:   "certificates unavailable",
			secure: true,
			breakIt: func(_ map[string]int, _ int, prov failingTLS) (string, bool) {
				prov.fail(errors.New("open a.crt: no such file or directory"))
				return "other", true
			},
			fix:     func(_ map[string]int, _ net.Listener, prov failingTLS) { prov.fail(nil) },
			wantErr: "no such file or directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			prov := failingTLS{&staticTLS{certs: []tls.Certificate{ca.issue(t, "www.example.com")}}}
			var clientTLS *tls.Config
			if tt.secure {
				clientTLS = ca.clientConfig("www.example.com")
			}
			reg := prometheus.NewRegistry()
			b := New(Options{Registry: reg, TLS: prov, DrainInterval: 10 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = b.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			h := &lbHarness{t: t, reg: reg}
			addrOf := func(name string) string {
				t.Helper()
				a, ok := b.Addr(name)
				if !ok {
					t.Fatalf("Addr(%s): not bound", name)
				}
				return a.String()
			}
			be1, be2 := startBackend(t, "be1", nil), startBackend(t, "be2", nil)
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer busy.Close()
			busyPort := busy.Addr().(*net.TCPAddr).Port

			ports := map[string]int{}
			if err := b.Update(withPorts(decodeConfig(t, applyDoc("v1", []string{be1.addr}, tt.secure, false), 0), ports)); err != nil {
				t.Fatalf("first Update = %v", err)
			}
			otherAddr := addrOf("other")
			ports["front"] = mustPort(t, b, "front")
			ports["other"] = mustPort(t, b, "other")

			failing, existed := tt.breakIt(ports, busyPort, prov)
			err = b.Update(withPorts(decodeConfig(t, applyDoc("v2", []string{be1.addr, be2.addr}, tt.secure, tt.withLate), 0), ports))
			var le *ListenerError
			if !errors.As(err, &le) || le.Listener != failing || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("second Update = %v, want a *ListenerError for %s containing %q", err, failing, tt.wantErr)
			}
			if got := b.ListenerErrors(); len(got) != 1 || got[failing] == nil {
				t.Errorf("ListenerErrors() = %v, want only %s", got, failing)
			}
			if got := h.metric("gantry_listener_config_failed", map[string]string{"listener": failing}); got != 1 {
				t.Errorf("gantry_listener_config_failed{listener=%q} = %v, want 1", failing, got)
			}
			// The rest was applied: front's new rule, web's new target.
			if _, body, _ := getVia(t, addrOf("front"), "/v", nil); body != "v2" {
				t.Errorf("front /v = %q, want v2 (the update of the healthy listener)", body)
			}
			if th, _ := b.TargetHealth("web"); len(th) != 2 {
				t.Errorf("TargetHealth(web) = %d targets, want 2 (the group update)", len(th))
			}
			// A listener that ran before keeps running, on the new groups.
			if existed {
				if got := addrOf(failing); got != otherAddr {
					t.Errorf("Addr(%s) = %s, want its previous address %s", failing, got, otherAddr)
				}
				seen := map[string]bool{}
				for range 4 {
					_, _, backend := getVia(t, otherAddr, "/", clientTLS)
					seen[backend] = true
				}
				if !seen["be1"] || !seen["be2"] {
					t.Errorf("%s forwarded to %v, want both be1 and be2 (its previous rules on the new group)", failing, seen)
				}
			} else if _, ok := b.Addr(failing); ok {
				t.Errorf("Addr(%s) bound, want not running", failing)
			}

			// Retried by the next Update once the cause is gone.
			tt.fix(ports, busy, prov)
			if err := b.Update(withPorts(decodeConfig(t, applyDoc("v3", []string{be2.addr}, tt.secure, tt.withLate), 0), ports)); err != nil {
				t.Fatalf("third Update = %v, want nil once the cause is gone", err)
			}
			if got := b.ListenerErrors(); len(got) != 0 {
				t.Errorf("ListenerErrors() = %v after recovery, want none", got)
			}
			if got := h.metric("gantry_listener_config_failed", map[string]string{"listener": failing}); got != 0 {
				t.Errorf("gantry_listener_config_failed{listener=%q} = %v after recovery, want no series", failing, got)
			}
			if _, _, backend := getVia(t, addrOf(failing), "/", clientTLS); backend != "be2" {
				t.Errorf("%s forwarded to %q after recovery, want be2", failing, backend)
			}
			if ports[failing] != 0 && addrOf(failing) != fmt.Sprintf("127.0.0.1:%d", ports[failing]) {
				t.Errorf("Addr(%s) = %s, want port %d", failing, addrOf(failing), ports[failing])
			}
		})
	}
}

// TestFailingListenerStopsWhenItsPreviousGroupIsGone: a failing listener
// whose previous rules forward to a group the update removed cannot keep
// running; it is stopped and reported.
func TestFailingListenerStopsWhenItsPreviousGroupIsGone(t *testing.T) {
	be := startBackend(t, "be", nil)
	h := startLB(t, groupDoc("", be.addr))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := decodeConfig(t, fmt.Sprintf(`kind: Listener
name: public
port: 1
defaultAction: {forward: {targetGroup: other}}
---
kind: TargetGroup
name: other
targets: [%q]
healthCheck: {enabled: false}
`, be.addr), ln.Addr().(*net.TCPAddr).Port)
	err = h.b.Update(cfg)
	if err == nil || !strings.Contains(err.Error(), "previous configuration cannot run either") {
		t.Fatalf("Update = %v, want the bind failure and the previous configuration's", err)
	}
	waitFor(t, 5*time.Second, "listener public stopped", func() bool {
		_, ok := h.b.Addr("public")
		return !ok
	})
}

// mustPort is the port listener name of b is bound to.
func mustPort(t *testing.T, b *Balancer, name string) int {
	t.Helper()
	a, ok := b.Addr(name)
	if !ok {
		t.Fatalf("Addr(%s): not bound", name)
	}
	return a.(*net.TCPAddr).Port
}

// reentrantHealth is a health checker whose Set calls back into the
// balancer, as the server's OnChange hook does (shareHealth reads
// TargetHealth) when a disabled check turns a target healthy in Set.
type reentrantHealth struct {
	b    *Balancer
	sets atomic.Int64
}

func (h *reentrantHealth) Set(gs []health.Group) {
	for _, g := range gs {
		h.b.TargetHealth(g.Name)
	}
	h.sets.Add(1)
}

// TestUpdateDoesNotHoldItsLockAcrossHealthSet: Update calls the checker's
// Set without holding the lock TargetHealth takes, so a checker that calls
// back does not deadlock the data plane.
func TestUpdateDoesNotHoldItsLockAcrossHealthSet(t *testing.T) {
	hc := &reentrantHealth{}
	b := New(Options{Health: hc})
	hc.b = b
	done := make(chan error, 1)
	go func() { done <- b.Update(decodeConfig(t, groupDoc("", "127.0.0.1:1"), 0)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Update = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Update did not return within 5s: deadlocked with the health checker's callback")
	}
	if hc.sets.Load() != 1 {
		t.Errorf("Set called %d times, want 1", hc.sets.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = b.Run(ctx)
}

// fixedListeners is one listener per name, each answering its own name.
func fixedListeners(names ...string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, "kind: Listener\nname: %s\nport: 1\ndefaultAction: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: %s}}\n", n, n)
	}
	return b.String()
}

// TestListenersTradeAddresses: an address held by a listener that the same
// update removes or moves elsewhere is taken over in that update (a renamed
// listener, two listeners swapping ports); when the leaving listener's own
// new address cannot be bound, it is reported and stopped, and the listener
// that took its address serves.
func TestListenersTradeAddresses(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := New(Options{Registry: reg, DrainInterval: 10 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	answer := func(port int) string {
		t.Helper()
		_, body, _ := getVia(t, fmt.Sprintf("127.0.0.1:%d", port), "/", nil)
		return body
	}

	if err := b.Update(decodeConfig(t, fixedListeners("a", "b"), 0)); err != nil {
		t.Fatalf("first Update = %v", err)
	}
	pa, pb := mustPort(t, b, "a"), mustPort(t, b, "b")

	// Swap.
	if err := b.Update(withPorts(decodeConfig(t, fixedListeners("a", "b"), 0), map[string]int{"a": pb, "b": pa})); err != nil {
		t.Fatalf("swapping ports: Update = %v, want nil", err)
	}
	if got := answer(pa); got != "b" {
		t.Errorf("port %d (a's, now b's) answered %q, want b", pa, got)
	}
	if got := answer(pb); got != "a" {
		t.Errorf("port %d (b's, now a's) answered %q, want a", pb, got)
	}

	// Rename b (on pa) to c.
	if err := b.Update(withPorts(decodeConfig(t, fixedListeners("a", "c"), 0), map[string]int{"a": pb, "c": pa})); err != nil {
		t.Fatalf("renaming b to c: Update = %v, want nil", err)
	}
	if got := answer(pa); got != "c" {
		t.Errorf("port %d after the rename answered %q, want c", pa, got)
	}

	// c takes a's address while a moves to an address in use.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	err = b.Update(withPorts(decodeConfig(t, fixedListeners("a", "c"), 0),
		map[string]int{"a": busy.Addr().(*net.TCPAddr).Port, "c": pb}))
	var le *ListenerError
	if !errors.As(err, &le) || le.Listener != "a" || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("moving a to a busy port: Update = %v, want a *ListenerError for a", err)
	}
	if got := answer(pb); got != "c" {
		t.Errorf("port %d (a's old, now c's) answered %q, want c", pb, got)
	}
	if _, ok := b.Addr("a"); ok {
		t.Error("a still has an address after its socket went to c and its new one was refused")
	}
	_ = busy.Close()
	if err := b.Update(withPorts(decodeConfig(t, fixedListeners("a", "c"), 0),
		map[string]int{"a": busy.Addr().(*net.TCPAddr).Port, "c": pb})); err != nil {
		t.Fatalf("once the port is free: Update = %v, want nil", err)
	}
	if got := answer(busy.Addr().(*net.TCPAddr).Port); got != "a" {
		t.Errorf("a on its freed port answered %q, want a", got)
	}
}
