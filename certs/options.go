package certs

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Default values of Options.
const (
	DefaultReloadInterval = 5 * time.Second
	DefaultBaseDir        = "."
)

// Options configures a Provider. Zero fields take their defaults; the
// Options are copied by NewProvider and not read again.
type Options struct {
	// Logger receives reloads, load warnings (expired certificates) and ACME
	// errors. Default slog.Default().
	Logger *slog.Logger
	// Registry, when set, receives
	// gantry_tls_certificate_reloads_total{listener,result},
	// gantry_tls_certificate_expiry_timestamp_seconds{listener,name} and
	// gantry_tls_acme_errors_total{listener}. Collectors already registered
	// under these names (by another Provider) are reused.
	Registry prometheus.Registerer
	// Cache stores ACME account keys and certificates. Use DirCache under the
	// data directory so certificates survive restarts (issuers rate-limit new
	// certificates). Default MemoryCache(): certificates live as long as the
	// process.
	Cache Cache
	// ReloadInterval is how often Run checks certificate files for changes
	// (modification time and size, then a content hash). 10ms..1h, default 5s.
	ReloadInterval time.Duration
	// ACMEHTTPClient talks to the ACME directory. Default: the acme package's
	// default client. Tests use it to trust a test CA's TLS certificate.
	ACMEHTTPClient *http.Client
	// RenewBefore is how long before expiry ACME certificates are renewed.
	// Default (zero): 30 days, or a third of the certificate's lifetime when
	// that is shorter (autocert's rule, so short-lived certificates do not
	// renew in a loop). Must be shorter than the certificates' lifetime.
	RenewBefore time.Duration
	// BaseDir resolves relative certFile and keyFile paths. Default ".".
	BaseDir string
}

// withDefaults returns o with every zero field defaulted and out-of-range
// values clamped, the one place where defaults are applied.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Cache == nil {
		o.Cache = MemoryCache()
	}
	switch {
	case o.ReloadInterval == 0:
		o.ReloadInterval = DefaultReloadInterval
	case o.ReloadInterval < 10*time.Millisecond:
		o.ReloadInterval = 10 * time.Millisecond
	case o.ReloadInterval > time.Hour:
		o.ReloadInterval = time.Hour
	}
	if o.RenewBefore < 0 {
		o.RenewBefore = 0
	}
	if o.BaseDir == "" {
		o.BaseDir = DefaultBaseDir
	}
	return o
}
