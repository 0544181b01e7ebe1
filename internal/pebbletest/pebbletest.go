// Package pebbletest runs pebble, Let's Encrypt's test ACME server, inside a
// test process: a real CA whose validation authority reaches the challenges
// of any name on 127.0.0.1 at ports the test chooses, through a DNS stub
// that answers 127.0.0.1 for every name. It is test support only: nothing
// but _test files may import it.
//
// Pebble reads some settings from the environment when it is built, so
// Start uses t.Setenv and cannot run in a parallel test.
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

// Server is a running pebble.
type Server struct {
	// DirectoryURL is the ACME directory to give an ACME client.
	DirectoryURL string
	// Client trusts the TLS certificate of pebble's ACME endpoint (not the
	// certificates pebble issues): use it as the ACME client's HTTP client.
	Client *http.Client
	// Roots holds the root of the certificates pebble issues: a client of
	// the server under test verifies against it.
	Roots *x509.CertPool

	log *logBuffer
}

// Log returns what pebble logged so far (Start also logs it when the test
// fails).
func (s *Server) Log() string { return s.log.String() }

// Start runs pebble until the end of the test. Everything it starts is
// stopped by t.Cleanup, pebble's own validation worker included; the
// goroutines that remain for a moment after a test (see GoleakOptions) are
// those of the ACME client.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.HTTPPort <= 0 || o.TLSPort <= 0 {
		t.Fatalf("pebbletest: Start needs both validation ports, got http %d and tls %d", o.HTTPPort, o.TLSPort)
	}
	// Read by pebble's constructors: no random validation delays, no
	// rejected nonces (autocert does not retry badNonce), fresh
	// authorizations.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	dns := startLoopbackDNS(t)
	logs := &logBuffer{}
	logger := log.New(logs, "pebble ", log.Lmicroseconds)
	store := pebbledb.NewMemoryStore()
	ca := pebbleca.New(logger, store, "", "ecdsa", 0, 1, map[string]pebbleca.Profile{"default": {Description: "default"}})
	va := pebbleva.New(logger, o.HTTPPort, o.TLSPort, false, dns, store)
	wfe := pebblewfe.New(logger, store, va, ca, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewUnstartedServer(wfe.Handler())
	srv.StartTLS()
	t.Cleanup(func() {
		// Close waits for the handlers, the only senders of validation
		// tasks: after it the worker's queue can be closed.
		srv.Close()
		if err := stopValidationWorker(va); err != nil {
			t.Errorf("pebbletest: %v", err)
		}
		if t.Failed() {
			t.Logf("pebble log:\n%s", logs.String())
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca.GetRootCert(0).Cert)
	return &Server{DirectoryURL: srv.URL + pebblewfe.DirectoryPath, Client: srv.Client(), Roots: roots, log: logs}
}

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
