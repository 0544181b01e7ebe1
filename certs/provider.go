package certs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantrylb/gantry/spec"
	"golang.org/x/crypto/acme"
)

// ALPN protocol names offered by listeners.
const (
	alpnHTTP11 = "http/1.1"
	alpnACME   = acme.ALPNProto // "acme-tls/1", RFC 8737
)

// modernCipherSuites are the TLS 1.2 suites offered: forward secret (ECDHE)
// and AEAD (AES-GCM, ChaCha20-Poly1305) only, per Mozilla's "intermediate"
// profile. TLS 1.3 suites are fixed by crypto/tls.
var modernCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Provider builds and keeps the server TLS configuration of every HTTPS and
// TLS listener. ServerConfig, Retain and HTTPChallenge are safe for
// concurrent use; Run reloads certificate files and must be running for
// file changes to take effect.
type Provider struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	running atomic.Bool

	mu        sync.Mutex
	listeners map[string]*listenerEntry
	managers  map[acmeAccount]*acmeManager
}

// listenerEntry holds the states built for one listener name. Usually one;
// more when ServerConfig was called for a changed listener whose update the
// consumer then rejected, until Retain settles which one is live.
type listenerEntry struct {
	current *listenerState // the one ServerConfig returned last
	byKey   map[string]*listenerState
}

// listenerState is one listener configuration and its tls.Config. Exactly
// one of files and acme is set.
type listenerState struct {
	key    string
	config *tls.Config
	files  *fileState
	acme   *acmeListener
}

// NewProvider returns a Provider with no listeners.
func NewProvider(opts Options) *Provider {
	opts = opts.withDefaults()
	return &Provider{
		opts:      opts,
		log:       opts.Logger.With("component", "certs"),
		metrics:   newMetrics(opts.Registry),
		listeners: map[string]*listenerEntry{},
		managers:  map[acmeAccount]*acmeManager{},
	}
}

// ServerConfig returns the server TLS configuration of an HTTPS or TLS
// listener. For a listener whose certificate configuration (certificates,
// acme, unknownSni) is unchanged since a previous call it returns the same
// *tls.Config without I/O; certificate files replaced on disk reach new
// handshakes through that config's GetCertificate, without a new config.
// A changed listener gets a new config, built with its files loaded and
// checked: an error (missing file, not PEM, key not matching) names the
// listener, the certificate and the file, and leaves the previous config in
// service. The returned config must not be modified.
func (p *Provider) ServerConfig(l *spec.Listener) (*tls.Config, error) {
	if l == nil {
		return nil, errors.New("certs: server config: nil listener")
	}
	key := listenerKey(l)
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.listeners[l.Name]
	if e != nil {
		if st := e.byKey[key]; st != nil {
			e.current = st
			return st.config, nil
		}
	}
	st, err := p.build(l, key)
	if err != nil {
		return nil, err
	}
	if e == nil {
		e = &listenerEntry{byKey: map[string]*listenerState{}}
		p.listeners[l.Name] = e
	}
	e.byKey[key] = st
	e.current = st
	if st.acme != nil {
		p.refreshPolicies()
	}
	return st.config, nil
}

// Retain forgets every listener whose name is not in names and, for the
// others, every configuration but the one ServerConfig returned last. Call
// it after each configuration update is committed, with the names of the
// HTTPS and TLS listeners the update kept: forgotten listeners stop being
// polled, lose their metric series and their ACME domains leave the host
// policy (autocert offers no way to stop the renewal timers of certificates
// it already holds; they stop with the process).
func (p *Provider) Retain(names []string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, e := range p.listeners {
		if !keep[name] {
			delete(p.listeners, name)
			p.metrics.forget(name)
			continue
		}
		for k, st := range e.byKey {
			if st != e.current {
				delete(e.byKey, k)
			}
		}
		if f := e.current.files; f != nil {
			p.metrics.setExpiry(name, f.set.Load())
		}
	}
	p.refreshPolicies()
}

// Run reloads certificate files that changed on disk, every ReloadInterval,
// until ctx is done; it then returns nil. A Provider runs at most once.
func (p *Provider) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("certs: run: already running")
	}
	t := time.NewTicker(p.opts.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.reloadAll(time.Now())
		}
	}
}

// build makes the state of a listener not seen with this key before.
func (p *Provider) build(l *spec.Listener, key string) (*listenerState, error) {
	reject := l.UnknownSNI == spec.UnknownSNIReject
	switch {
	case len(l.Certificates) > 0 && l.ACME != nil:
		return nil, fmt.Errorf("certs: listener %s: set certificates or acme, not both", l.Name)
	case len(l.Certificates) > 0:
		f, err := p.newFileState(l.Name, reject, l.Certificates, time.Now())
		if err != nil {
			return nil, err
		}
		return &listenerState{key: key, files: f, config: newTLSConfig(l.Protocol, f.getCertificate, f.serves, false)}, nil
	case l.ACME != nil:
		a, err := p.newACMEListener(l.Name, reject, l.ACME)
		if err != nil {
			return nil, err
		}
		return &listenerState{key: key, acme: a, config: newTLSConfig(l.Protocol, a.getCertificate, a.serves, true)}, nil
	default:
		return nil, fmt.Errorf("certs: listener %s: no certificates and no acme", l.Name)
	}
}

