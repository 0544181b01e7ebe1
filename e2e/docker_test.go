//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Docker tests run Gantry nodes as containers of a FROM scratch image built
// here (no registry is reachable) on private networks the tests create.
// With CI=true a missing engine fails them; elsewhere they skip.

var (
	imageOnce sync.Once
	imageTag  string
	imageErr  error
)

// needDocker skips t, or fails it under CI, when no Docker engine answers.
func needDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("no Docker engine answers (docker version: %v: %s)", err, bytes.TrimSpace(out))
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true requires Docker: %s", msg)
	}
	t.Skipf("skipping Docker test: %s", msg)
}

// dockerCmd runs docker with args and returns its trimmed standard output.
func dockerCmd(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// docker runs docker with args, failing t on error.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := dockerCmd(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gantryImage builds (once per test binary) a FROM scratch image around a
// static gantry binary and returns its tag. TestMain's cleanup removes it.
func gantryImage(t *testing.T) string {
	t.Helper()
	needDocker(t)
	imageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gantry-image-")
		if err != nil {
			imageErr = err
			return
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, "gantry"), "./cmd/gantry")
		build.Dir = ".."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("static build: %w\n%s", err, out)
			return
		}
		df, err := os.ReadFile("../scripts/Dockerfile.scratch")
		if err != nil {
			imageErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
			imageErr = err
			return
		}
		if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o777); err != nil {
			imageErr = err
			return
		}
		if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
			imageErr = err
			return
		}
		tag := "gantry-e2e:" + randomName()
		if _, err := dockerCmd("build", "-q", "-t", tag, dir); err != nil {
			imageErr = err
			return
		}
		imageTag = tag
	})
	if imageErr != nil {
		t.Fatalf("build the gantry image: %v", imageErr)
	}
	return imageTag
}

// removeImage deletes the image gantryImage built, if any.
func removeImage() {
	if imageTag != "" {
		_, _ = dockerCmd("image", "rm", "-f", imageTag)
	}
}

func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dockerNet creates a private bridge network removed when t ends.
func dockerNet(t *testing.T) string {
	t.Helper()
	name := "gantry-e2e-" + randomName()
	docker(t, "network", "create", "--driver", "bridge", name)
	t.Cleanup(func() { _, _ = dockerCmd("network", "rm", name) })
	return name
}

// container is one running container of a test.
type container struct {
	name string
	ip   string
}

// runContainer creates a container of image on network with args, copies
// files (container path → content) into it, starts it and returns it with
// its address on the network. It is removed (with its logs shown on
// failure) when t ends.
func runContainer(t *testing.T, image, network, name string, files map[string]string, args ...string) container {
	t.Helper()
	create := append([]string{"create", "--name", name, "--network", network, "--network-alias", name}, image)
	docker(t, append(create, args...)...)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := exec.Command("docker", "logs", "--tail", "60", name).CombinedOutput()
			t.Logf("logs of container %s:\n%s", name, logs)
		}
		_, _ = dockerCmd("rm", "-f", "-v", name)
	})
	for path, content := range files {
		local := filepath.Join(t.TempDir(), filepath.Base(path))
		if err := os.WriteFile(local, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		docker(t, "cp", local, name+":"+path)
	}
	docker(t, "start", name)
	ip := docker(t, "inspect", "-f", "{{(index .NetworkSettings.Networks \""+network+"\").IPAddress}}", name)
	if ip == "" {
		t.Fatalf("container %s has no address on %s", name, network)
	}
	return container{name: name, ip: ip}
}

// TestDockerImageServes builds the scratch image and runs an echo server and
// a --dev Gantry node as two containers on a private network; the host
// reaches the echo server through Gantry.
func TestDockerImageServes(t *testing.T) {
	image := gantryImage(t)
	network := dockerNet(t)
	suffix := randomName()
	echo := runContainer(t, image, network, "echo-"+suffix, nil, "echo-server", "--addr", "0.0.0.0:9001", "--name", "echo-in-docker")
	config := fmt.Sprintf(`kind: TargetGroup
name: web
targets: ["%s:9001"]
healthCheck: {path: /health, intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2}
---
kind: Listener
name: public
port: 8080
defaultAction: {forward: {targetGroup: web}}
`, echo.ip)
	lb := runContainer(t, image, network, "lb-"+suffix, map[string]string{"/gantry.yaml": config},
		"server", "--dev", "--api-addr", "0.0.0.0:7070", "-f", "/gantry.yaml")

	url := "http://" + lb.ip + ":8080/"
	eventually(t, 60*time.Second, "the echo server answers through Gantry in Docker", func() bool {
		r, err := do("GET", url, "", nil)
		return err == nil && r.status == 200 && r.server() == "echo-in-docker"
	})
}
