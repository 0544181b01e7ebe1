//go:build linux

package process

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantrylb/gantry/driver"
)

func TestHealthRecord(t *testing.T) {
	type step struct {
		ok, inStart bool
		want        driver.Health
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"pass makes healthy", []step{{true, false, driver.HealthHealthy}}},
		{"failures below retries stay unknown", []step{{false, false, driver.HealthUnknown}, {false, false, driver.HealthUnknown}}},
		{"retries failures make unhealthy", []step{{false, false, driver.HealthUnknown}, {false, false, driver.HealthUnknown}, {false, false, driver.HealthUnhealthy}}},
		{"start period failures do not count", []step{{false, true, driver.HealthUnknown}, {false, true, driver.HealthUnknown}, {false, true, driver.HealthUnknown}, {false, true, driver.HealthUnknown}}},
		{"after a pass start period failures count", []step{{true, true, driver.HealthHealthy}, {false, true, driver.HealthHealthy}, {false, true, driver.HealthHealthy}, {false, true, driver.HealthUnhealthy}}},
		{"a pass resets the streak", []step{{false, false, driver.HealthUnknown}, {false, false, driver.HealthUnknown}, {true, false, driver.HealthHealthy}, {false, false, driver.HealthHealthy}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h healthState
			for i, s := range tc.steps {
				h.record(s.ok, s.inStart, 3)
				if got := h.value(); got != s.want {
					t.Fatalf("after step %d (ok=%v, inStart=%v): %s, want %s", i, s.ok, s.inStart, got, s.want)
				}
			}
		})
	}
}

func TestHealthCheckFollowsTheTask(t *testing.T) {
	d := newDriver(t, Config{})
	start(t, d, driver.Task{
		ID:      "checked",
		Command: []string{"sleep", "300"},
		Env:     map[string]string{"MARK": "healthy"},
		HealthCheck: &driver.HealthCheck{
			Command:  []string{"CMD-SHELL", `test -f "$MARK"`},
			Interval: 20 * time.Millisecond,
			Timeout:  5 * time.Second,
			Retries:  2,
		},
		StopTimeout: time.Second,
	})
	health := func(want driver.Health) func() bool {
		return func() bool {
			st, err := d.Status(testCtx(t), "checked")
			return err == nil && st.Health == want
		}
	}
	eventually(t, "unhealthy while the mark is missing", health(driver.HealthUnhealthy))
	mark := filepath.Join(d.cfg.DataDir, "tasks", dirName("checked"), "healthy")
	if err := os.WriteFile(mark, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	eventually(t, "healthy once the mark exists", health(driver.HealthHealthy))
	if err := os.Remove(mark); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unhealthy again", health(driver.HealthUnhealthy))
}

func TestHealthCheckStartPeriodAndTimeout(t *testing.T) {
	d := newDriver(t, Config{})
	start(t, d, driver.Task{
		ID:      "slow",
		Command: []string{"sleep", "300"},
		HealthCheck: &driver.HealthCheck{
			// Counts its runs, then hangs past the timeout: a failure.
			Command:     []string{"CMD", "/bin/sh", "-c", "echo run >> runs; sleep 300"},
			Interval:    10 * time.Millisecond,
			Timeout:     500 * time.Millisecond,
			StartPeriod: time.Hour,
			Retries:     1,
		},
		StopTimeout: time.Second,
	})
	runs := filepath.Join(d.cfg.DataDir, "tasks", dirName("slow"), "runs")
	eventually(t, "three timed-out checks", func() bool {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "run") >= 3
	})
	if st, _ := d.Status(testCtx(t), "slow"); st.Health != driver.HealthUnknown {
		t.Errorf("health during the start period = %s, want unknown", st.Health)
	}
}
