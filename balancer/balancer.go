package balancer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/health"
	"github.com/gantrylb/gantry/rules"
	"github.com/gantrylb/gantry/spec"
)

// HealthChecker runs active checks; the balancer hands it every group's
// targets after each update. Set must not block for long.
type HealthChecker interface {
	Set(groups []health.Group)
}

// Options configure a Balancer. Zero fields take the defaults shown.
type Options struct {
	// Logger for operational messages. Default slog.Default().
	Logger *slog.Logger
	// Registry receives the data-plane metrics. Default: none registered.
	Registry prometheus.Registerer
	// Health, when set, is told about every target to check.
	Health HealthChecker
	// AccessLog, when set, receives one entry per request.
	AccessLog AccessLogger
	// CookieKey authenticates sticky cookies. Default: random per process.
	CookieKey []byte
	// UpstreamMaxConns bounds connections per target. Default 65536, the
	// default connection limit of a listener: as ALB, a target is not
	// capped (each request in flight holds one of its connections, and
	// long polls or slow transfers may hold thousands).
	UpstreamMaxConns int
	// UpstreamIdleTimeout closes pooled target connections idle this long;
	// keep it below the targets' own keep-alive timeout. Default 4s.
	UpstreamIdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful stop of a listener. Default 30s.
	ShutdownTimeout time.Duration
	// DrainInterval is how often draining targets are checked for the end of
	// their in-flight work. Default 50ms.
	DrainInterval time.Duration
	// ACMEChallenge, when set, answers ACME http-01 challenges: it is asked
	// for every request whose path starts with /.well-known/acme-challenge/,
	// before the rules, with the host (port removed) and the path. ok sends
	// body as a 200 text/plain answer; !ok routes the request as usual. It is
	// called concurrently, must not block for long and must not keep host or
	// path after it returns.
	ACMEChallenge func(host, path string) (body []byte, ok bool)
	// TLS supplies the certificates of HTTPS and TLS listeners. Required
	// when any listener terminates TLS: Update fails without it.
	TLS TLSProvider
}

// Config is the desired data-plane configuration: every listener and target
// group, already defaulted and validated.
type Config struct {
	Listeners    []*spec.Listener
	TargetGroups []*spec.TargetGroup
	// Registered holds targets registered through the API, per group, in
	// addition to the groups' static targets.
	Registered map[string][]spec.Target
	// Discovered holds targets other sources found, per group: registrations
	// gossiped by the cluster's nodes, labelled Docker containers. A target
	// already static or registered keeps that source.
	Discovered map[string][]DiscoveredTarget
}

// DiscoveredTarget is a target found by a source other than the documents
// and the API.
type DiscoveredTarget struct {
	spec.Target
	// Source is docker, task or registered (spec.TargetHealth.Source).
	Source string
	// Node owns the target; Task names the task or container behind it.
	Node, Task string
	// Shared means the owner, another node, checks the target's health:
	// this node takes Health (initial, healthy or unhealthy) and Reason from
	// it instead of checking itself. Its own traffic still ejects the
	// target passively.
	Shared         bool
	Health, Reason string
	// HealthCheckPath replaces the group's check path for this target, when
	// this node checks it.
	HealthCheckPath string
}

// Balancer runs every listener of the data plane. Update may be called at any
// time and from any goroutine; requests never wait for it.
type Balancer struct {
	log             *slog.Logger
	reg             prometheus.Registerer // for the outlier detectors' ejection counter
	metrics         *metrics
	tcpm            *tcpMetrics
	tls             TLSProvider
	health          HealthChecker
	access          AccessLogger
	cookies         *cookieCodec
	ids             *requestIDs
	tune            upstreamTuning
	shutdownTimeout time.Duration
	drainInterval   time.Duration
	acme            func(host, path string) ([]byte, bool)

	wg sync.WaitGroup

	mu sync.Mutex // serialises Update and draining bookkeeping
	// healthMu keeps the health checker's Sets in the order of the Updates
	// that made them: Update takes it before it releases mu, and calls Set
	// without mu, because Set may call back into the balancer (the
	// checker's OnChange hook reads TargetHealth).
	healthMu  sync.Mutex
	listeners map[string]frontend
	targets   map[targetKey]*target
	outliers  map[string]outlierEntry
	draining  map[*target]string // target → group
	groups    atomic.Pointer[[]*group]
	failures  *listenerFailures
	closed    bool

	// onRequest, when set (by tests only), runs at the start of every
	// request's handling; tests use it to inject panics.
	onRequest atomic.Pointer[func(*fasthttp.RequestCtx)]
}

