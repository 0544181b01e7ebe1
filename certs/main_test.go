package certs

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/gantrylb/gantry/internal/pebbletest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, pebbletest.GoleakOptions()...)
}
