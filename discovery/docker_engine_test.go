package discovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dockerEngine returns a client of the local engine, or skips the test when
// there is none (fails instead when CI=true).
func dockerEngine(t *testing.T) *DockerEngine {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("Docker engine required in CI: %s", msg)
		}
		t.Skipf("no Docker engine (%s); set CI=true to make this a failure", msg)
	}
	if testing.Short() {
		t.Skip("Docker engine test skipped in -short mode")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		unavailable("docker CLI not found")
	}
	e, err := NewDockerEngine()
	if err != nil {
		unavailable("%v", err)
	}
	t.Cleanup(func() { e.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Ping(ctx); err != nil {
		unavailable("%v", err)
	}
	return e
}

func run(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// echoImage builds a FROM scratch image around a static gantry binary
// running `gantry echo-server` on :8080 (no registry needed).
func echoImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	run(t, 5*time.Minute, "..", []string{"CGO_ENABLED=0"}, "go", "build", "-o", filepath.Join(dir, "gantry"), "./cmd/gantry")
	df := "FROM scratch\nCOPY gantry /gantry\nENTRYPOINT [\"/gantry\", \"echo-server\", \"--addr\", \":8080\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := "gantry-discovery-test:" + randHex(4)
	run(t, 2*time.Minute, dir, nil, "docker", "build", "-q", "-t", tag, ".")
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func startContainer(t *testing.T, image string, args ...string) string {
	t.Helper()
	name := "gantry-disc-" + randHex(4)
	all := append([]string{"run", "-d", "--name", name,
		"--label", LabelTargetGroup + "=web", "--label", LabelPort + "=8080"}, args...)
	run(t, time.Minute, "", nil, "docker", append(all, image)...)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	return name
}

func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestDockerEngineLabelledContainers(t *testing.T) {
	engine := dockerEngine(t)
	image := echoImage(t)
	reg := &fakeRegistrar{}
	s, err := NewDockerSource(DockerConfig{API: engine, Registrar: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})

	// On the bridge network: registered at the container's IP.
	name := startContainer(t, image)
	ip := run(t, time.Minute, "", nil, "docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
	addr := ip + ":8080"
	eventually(t, 30*time.Second, "container registered at "+addr, func() bool { return reg.state("web", addr) == StateRegistered })
	if r := reg.get("web", addr); r.Source != SourceDocker || r.Task != name {
		t.Errorf("registration = %+v", r)
	}
	eventually(t, 30*time.Second, "echo server answers at the registered address", func() bool {
		_, err := httpGet("http://" + addr + "/health")
		return err == nil
	})

	// Published port: registered at the host binding.
	pub := startContainer(t, image, "-p", "127.0.0.1::8080")
	hostPort := run(t, time.Minute, "", nil, "docker", "port", pub, "8080/tcp")
	eventually(t, 30*time.Second, "published container registered at "+hostPort, func() bool {
		return reg.state("web", hostPort) == StateRegistered
	})
	// Registered means running (no health check): the server may still be starting.
	var body string
	eventually(t, 30*time.Second, "published target answers", func() bool {
		var err error
		body, err = httpGet("http://" + hostPort + "/")
		return err == nil
	})
	t.Logf("published target answered: %.60q", body)

	// Stop: deregistered (draining).
	run(t, time.Minute, "", nil, "docker", "stop", "-t", "1", name)
	eventually(t, 30*time.Second, "stopped container deregistered", func() bool { return reg.state("web", addr) == StateDeregistered })
	if reg.state("web", hostPort) != StateRegistered {
		t.Errorf("other container's registration changed: %s", reg.state("web", hostPort))
	}
}
