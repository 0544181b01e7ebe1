//go:build linux

package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantrylb/gantry/driver"
)

// These tests run against the host's Docker engine. No registry is
// reachable, so they build a FROM scratch image around a static gantry
// binary and run `gantry echo-server` as the task.

var (
	imageOnce sync.Once
	imageTag  string
	imageErr  error
)

// mobyEngine connects to the host's engine, skipping t when none answers
// (failing it when CI=true). The client is closed when t ends.
func mobyEngine(t *testing.T) *Moby {
	t.Helper()
	m, err := NewMoby("")
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = m.Ping(ctx)
		cancel()
		if err != nil {
			_ = m.Close()
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Docker engine answers (CI=true, so this fails): %v", err)
		}
		t.Skipf("skipping: no Docker engine answers: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testImage builds the gantry image once per test binary; TestMain removes it.
func testImage(t *testing.T) string {
	t.Helper()
	imageOnce.Do(func() { imageTag, imageErr = buildTestImage() })
	if imageErr != nil {
		t.Fatalf("build the test image: %v", imageErr)
	}
	return imageTag
}

func buildTestImage() (string, error) {
	dir, err := os.MkdirTemp("", "gantry-drv-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, "gantry"), "./cmd/gantry")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("static build: %w\n%s", err, out)
	}
	df := "FROM scratch\nCOPY gantry /gantry\nENTRYPOINT [\"/gantry\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return "", err
	}
	tag := "gantry-drv-test:" + randomSuffix()
	cmd := exec.CommandContext(ctx, "docker", "build", "-q", "-t", tag, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker build: %w: %s", err, stderr.Bytes())
	}
	return tag, nil
}

func removeTestImage() {
	if imageTag == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = exec.CommandContext(ctx, "docker", "image", "rm", "-f", imageTag).Run()
}

// startTask starts task and removes its container when t ends, whatever
// happened.
func startTask(t *testing.T, d *Driver, task driver.Task) driver.Status {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Remove(ctx, task.ID); err != nil {
			t.Errorf("Remove(%s): %v", task.ID, err)
		}
		_ = d.eng.Remove(ctx, d.containerName(task.ID)) // in case the labels did not match
	})
	st, err := d.Start(testCtx(t), task)
	if err != nil {
		t.Fatalf("Start(%s): %v", task.ID, err)
	}
	return st
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

func TestDockerTaskLifecycle(t *testing.T) {
	eng := mobyEngine(t)
	image := testImage(t)
	d, err := New(Config{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	id := "it-" + randomSuffix()
	st := startTask(t, d, driver.Task{
		ID: id, Family: "web", Revision: 7, Container: "app",
		Image:        image,
		Command:      []string{"echo-server", "--name", id},
		CPU:          256,
		MemoryMiB:    64,
		PortMappings: []driver.PortMapping{{ContainerPort: 8080}},
		HealthCheck: &driver.HealthCheck{Command: []string{"CMD", "/gantry", "version"},
			Interval: 200 * time.Millisecond, Timeout: 5 * time.Second, Retries: 3},
		StopTimeout: 10 * time.Second,
	})
	hp := st.HostPorts[8080]
	if st.State != driver.StateRunning || hp == 0 {
		t.Fatalf("Start = %+v, want running with a host port for 8080", st)
	}

	client := &http.Client{Timeout: 2 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	eventually(t, "the task to answer on its host port", 30*time.Second, func() bool {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", hp))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(b), id)
	})
	eventually(t, "Docker's health check to pass", 30*time.Second, func() bool {
		st, err := d.Status(testCtx(t), id)
		return err == nil && st.Health == driver.HealthHealthy
	})

	t.Run("recover adopts the container", func(t *testing.T) {
		d2, err := New(Config{Engine: eng})
		if err != nil {
			t.Fatal(err)
		}
		got, err := d2.Recover(testCtx(t))
		if err != nil {
			t.Fatalf("Recover: %v", err)
		}
		var found *driver.Recovered
		for i := range got {
			if got[i].ID == id {
				found = &got[i]
			}
		}
		if found == nil || found.Family != "web" || found.Revision != 7 || found.Container != "app" ||
			found.Status.State != driver.StateRunning || found.Status.HostPorts[8080] != hp {
			t.Fatalf("Recover = %+v, want task %s running on host port %d", got, id, hp)
		}
	})

	if err := d.Stop(testCtx(t), id, 0); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	final, err := d.Wait(testCtx(t), id)
	if err != nil || final.State != driver.StateStopped || final.Reason != driver.ReasonStopped {
		t.Errorf("Wait after Stop = %+v, %v; want stopped with reason %q", final, err, driver.ReasonStopped)
	}
	if _, err := eng.Inspect(testCtx(t), d.containerName(id)); !errors.Is(err, ErrNoSuchContainer) {
		t.Errorf("Inspect after Stop = %v, want the container removed", err)
	}
}

func TestDockerExitHealthAndMissingImage(t *testing.T) {
	eng := mobyEngine(t)
	image := testImage(t)
	d, err := New(Config{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	suffix := randomSuffix()

	t.Run("a task that exits is reported with its code and output", func(t *testing.T) {
		id := "it-exit-" + suffix
		startTask(t, d, driver.Task{ID: id, Image: image, Command: []string{"version"}})
		st, err := d.Wait(testCtx(t), id)
		if err != nil || st.State != driver.StateStopped || st.ExitCode != 0 || st.Reason != driver.ReasonEssentialExited {
			t.Fatalf("Wait = %+v, %v; want stopped, exit 0, reason %q", st, err, driver.ReasonEssentialExited)
		}
		rc, err := d.Logs(testCtx(t), id, driver.Stdout)
		if err != nil {
			t.Fatalf("Logs: %v", err)
		}
		defer rc.Close()
		if b, _ := io.ReadAll(rc); !strings.HasPrefix(string(b), "gantry ") {
			t.Errorf("stdout = %q, want the version line", b)
		}
	})

	t.Run("a failing health check makes the task unhealthy", func(t *testing.T) {
		id := "it-sick-" + suffix
		startTask(t, d, driver.Task{
			ID: id, Image: image, Command: []string{"echo-server"},
			HealthCheck: &driver.HealthCheck{Command: []string{"CMD", "/gantry", "no-such-command"},
				Interval: 200 * time.Millisecond, Retries: 1},
			StopTimeout: 5 * time.Second,
		})
		eventually(t, "the task to be unhealthy", 30*time.Second, func() bool {
			st, err := d.Status(testCtx(t), id)
			return err == nil && st.Health == driver.HealthUnhealthy
		})
	})

	t.Run("a missing image fails with CannotPullContainerError", func(t *testing.T) {
		missing := "gantry-missing-" + suffix + ":none"
		_, err := d.Start(testCtx(t), driver.Task{ID: "it-missing-" + suffix, Image: missing})
		te, ok := errors.AsType[*driver.TaskError](err)
		if !ok || !strings.HasPrefix(te.Reason, "CannotPullContainerError: ") || !strings.Contains(te.Reason, missing) {
			t.Fatalf("Start = %v, want a CannotPullContainerError naming %s", err, missing)
		}
		if _, err := eng.Inspect(testCtx(t), d.containerName("it-missing-"+suffix)); !errors.Is(err, ErrNoSuchContainer) {
			t.Errorf("a container was created for a missing image: %v", err)
		}
	})
}