type targetKey struct{ group, addr string }

type outlierEntry struct {
	cfg spec.OutlierDetection
	o   *health.Outlier
}

// New returns a Balancer with no listeners.
func New(o Options) *Balancer {
	b := &Balancer{
		log:             o.Logger,
		reg:             o.Registry,
		health:          o.Health,
		tls:             o.TLS,
		access:          o.AccessLog,
		cookies:         newCookieCodec(o.CookieKey),
		ids:             newRequestIDs(),
		shutdownTimeout: o.ShutdownTimeout,
		drainInterval:   o.DrainInterval,
		acme:            o.ACMEChallenge,
		listeners:       map[string]frontend{},
		targets:         map[targetKey]*target{},
		outliers:        map[string]outlierEntry{},
		draining:        map[*target]string{},
		tune: upstreamTuning{
			maxConns:        o.UpstreamMaxConns,
			idleConnTimeout: o.UpstreamIdleTimeout,
			readBufferSize:  maxResponseHead,
		},
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.log = b.log.With("component", "balancer")
	if b.tune.maxConns <= 0 {
		b.tune.maxConns = spec.DefaultMaxConnections
	}
	if b.tune.idleConnTimeout <= 0 {
		b.tune.idleConnTimeout = 4 * time.Second
	}
	if b.shutdownTimeout <= 0 {
		b.shutdownTimeout = 30 * time.Second
	}
	if b.drainInterval <= 0 {
		b.drainInterval = 50 * time.Millisecond
	}
	empty := []*group{}
	b.groups.Store(&empty)
	b.metrics = newMetrics(o.Registry, func() []*group { return *b.groups.Load() })
	b.tcpm = newTCPMetrics(o.Registry)
	b.failures = newListenerFailures(o.Registry)
	return b
}

// ErrClosed is returned by Update after Run has returned.
var ErrClosed = errors.New("balancer: closed")

// Update compiles cfg and swaps it in, listener by listener, so that one
// listener that cannot be applied never holds the others back. Target
// groups always take effect, and so does every listener whose rules compile,
// whose TLS configuration can be had and whose address can be bound (new
// sockets are bound before anything is swapped). A listener that fails keeps
// serving its previous configuration, if it had one, with its forwards moved
// to the new target groups; Update then returns the failures, each a
// *ListenerError joined with errors.Join, and keeps them (ListenerErrors,
// metric gantry_listener_config_failed) until an Update applies or drops
// the listener: calling Update again retries them.
//
// Unchanged targets keep their health, in-flight counts and connections;
// removed targets drain; listeners whose address changed move.
func (b *Balancer) Update(cfg Config) error {
	b.mu.Lock()
	list, err := b.update(cfg)
	if list == nil {
		b.mu.Unlock()
		return err
	}
	b.healthMu.Lock()
	b.mu.Unlock()
	defer b.healthMu.Unlock()
	if b.health != nil {
		b.health.Set(healthGroups(list))
	}
	return err
}

// update is Update's work under b.mu: it returns the new groups (nil when
// the balancer is closed) and the listener failures.
func (b *Balancer) update(cfg Config) ([]*group, error) {
	if b.closed {
		return nil, ErrClosed
	}
	groups, live := b.buildGroups(cfg)
	states := make(map[string]*listenerState, len(cfg.Listeners))
	failed := map[string]error{}
	for _, ls := range cfg.Listeners {
		st, err := b.buildListener(ls, groups)
		if err != nil {
			failed[ls.Name] = err
			continue
		}
		states[ls.Name] = st
	}
	opened, vacated := b.bindNew(cfg.Listeners, states, failed)

	// Commit: nothing below fails but the fallback of failed listeners.
	now := nowNanos()
	for k, t := range b.targets {
		if live[k] != t {
			b.startDrain(t, k.group, b.drainDelay(k.group, groups), now)
		}
	}
	b.targets = live
	if old := b.groups.Load(); old != nil {
		for _, g := range *old {
			if groups[g.name] == nil {
				b.metrics.forgetGroup(g.name)
			}
		}
	}
	list := make([]*group, 0, len(groups))
	for _, g := range groups {
		list = append(list, g)
	}
	slices.SortFunc(list, func(a, c *group) int { return cmpString(a.name, c.name) })
	b.groups.Store(&list)
	b.swapListeners(cfg.Listeners, states, opened, vacated, failed, groups)
	return list, b.failures.record(b, failed)
}

// buildGroups makes the groups of cfg around existing or new targets.
func (b *Balancer) buildGroups(cfg Config) (map[string]*group, map[targetKey]*target) {
	groups := make(map[string]*group, len(cfg.TargetGroups))
	live := map[targetKey]*target{}
	for _, gs := range cfg.TargetGroups {
		g := &group{
			name:            gs.Name,
			spec:            gs,
			byID:            map[uint64]*target{},
			sel:             newSelector(gs.Algorithm),
			slowStart:       int64(gs.SlowStart()),
			responseTimeout: gs.ResponseTimeout(),
			failOpenCounter: b.metrics.failOpen.WithLabelValues(gs.Name),
			retryCounter:    b.metrics.retries.WithLabelValues(gs.Name),
			stickyHits:      b.metrics.stickyHits.WithLabelValues(gs.Name),
		}
		name := gs.Name
		g.draining = func() int { return b.drainingCount(name) }
		if gs.Stickiness.Enabled {
			g.stickiness.duration = gs.Stickiness.Duration()
			if gs.Stickiness.Type == spec.StickinessAppCookie {
				g.stickiness.kind = stickyApp
				g.stickiness.cookieName = gs.Stickiness.CookieName
			} else {
				g.stickiness.kind = stickyLB
			}
		}
		add := func(tg spec.Target, source string) *target {
			k := targetKey{gs.Name, tg.Address}
			if _, dup := live[k]; dup {
				return nil
			}
			t := b.targets[k]
			if t == nil || t.draining.Load() {
				if t = b.revive(k); t == nil {
					t = newTarget(gs.Name, tg.Address, b.tune, b.metrics)
				}
			}
			t.source = source
			t.connectTimeout.Store(int64(gs.ConnectTimeout()))
			live[k] = t
			g.targets = append(g.targets, t)
			g.weights = append(g.weights, max(tg.Weight, 1))
			g.byID[t.id] = t
			return t
		}
		for _, tg := range gs.Targets {
			add(tg, "static")
		}
		for _, tg := range cfg.Registered[gs.Name] {
			add(tg, "registered")
		}
		for _, d := range cfg.Discovered[gs.Name] {
			t := add(d.Target, d.Source)
			if t == nil {
				continue
			}
			t.node, t.task, t.shared, t.hcPath = d.Node, d.Task, d.Shared, d.HealthCheckPath
			if d.Shared {
				if st, ok := health.ParseState(d.Health); ok {
					t.status.SetShared(st, d.Reason)
				}
			}
		}
		g.outlier = b.outlierFor(gs)
		statuses := make([]*health.Status, len(g.targets))
		for i, t := range g.targets {
			statuses[i] = &t.status
		}
		g.outlier.SetTargets(statuses)
		groups[gs.Name] = g
	}
	return groups, live
}

// outlierFor keeps a group's outlier detector across reloads while its
// configuration is unchanged, so ejections and their count survive.
func (b *Balancer) outlierFor(gs *spec.TargetGroup) *health.Outlier {
	e, ok := b.outliers[gs.Name]
	if ok && outlierEqual(e.cfg, gs.OutlierDetection) {
		return e.o
	}
	o := health.NewOutlier(gs.OutlierDetection, health.WithRegistry(b.reg))
	b.outliers[gs.Name] = outlierEntry{cfg: gs.OutlierDetection, o: o}
	return o
}

func outlierEqual(a, c spec.OutlierDetection) bool {
	return ptrEq(a.Enabled, c.Enabled) && ptrEq(a.MaxEjectionPercent, c.MaxEjectionPercent) &&
		a.ConsecutiveFailures == c.ConsecutiveFailures && a.BaseEjectionSeconds == c.BaseEjectionSeconds
}

func ptrEq[T comparable](a, c *T) bool {
	if a == nil || c == nil {
		return a == c
	}
	return *a == *c
}

// buildListener compiles a listener's rules and resolves its groups.
func (b *Balancer) buildListener(l *spec.Listener, groups map[string]*group) (*listenerState, error) {
	table, err := rules.Compile(l)
	if err != nil {
		return nil, err
	}
	st := &listenerState{
		spec:         l,
		table:        table,
		scheme:       []byte("http"),
		portText:     []byte(strconv.Itoa(l.Port)),
		maxURI:       l.Limits.MaxURIBytes,
		maxBody:      l.Limits.MaxRequestBodyBytes,
		idleTimeout:  l.IdleTimeout(),
		requests:     b.metrics.requests.WithLabelValues(l.Name),
		clientClosed: b.metrics.clientClosed.WithLabelValues(l.Name),
	}
	if st.maxURI <= 0 {
		st.maxURI = 16384
	}
	if err := b.buildEdge(l, st); err != nil {
		return nil, err
	}
	for _, a := range table.Actions() {
		if a.Kind != rules.ActionForward {
			st.forwards = append(st.forwards, nil)
			continue
		}
		p := &forwardPlan{fwd: a.Forward}
		for _, wg := range a.Forward.Groups {
			g := groups[wg.Name]
			if g == nil {
				return nil, fmt.Errorf("target group %q does not exist", wg.Name)
			}
			p.groups = append(p.groups, g)
			p.groupIDs = append(p.groupIDs, targetID("\x00group", wg.Name))
		}
		st.forwards = append(st.forwards, p)
	}
	return st, nil
}

// bindNew opens sockets for the listeners of states that are new or moved.
// A listener that cannot be bound is moved from states to failed.
func (b *Balancer) bindNew(ls []*spec.Listener, states map[string]*listenerState, failed map[string]error) (opened map[string]net.Listener, vacated map[string]bool) {
	opened = map[string]net.Listener{}
	var busy []*spec.Listener
	for _, l := range ls {
		if states[l.Name] == nil {
			continue
		}
		if cur := b.listeners[l.Name]; cur != nil && !moved(cur, l) {
			continue
		}
		ln, err := net.Listen("tcp", bindAddr(l))
		switch {
		case err == nil:
			opened[l.Name] = ln
		case errors.Is(err, syscall.EADDRINUSE):
			busy = append(busy, l)
		default:
			delete(states, l.Name)
			failed[l.Name] = err
		}
	}
	if len(busy) == 0 {
		return opened, nil
	}
	// The address may be held by a listener of ours that this update
	// removes or moves elsewhere (a renamed listener, two listeners that
	// swap ports). That listener's socket is closed now, freeing the
	// address, and the bind is tried again; the listener's open
	// connections finish as when it is stopped.
	vacated = map[string]bool{}
	leaving := b.leavingSockets(ls, states)
	for _, l := range busy {
		for name, addr := range leaving {
			if !vacated[name] && sameBind(addr, l) {
				b.listeners[name].socket().Close()
				vacated[name] = true
			}
		}
	}
	for _, l := range busy {
		ln, err := net.Listen("tcp", bindAddr(l))
		if err != nil {
			delete(states, l.Name)
			failed[l.Name] = err
			continue
		}
		opened[l.Name] = ln
	}
	return opened, vacated
}

// leavingSockets returns the bound addresses of the running listeners that
// the update removes or moves to another address.
func (b *Balancer) leavingSockets(ls []*spec.Listener, states map[string]*listenerState) map[string]*net.TCPAddr {
	next := make(map[string]*spec.Listener, len(ls))
	for _, l := range ls {
		next[l.Name] = l
	}
	leaving := map[string]*net.TCPAddr{}
	for name, cur := range b.listeners {
		l, kept := next[name]
		if kept && (states[name] == nil || !moved(cur, l)) {
			continue
		}
		if addr, ok := bindAddrOf(cur).(*net.TCPAddr); ok {
			leaving[name] = addr
		}
	}
	return leaving
}

// sameBind reports whether binding l would ask for addr: the same port and
// the same IP, any unspecified IP (the wildcard of either family) matching
// another.
func sameBind(addr *net.TCPAddr, l *spec.Listener) bool {
	if l.Port == 0 || l.Port != addr.Port {
		return false
	}
	want := net.ParseIP(l.Address)
	if want == nil || want.IsUnspecified() {
		return addr.IP == nil || addr.IP.IsUnspecified()
	}
	return want.Equal(addr.IP)
}

// moved reports whether l must be bound anew: its address or port differ
// from what cur is bound to. Port 0 keeps the port cur already has.
func moved(cur frontend, l *spec.Listener) bool {
	if cur.current().spec.Address != l.Address {
		return true
	}
	tcp, ok := bindAddrOf(cur).(*net.TCPAddr)
	return ok && l.Port != 0 && l.Port != tcp.Port
}

// swapListeners installs new states, starts new or moved listeners and stops
// removed ones. A failed listener keeps its previous state, on groups.
func (b *Balancer) swapListeners(ls []*spec.Listener, states map[string]*listenerState, opened map[string]net.Listener,
	vacated map[string]bool, failed map[string]error, groups map[string]*group) {
	keep := map[string]bool{}
	for _, l := range ls {
		st := states[l.Name]
		cur := b.listeners[l.Name]
		if st == nil {
			if cur == nil {
				// Never running (its address could not be bound): the
				// series its state made go with it, or they would outlive
				// its removal, nothing running to forget them.
				b.metrics.forgetListener(l.Name)
				b.tcpm.forget(l.Name)
				continue
			}
			if vacated[l.Name] {
				// Its socket went to another listener and its new
				// address could not be bound: it stops.
				continue
			}
			prev, err := rebase(cur.current(), groups)
			if err != nil {
				failed[l.Name] = fmt.Errorf("%w; the previous configuration cannot run either: %v", failed[l.Name], err)
				continue // not kept: stopped below
			}
			keep[l.Name] = true
			cur.apply(prev)
			continue
		}
		keep[l.Name] = true
		if ln, moved := opened[l.Name]; moved {
			if cur != nil {
				go cur.stop()
			}
			if l.Port == 0 {
				st.portText = []byte(strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
			}
			port := newPortListener(ln, l.Name, b.metrics)
			port.maxConns.Store(int64(l.Limits.MaxConnections))
			b.listeners[l.Name] = b.newFrontend(l, port, st)
			b.wg.Add(1)
			go func() { defer b.wg.Done(); port.acceptLoop() }()
			b.log.Info("listener started", "listener", l.Name, "addr", ln.Addr().String())
			continue
		}
		if l.Port == 0 {
			st.portText = cur.current().portText
		}
		cur.socket().maxConns.Store(int64(l.Limits.MaxConnections))
		if kindOf(l) != cur.kind() {
			// Same socket, other protocol family: the new frontend takes
			// new connections while the old one's finish.
			b.listeners[l.Name] = b.newFrontend(l, cur.socket(), st)
			cur.release()
			b.log.Info("listener protocol changed", "listener", l.Name, "protocol", l.EffectiveProtocol())
			continue
		}
		cur.apply(st)
	}
	for name, cur := range b.listeners {
		if !keep[name] {
			delete(b.listeners, name)
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				cur.stop()
				b.forgetListener(name)
			}()
			b.log.Info("listener removed", "listener", name)
		}
	}
}

// forgetListener drops a removed listener's metric series once it has
// stopped, unless a listener of the same name was configured meanwhile.
func (b *Balancer) forgetListener(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, back := b.listeners[name]; back || b.closed {
		return
	}
	b.metrics.forgetListener(name)
	b.tcpm.forget(name)
}

// Addr returns the bound address of a listener, for tests and status.
func (b *Balancer) Addr(listener string) (net.Addr, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.listeners[listener]
	if l == nil {
		return nil, false
	}
	return bindAddrOf(l), true
}

// startDrain moves a deregistered target to draining: it takes no new
// requests and is dropped once idle or after the group's deregistration delay.
func (b *Balancer) startDrain(t *target, groupName string, delay time.Duration, now int64) {
	if t.draining.Swap(true) {
		return
	}
	t.status.SetDraining()
	t.drainDeadline.Store(now + int64(delay))
	b.draining[t] = groupName
	b.log.Info("target draining", "target_group", groupName, "target", t.addr, "in_flight", t.inflight.Load(), "delay", delay)
}

// revive takes back a draining target registered again before its drain
// ended, as ALB cancels a deregistration: its requests in flight go on (the
// end of the delay no longer cuts them), it is listed once, and its health
// starts again from initial. nil when no target of k is draining. The caller
// holds b.mu and commits the update.
func (b *Balancer) revive(k targetKey) *target {
	for t, gname := range b.draining {
		if gname != k.group || t.addr != k.addr {
			continue
		}
		delete(b.draining, t)
		t.drainDeadline.Store(0)
		t.status.Reset()
		t.draining.Store(false)
		b.log.Info("target registered again while draining", "target_group", gname, "target", t.addr, "in_flight", t.inflight.Load())
		return t
	}
	return nil
}

// drainDelay is a group's deregistration delay: from the new configuration
// if the group stays, else from the one being replaced.
func (b *Balancer) drainDelay(name string, next map[string]*group) time.Duration {
	gs := (*spec.TargetGroup)(nil)
	if g := next[name]; g != nil {
		gs = g.spec
	} else {
		for _, g := range *b.groups.Load() {
			if g.name == name {
				gs = g.spec
			}
		}
	}
	if gs == nil {
		return 300 * time.Second
	}
	return gs.DeregistrationDelay()
}

func (b *Balancer) drainingCount(groupName string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, gname := range b.draining {
		if gname == groupName {
			n++
		}
	}
	return n
}

// reapDrained drops draining targets that are idle or out of time.
func (b *Balancer) reapDrained() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := nowNanos()
	for t, gname := range b.draining {
		if t.inflight.Load() <= 0 || now >= t.drainDeadline.Load() {
			delete(b.draining, t)
			t.close()
			b.log.Info("target drained", "target_group", gname, "target", t.addr, "in_flight", t.inflight.Load())
		}
	}
}

