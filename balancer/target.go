package balancer

import (
	"errors"
	"hash/fnv"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/gantrylb/gantry/health"
)

// target is one registered address of one group. It outlives route tables:
// reloads that keep (group, address) keep the same object, with its health,
// in-flight count and pooled connections.
type target struct {
	group string
	addr  string
	// id names the target in sticky cookies; stable for (group, addr) across
	// restarts of the same node so cookies survive reloads.
	id       uint64
	addrPort netip.AddrPort // for the access log; zero if addr is a name
	status   health.Status
	source   string
	// node and task say where a discovered target came from; shared is set
	// when its owner, another node, checks its health (see DiscoveredTarget).
	node, task string
	shared     bool
	hcPath     string // health check path override, "" for the group's

	inflight atomic.Int64
	// availableSince is when the target last became healthy (unix nanos), for
	// slow start; 0 means "not ramping".
	availableSince atomic.Int64
	// connectTimeout is read by the dialer; updated in place on reload.
	connectTimeout atomic.Int64
	draining       atomic.Bool
	// drainDeadline is when draining gives up waiting (unix nanos).
	drainDeadline atomic.Int64

	hc *fasthttp.HostClient
	up upstream
	// hijacked holds the target's WebSockets and TCP flows, closed when
	// the target is dropped.
	hijacked hijackSet
	// conns holds the target's pooled connections, idle or in use, closed
	// when the target is dropped (lazyConn.shutdown).
	conns hijackSet

	// metric children resolved once per target.
	respTime    prometheus.Observer
	codeClass   [6]prometheus.Counter // index status/100; 0 unused
	connErrors  prometheus.Counter
	requests    prometheus.Counter
	passiveFail prometheus.Counter
}

// targetID derives the cookie id of (group, addr): FNV-1a over
// group, a zero byte and addr. It is a pure function of its arguments, so
// the id is the same after a restart and on every node, and a cookie
// survives both wherever its key does. Cookies are authenticated
// separately, so the id needs only to be stable and well spread.
func targetID(group, addr string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(group))
	h.Write([]byte{0})
	h.Write([]byte(addr))
	return h.Sum64()
}

// upstreamTuning is the pool configuration shared by every target.
type upstreamTuning struct {
	maxConns        int
	idleConnTimeout time.Duration
	readBufferSize  int
	writeBufferSize int
}

func newTarget(group, addr string, tune upstreamTuning, m *metrics) *target {
	t := &target{group: group, addr: addr, id: targetID(group, addr)}
	t.addrPort, _ = netip.ParseAddrPort(addr)
	t.connectTimeout.Store(int64(10 * time.Second))
	t.hc = &fasthttp.HostClient{
		Addr:                      addr,
		NoDefaultUserAgentHeader:  true,
		MaxConns:                  tune.maxConns,
		MaxIdleConnDuration:       tune.idleConnTimeout,
		MaxConnWaitTimeout:        time.Second,
		MaxIdemponentCallAttempts: 1,
		ReadBufferSize:            tune.readBufferSize,
		WriteBufferSize:           tune.writeBufferSize,
		ConnPoolStrategy:          fasthttp.LIFO,
		Dial: func(addr string) (net.Conn, error) {
			c, err := fasthttp.DialTimeout(addr, time.Duration(t.connectTimeout.Load()))
			if err != nil {
				return nil, err
			}
			// Only roundTrip and streamBody set this connection's
			// deadlines, so the far ones can be coarse (deadline.go).
			lc := newLazyConn(c)
			lc.waitForReplies()
			lc.owner = &t.conns // before add: Close may run at once after it
			if !t.conns.add(lc) {
				_ = lc.Close()
				return nil, errTargetClosed
			}
			return lc, nil
		},
	}
	t.up = newUpstream(t.hc)
	t.respTime = m.targetResponseTime.WithLabelValues(group)
	for c := 1; c <= 5; c++ {
		t.codeClass[c] = m.httpCodeTarget.WithLabelValues(group, classLabel[c])
	}
	t.connErrors = m.targetConnErrors.WithLabelValues(group)
	t.requests = m.targetRequests.WithLabelValues(group)
	t.passiveFail = m.passiveFailures.WithLabelValues(group)
	return t
}

var classLabel = [6]string{"", "1xx", "2xx", "3xx", "4xx", "5xx"}

// usable reports whether the target may take new requests when the group is
// not failing open.
func (t *target) usable(now int64) bool {
	return !t.draining.Load() && t.status.Available(now)
}

// close ends the target's connections: idle ones, hijacked ones, and those
// still waiting for an answer, whose requests get 502 (ALB closes what
// remains of a deregistered target's connections when its deregistration
// delay ends). No connection is made to it afterwards.
func (t *target) close() {
	t.hc.CloseIdleConnections()
	t.hijacked.closeAll()
	t.conns.closeAll()
}

// errTargetClosed refuses a connection to a target that was dropped.
var errTargetClosed = errors.New("target removed")