// newTLSConfig builds a listener's configuration. Certificates stays empty
// so that crypto/tls calls get for every handshake, with or without SNI, and
// so that get returning (nil, nil) makes crypto/tls answer with the
// unrecognized_name alert. served is the unknownSni policy for session
// resumption (bindSessions).
//
// ALPN depends on the protocol. An HTTPS listener offers "http/1.1" only
// (plus "acme-tls/1" with ACME): the data plane has no HTTP/2. A TLS
// listener carries opaque bytes to any TCP service, so it offers nothing
// and the handshake succeeds whatever the client offers, with no protocol
// selected, as NLB's TLS listeners by default; with ACME, a client offering
// exactly "acme-tls/1" (a CA validating tls-alpn-01, as getCertificate
// tells it) is given a configuration that selects it.
func newTLSConfig(protocol string, get func(*tls.ClientHelloInfo) (*tls.Certificate, error), served func(string) bool, withACME bool) *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   modernCipherSuites,
		GetCertificate: get,
	}
	switch {
	case protocol != spec.ProtocolTLS:
		cfg.NextProtos = []string{alpnHTTP11}
		if withACME {
			cfg.NextProtos = append(cfg.NextProtos, alpnACME)
		}
	case withACME:
		validation := &tls.Config{
			MinVersion:             tls.VersionTLS12,
			CipherSuites:           modernCipherSuites,
			NextProtos:             []string{alpnACME},
			GetCertificate:         get,
			SessionTicketsDisabled: true, // nothing follows the handshake
		}
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if isACMEValidation(hello) {
				return validation, nil
			}
			return nil, nil
		}
	}
	bindSessions(cfg, served)
	return cfg
}

// isACMEValidation reports whether hello is a CA validating a tls-alpn-01
// challenge (RFC 8737 section 3: it offers exactly "acme-tls/1").
func isACMEValidation(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == alpnACME
}

// listenerKey identifies what of a listener this package depends on; other
// fields (rules, port, timeouts) may change without a new tls.Config.
func listenerKey(l *spec.Listener) string {
	var b strings.Builder
	field := func(s string) {
		b.WriteString(s)
		b.WriteByte(0)
	}
	field(l.Protocol) // ALPN differs between HTTPS and TLS
	field(fmt.Sprint(l.UnknownSNI == spec.UnknownSNIReject))
	for _, c := range l.Certificates {
		field("cert")
		field(c.CertFile)
		field(c.KeyFile)
	}
	if a := l.ACME; a != nil {
		field("acme")
		field(a.DirectoryURL)
		field(a.Email)
		for _, d := range a.Domains {
			field(d)
		}
	}
	return b.String()
}

// fileState serves the certificates of a listener configured with files.
type fileState struct {
	listener string
	reject   bool
	srcs     []source
	set      atomic.Pointer[certSet]

	// Reload bookkeeping, written at construction and then only by Run's
	// goroutine.
	stamps      []fileStamp
	servingHash [sha256.Size]byte // content of the files behind set
	failedHash  [sha256.Size]byte // content last rejected, so it is reported once
}

func (p *Provider) newFileState(listener string, reject bool, certs []spec.Certificate, now time.Time) (*fileState, error) {
	f := &fileState{listener: listener, reject: reject, srcs: newSources(p.opts.BaseDir, certs)}
	// Stat before reading: a change racing with the read is then seen by
	// the next poll.
	f.stamps = statSources(f.srcs)
	pairs, err := readPairs(listener, f.srcs)
	if err != nil {
		return nil, err
	}
	set, err := parsePairs(p.log, listener, f.srcs, pairs, now)
	if err != nil {
		return nil, err
	}
	f.servingHash = hashPairs(pairs)
	f.set.Store(set)
	p.metrics.setExpiry(listener, set)
	return f, nil
}

// getCertificate is the handshake path of a file listener.
func (f *fileState) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	set := f.set.Load()
	name := normalizeName(hello.ServerName)
	if c := set.lookup(name); c != nil {
		return c, nil
	}
	if name != "" && f.reject {
		return nil, nil // crypto/tls sends unrecognized_name
	}
	return set.certs[0], nil
}

// serves reports whether a handshake for the normalized name would be
// served a certificate (bindSessions).
func (f *fileState) serves(name string) bool {
	return name == "" || !f.reject || f.set.Load().lookup(name) != nil
}
