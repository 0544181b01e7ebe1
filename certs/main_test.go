package certs

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Pebble's VA reads its task queue forever; nothing stops it.
		goleak.IgnoreTopFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"),
		// autocert releases unused authorizations in a goroutine of its own
		// after an issuance; against a stopped pebble it ends within
		// moments, but may outlive the last test by that much.
		goleak.IgnoreAnyFunction("golang.org/x/crypto/acme/autocert.(*Manager).deactivatePendingAuthz"))
}
