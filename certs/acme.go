package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantrylb/gantry/spec"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// acmeChallengePrefix is where http-01 tokens live (RFC 8555 section 8.3).
const acmeChallengePrefix = "/.well-known/acme-challenge/"

// acmeErrorLogInterval bounds how often one listener logs a failure to
// obtain a certificate: autocert retries on the next handshake after a
// minute, and every handshake meanwhile fails with the same error.
const acmeErrorLogInterval = time.Minute

// acmeAccount identifies an ACME account: one autocert.Manager each.
type acmeAccount struct{ directoryURL, email string }

// acmeManager is one account's autocert.Manager, shared by the listeners
// that use the account. Its host policy allows the union of their domains.
type acmeManager struct {
	mgr     *autocert.Manager
	http    http.Handler // answers http-01 challenges
	allowed atomic.Pointer[map[string]struct{}]
}

func (p *Provider) managerFor(acc acmeAccount) *acmeManager {
	if m := p.managers[acc]; m != nil {
		return m
	}
	m := &acmeManager{}
	empty := map[string]struct{}{}
	m.allowed.Store(&empty)
	m.mgr = &autocert.Manager{
		// Configuring acme on a listener is the operator's acceptance of the
		// CA's terms: there is nobody to prompt.
		Prompt:      autocert.AcceptTOS,
		Cache:       prefixCache{Cache: p.opts.Cache, prefix: cachePrefix(acc.directoryURL, acc.email)},
		HostPolicy:  m.hostPolicy,
		RenewBefore: p.opts.RenewBefore,
		Email:       acc.email,
		Client:      &acme.Client{DirectoryURL: acc.directoryURL, HTTPClient: p.opts.ACMEHTTPClient},
	}
	// HTTPHandler also turns on http-01, which autocert tries when
	// tls-alpn-01 fails (port 443 not reachable, a TLS-passthrough in front).
	m.http = m.mgr.HTTPHandler(http.NotFoundHandler())
	p.managers[acc] = m
	return m
}

func (m *acmeManager) hostPolicy(_ context.Context, host string) error {
	if _, ok := (*m.allowed.Load())[normalizeName(host)]; ok {
		return nil
	}
	return fmt.Errorf("certs: acme: host %q is not in the domains of any listener", host)
}

// refreshPolicies recomputes every manager's allowed domains from the live
// listener states. Called with p.mu held.
func (p *Provider) refreshPolicies() {
	union := map[*acmeManager]map[string]struct{}{}
	for _, e := range p.listeners {
		for _, st := range e.byKey {
			if a := st.acme; a != nil {
				if union[a.m] == nil {
					union[a.m] = map[string]struct{}{}
				}
				for d := range a.domains {
					union[a.m][d] = struct{}{}
				}
			}
		}
	}
	for _, m := range p.managers {
		allowed := union[m]
		if allowed == nil {
			allowed = map[string]struct{}{}
		}
		m.allowed.Store(&allowed)
	}
}

// acmeListener serves the certificates of a listener configured with acme.
type acmeListener struct {
	name          string
	reject        bool
	domains       map[string]struct{}
	defaultDomain string
	m             *acmeManager
	log           *slog.Logger
	metrics       *metrics

	lastErrorLog atomic.Int64 // Unix nanoseconds
	leaves       sync.Map     // domain → *x509.Certificate last seen, for the expiry gauge
}

func (p *Provider) newACMEListener(listener string, reject bool, a *spec.ACME) (*acmeListener, error) {
	if len(a.Domains) == 0 {
		return nil, fmt.Errorf("certs: listener %s: acme: no domains", listener)
	}
	dir := a.DirectoryURL
	if dir == "" {
		dir = autocert.DefaultACMEDirectory
	}
	l := &acmeListener{
		name: listener, reject: reject, domains: map[string]struct{}{},
		m: p.managerFor(acmeAccount{directoryURL: dir, email: a.Email}), log: p.log, metrics: p.metrics,
	}
	for i, d := range a.Domains {
		n := normalizeName(d)
		if !strings.Contains(n, ".") {
			// autocert refuses single-label names; say so now rather than
			// in every handshake.
			return nil, fmt.Errorf("certs: listener %s: acme.domains[%d]: %q is not a fully qualified domain name", listener, i, d)
		}
		if i == 0 {
			l.defaultDomain = n
		}
		l.domains[n] = struct{}{}
	}
	return l, nil
}