// Run serves until ctx ends, then shuts every listener down gracefully and
// waits for all its goroutines.
func (b *Balancer) Run(ctx context.Context) error {
	tick := time.NewTicker(b.drainInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			b.reapDrained()
			continue
		case <-ctx.Done():
		}
		break
	}
	b.mu.Lock()
	b.closed = true
	ls := b.listeners
	b.listeners = map[string]frontend{}
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() { defer wg.Done(); l.stop() }()
	}
	wg.Wait()
	// Hijacked connections (WebSockets, TCP flows) escape the servers'
	// shutdown and hold b.wg: end them before waiting.
	b.eachTarget(func(t *target) { t.hijacked.closeAll() })
	b.wg.Wait()
	// What the shutdown timeout left would end, unlogged, with the process.
	// Requests still waiting for their target's answer are cut first, with
	// the targets' connections: each is answered 502 on its still open
	// client connection and logged. Then, with every WebSocket and flow
	// over, whatever is still open (a download to a client that does not
	// read) is cut, so that those requests end and are logged before Run
	// returns.
	b.eachTarget(func(t *target) { t.conns.closeAll() })
	waitOpenConns(ls, settleGrace)
	cutOpenConns(ls)
	b.eachTarget((*target).close)
	return nil
}

// eachTarget calls f for every target, current and draining, under b.mu.
func (b *Balancer) eachTarget(f func(*target)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.targets {
		f(t)
	}
	for t := range b.draining {
		f(t)
	}
}

