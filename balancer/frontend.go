package balancer

import (
	"net"

	"github.com/gantrylb/gantry/spec"
)

// frontend serves the connections of one listener's socket: fasthttp for
// HTTP and HTTPS listeners (httpListener), byte pipes for TCP and TLS
// listeners (tcpListener). The socket (portListener) is shared with the next
// frontend when a reload changes the listener's kind, so the port is never
// closed while the listener exists.
type frontend interface {
	// kind is kindHTTP or kindTCP; a change of kind replaces the frontend.
	kind() listenerKind
	// socket is the bound socket the frontend takes connections from.
	socket() *portListener
	// current is the configuration in force.
	current() *listenerState
	// apply installs a new configuration of the same kind. Connections
	// already open keep the state they loaded.
	apply(st *listenerState)
	// release stops taking connections from the socket without closing it;
	// open connections end on their own (bounded by the shutdown timeout).
	release()
	// stop closes the socket and ends the frontend's connections
	// gracefully within the shutdown timeout.
	stop()
}

type listenerKind uint8

const (
	kindHTTP listenerKind = iota + 1
	kindTCP
)

func kindOf(l *spec.Listener) listenerKind {
	if l.IsTCP() {
		return kindTCP
	}
	return kindHTTP
}

var (
	_ frontend = (*httpListener)(nil)
	_ frontend = (*tcpListener)(nil)
)

// newFrontend makes the frontend of l around port, installs it as the
// port's connection handler and starts it.
func (b *Balancer) newFrontend(l *spec.Listener, port *portListener, st *listenerState) frontend {
	if kindOf(l) == kindTCP {
		tl := newTCPListener(b, l.Name, port)
		tl.state.Store(st)
		d := tl.dispatch
		port.dispatch.Store(&d)
		return tl
	}
	hl := &httpListener{b: b, name: l.Name, port: port, released: make(chan struct{})}
	hl.state.Store(st)
	d := hl.dispatch
	port.dispatch.Store(&d)
	hl.start(settingsOf(l))
	return hl
}

// bindAddrOf is the address a frontend's socket is bound to.
func bindAddrOf(f frontend) net.Addr { return f.socket().ln.Addr() }

func (l *httpListener) kind() listenerKind      { return kindHTTP }
func (l *httpListener) socket() *portListener   { return l.port }
func (l *httpListener) current() *listenerState { return l.state.Load() }

func (l *httpListener) apply(st *listenerState) {
	l.state.Store(st)
	if s := settingsOf(st.spec); l.settings != s {
		l.start(s)
	}
}

// release hands the socket to another frontend: the view closes, so the
// server accepts no more, and the server retires as on a settings change.
func (l *httpListener) release() {
	l.releaseOnce.Do(func() { close(l.released) })
	l.mu.Lock()
	srv, view, retired, idle := l.srv, l.view, l.retired, l.settings.idleTimeout
	l.srv, l.view = nil, nil
	l.mu.Unlock()
	if srv == nil {
		return
	}
	view.Close()
	retired.Store(true)
	l.b.wg.Add(1)
	go func() { defer l.b.wg.Done(); l.retire(srv, idle) }()
}