// getCertificate is the handshake path of an ACME listener: tls-alpn-01
// challenges, then the domain's certificate, obtained on first use.
func (a *acmeListener) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if isACMEValidation(hello) {
		// The CA validating tls-alpn-01: autocert answers with the token
		// certificate of the name asked for. Never substitute the default
		// domain here, and never count a missing token as an ACME error.
		return a.m.mgr.GetCertificate(hello)
	}
	name := normalizeName(hello.ServerName)
	if _, ok := a.domains[name]; !ok {
		if name != "" && a.reject {
			return nil, nil // crypto/tls sends unrecognized_name
		}
		h := *hello
		h.ServerName = a.defaultDomain
		hello, name = &h, a.defaultDomain
	}
	cert, err := a.m.mgr.GetCertificate(hello)
	if err != nil {
		a.failed(name, err)
		return nil, fmt.Errorf("certs: listener %s: acme: %s: %w", a.name, name, err)
	}
	a.observe(name, cert.Leaf)
	return cert, nil
}

// serves reports whether a handshake for the normalized name would be
// served a certificate (bindSessions).
func (a *acmeListener) serves(name string) bool {
	if name == "" || !a.reject {
		return true
	}
	_, ok := a.domains[name]
	return ok
}

func (a *acmeListener) failed(domain string, err error) {
	a.metrics.acmeErrors.WithLabelValues(a.name).Inc()
	now := time.Now().UnixNano()
	last := a.lastErrorLog.Load()
	if now-last < int64(acmeErrorLogInterval) || !a.lastErrorLog.CompareAndSwap(last, now) {
		return
	}
	a.log.Warn("acme: no certificate", "listener", a.name, "domain", domain, "error", err)
}

// observe updates the expiry gauge when the certificate of a domain
// changed (first use, renewal): a pointer comparison per handshake.
func (a *acmeListener) observe(domain string, leaf *x509.Certificate) {
	if leaf == nil {
		return
	}
	if prev, ok := a.leaves.Load(domain); ok && prev.(*x509.Certificate) == leaf {
		return
	}
	a.leaves.Store(domain, leaf)
	a.metrics.expiry.WithLabelValues(a.name, domain).Set(unixSeconds(leaf.NotAfter))
}

// HTTPChallenge answers an ACME http-01 challenge: for a request to host
// (a port is ignored) and path under /.well-known/acme-challenge/, it returns
// the key authorization of a pending challenge and true; for anything else
// nil and false, and the caller serves the request as usual. The balancer
// calls it for such paths on every HTTP listener. Safe for concurrent use;
// it allocates, which is fine for a path taken once per authorization.
func (p *Provider) HTTPChallenge(host, path string) ([]byte, bool) {
	if !strings.HasPrefix(path, acmeChallengePrefix) {
		return nil, false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = normalizeName(host)
	p.mu.Lock()
	var candidates []*acmeManager
	for _, m := range p.managers {
		if _, ok := (*m.allowed.Load())[host]; ok {
			candidates = append(candidates, m)
		}
	}
	p.mu.Unlock()
	for _, m := range candidates {
		// A literal request: httptest.NewRequest would panic on a path it
		// cannot parse, and this path comes from the network.
		req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}, Host: host, Header: http.Header{}}
		rec := httptest.NewRecorder()
		m.http.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			return rec.Body.Bytes(), true
		}
	}
	return nil, false
}