// TargetHealth reports a group's targets (draining ones included) as the API
// shows them; false if the group is unknown.
func (b *Balancer) TargetHealth(groupName string) ([]spec.TargetHealth, bool) {
	var g *group
	for _, c := range *b.groups.Load() {
		if c.name == groupName {
			g = c
			break
		}
	}
	if g == nil {
		return nil, false
	}
	now := nowNanos()
	out := make([]spec.TargetHealth, 0, len(g.targets))
	for i, t := range g.targets {
		th := spec.TargetHealth{Address: t.addr, Weight: g.weights[i], Source: t.source, Node: t.node, Task: t.task}
		t.status.Fill(&th, now)
		th.InFlight = t.inflight.Load()
		out = append(out, th)
	}
	b.mu.Lock()
	for t, gname := range b.draining {
		if gname == groupName {
			th := spec.TargetHealth{Address: t.addr, Source: t.source, Node: t.node, Task: t.task}
			t.status.Fill(&th, now)
			th.InFlight = t.inflight.Load()
			out = append(out, th)
		}
	}
	b.mu.Unlock()
	return out, true
}

// TargetReason returns the reason code of a group's target (ALB's, such as
// Target.Timeout; "" when healthy) without building the whole group's
// health; false when the group or target is not configured.
func (b *Balancer) TargetReason(groupName, addr string) (string, bool) {
	for _, g := range *b.groups.Load() {
		if g.name != groupName {
			continue
		}
		t := g.byID[targetID(groupName, addr)]
		if t == nil || t.addr != addr {
			return "", false
		}
		var th spec.TargetHealth
		t.status.Fill(&th, nowNanos())
		return th.Reason, true
	}
	return "", false
}

// HealthChanged is the health checker's OnChange hook: a target that becomes
// healthy starts its slow-start ramp.
func (b *Balancer) HealthChanged(groupName, addr string, from, to health.State) {
	if to != health.StateHealthy {
		return
	}
	for _, g := range *b.groups.Load() {
		if g.name != groupName || g.slowStart == 0 {
			continue
		}
		for _, t := range g.targets {
			if t.addr == addr {
				t.availableSince.Store(nowNanos())
			}
		}
	}
}

func healthGroups(gs []*group) []health.Group {
	out := make([]health.Group, 0, len(gs))
	for _, g := range gs {
		hg := health.Group{Name: g.name, Protocol: g.spec.Protocol, Check: g.spec.HealthCheck}
		for _, t := range g.targets {
			if t.shared {
				continue // its owner checks it
			}
			hg.Targets = append(hg.Targets, health.Target{Address: t.addr, Status: &t.status, Path: t.hcPath})
		}
		out = append(out, hg)
	}
	return out
}

func nowNanos() int64 { return time.Now().UnixNano() }

func cmpString(a, c string) int {
	switch {
	case a < c:
		return -1
	case a > c:
		return 1
	}
	return 0
}
