// Package pebbletest runs pebble, Let's Encrypt's test ACME server, inside a
// test process: a real CA whose validation authority reaches the challenges
// of any name on 127.0.0.1 at ports the test chooses, through a DNS stub
// that answers 127.0.0.1 for every name. It is test support only: nothing
// but _test files may import it.
package pebbletest

import (
	"bytes"
	"crypto/x509"
	"errors"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	pebbleca "github.com/letsencrypt/pebble/v2/ca"
	pebbledb "github.com/letsencrypt/pebble/v2/db"
	pebbleva "github.com/letsencrypt/pebble/v2/va"
	pebblewfe "github.com/letsencrypt/pebble/v2/wfe"
	"go.uber.org/goleak"
)

// Options say where pebble's validation authority connects to check
// challenges. Both ports are on 127.0.0.1 (the DNS stub resolves every name
// there) and both are required: point the one that must not succeed at
// RefusingPort.
type Options struct {
	// HTTPPort receives the http-01 validation requests.
	HTTPPort int
	// TLSPort receives the tls-alpn-01 validation handshakes.
	TLSPort int
}

// Server is an in-process pebble. Its ACME endpoint listens from New on,
// so that its directory URL and clients can be configured before the
// servers whose ports it validates are bound; it answers 503 until Serve.
type Server struct {
	// DirectoryURL is the ACME directory to give an ACME client.
	DirectoryURL string
	// Client trusts the TLS certificate of pebble's ACME endpoint (not the
	// certificates pebble issues): use it as the ACME client's HTTP client.
	Client *http.Client
	// Roots holds the root of the certificates pebble issues: a client of
	// the server under test verifies against it.
	Roots *x509.CertPool

	t       testing.TB
	log     *logBuffer
	logger  *log.Logger
	store   *pebbledb.MemoryStore
	ca      *pebbleca.CAImpl
	handler atomic.Pointer[http.Handler]
	va      atomic.Pointer[pebbleva.VAImpl]
}

// Start runs pebble until the end of the test, validating challenges at
// o's ports: New then Serve.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := New(t)
	s.Serve(o)
	return s
}

// New starts pebble's ACME endpoint and CA; ACME requests get 503 until
// Serve. Everything it starts is stopped by t.Cleanup, pebble's own
// validation worker included; the goroutines that may remain for a moment
// after a test (see GoleakOptions) are the ACME client's. Pebble reads some
// settings from the environment when it is built, so New uses t.Setenv and
// cannot run in a parallel test.
func New(t testing.TB) *Server {
	t.Helper()
	// Read by pebble's constructors (in Serve): no random validation
	// delays, no rejected nonces (autocert does not retry badNonce), fresh
	// authorizations.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	s := &Server{t: t, log: &logBuffer{}, store: pebbledb.NewMemoryStore()}
	s.logger = log.New(s.log, "pebble ", log.Lmicroseconds)
	s.ca = pebbleca.New(s.logger, s.store, "", "ecdsa", 0, 1, map[string]pebbleca.Profile{"default": {Description: "default"}})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := s.handler.Load()
		if h == nil {
			http.Error(w, "pebbletest: Serve not called yet", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	srv.StartTLS()
	t.Cleanup(func() {
		// Close waits for the handlers, the only senders of validation
		// tasks: after it the worker's queue can be closed.
		srv.Close()
		if va := s.va.Load(); va != nil {
			if err := stopValidationWorker(va); err != nil {
				t.Errorf("pebbletest: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("pebble log:\n%s", s.log.String())
		}
	})
	s.DirectoryURL = srv.URL + pebblewfe.DirectoryPath
	s.Client = srv.Client()
	s.Roots = x509.NewCertPool()
	s.Roots.AddCert(s.ca.GetRootCert(0).Cert)
	return s
}

// Serve makes pebble answer ACME requests, validating challenges of any
// name on 127.0.0.1 at o's ports. Call it once, from the test's goroutine.
func (s *Server) Serve(o Options) {
	s.t.Helper()
	if o.HTTPPort <= 0 || o.TLSPort <= 0 {
		s.t.Fatalf("pebbletest: Serve needs both validation ports, got http %d and tls %d", o.HTTPPort, o.TLSPort)
	}
	if s.va.Load() != nil {
		s.t.Fatal("pebbletest: Serve called twice")
	}
	dns := startLoopbackDNS(s.t)
	va := pebbleva.New(s.logger, o.HTTPPort, o.TLSPort, false, dns, s.store)
	s.va.Store(va)
	wfe := pebblewfe.New(s.logger, s.store, va, s.ca, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	h := wfe.Handler()
	s.handler.Store(&h)
}

// Log returns what pebble logged so far (it is also logged when the test
// fails).
func (s *Server) Log() string { return s.log.String() }

// stopValidationWorker ends the goroutine pebble's VA starts to read its
// task queue, which pebble never stops: closing the (unexported) queue ends
// its range loop. Pebble offers no other way, and a goroutine left running
// would fail every goleak check of the packages using this one. An error
// means pebble's internals changed: adapt this function.
func stopValidationWorker(va *pebbleva.VAImpl) error {
	f := reflect.ValueOf(va).Elem().FieldByName("tasks")
	if !f.IsValid() || f.Kind() != reflect.Chan || f.Type().ChanDir() != reflect.BothDir {
		return errTasksField
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Close()
	return nil
}

var errTasksField = errors.New("cannot stop pebble's validation worker: va.VAImpl has no field tasks of channel type")

// GoleakOptions are the goleak options a TestMain needs when its tests use
// pebble with an autocert.Manager: after an issuance autocert releases the
// order's authorizations in a goroutine of its own, which may outlive the
// last test by a moment.
func GoleakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("golang.org/x/crypto/acme/autocert.(*Manager).deactivatePendingAuthz"),
	}
}

// logBuffer collects pebble's log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
