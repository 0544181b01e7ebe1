//go:build linux

package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// examplesDir is where the examples live, relative to this package.
const examplesDir = "../examples"

// readExample returns the text of an example file.
func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatalf("read example: %v", err)
	}
	return string(b)
}

// rewrite replaces each old with its new in s, failing t when an old string
// does not occur (the example changed under the test).
func rewrite(t *testing.T, s string, oldNew ...string) string {
	t.Helper()
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("example no longer contains %q", oldNew[i])
		}
		s = strings.ReplaceAll(s, oldNew[i], oldNew[i+1])
	}
	return s
}

// TestQuickstartScript runs examples/quickstart.sh as written, with its
// addresses moved to free ports through the environment it documents, and
// stops it as a user would, with Ctrl-C (SIGINT to its process group).
func TestQuickstartScript(t *testing.T) {
	needBinary(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("skipping: the quickstart script needs curl")
	}
	echo1, echo2, lb, api := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	config := writeFile(t, t.TempDir(), "static-targets.yaml", rewrite(t, readExample(t, "static-targets.yaml"),
		"127.0.0.1:9001", echo1, "127.0.0.1:9002", echo2, "port: 8080", "port: "+port(t, lb)))
	script := startProc(t, "quickstart.sh", []string{
		"GANTRY=" + gantryBin,
		"ECHO1_ADDR=" + echo1,
		"ECHO2_ADDR=" + echo2,
		"CONFIG=" + config,
		"LB_URL=http://" + lb,
		"GANTRY_API_ADDR=" + api,
	}, "bash", filepath.Join(examplesDir, "quickstart.sh"))
	script.waitOutput(t, 0, "ready:", 25*time.Second)

	out := script.out.String()
	for _, want := range []string{"server: echo-1", "server: echo-2", "127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("quickstart output lacks %q:\n%s", want, out)
		}
	}
	// A target takes traffic after its first passing check: wait for both.
	(&node{api: "http://" + api}).waitHealthy(t, "web", 2)
	seen := map[string]int{}
	for range 10 {
		r := get(t, "http://"+lb+"/")
		if r.status != http.StatusOK {
			t.Fatalf("GET / through the quickstart listener = %d, want 200: %s", r.status, r.body)
		}
		seen[r.server()]++
	}
	if seen["echo-1"] == 0 || seen["echo-2"] == 0 {
		t.Errorf("answers through the listener by server = %v, want both echo-1 and echo-2", seen)
	}

	// Ctrl-C: the terminal signals the whole foreground group.
	if err := syscall.Kill(-script.pid(), syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT to the quickstart group: %v", err)
	}
	if code := script.wait(t, 15*time.Second); code != 0 {
		t.Errorf("quickstart.sh exit code after Ctrl-C = %d, want 0", code)
	}
	for _, addr := range []string{echo1, echo2, lb, api} {
		eventually(t, 5*time.Second, "port "+addr+" closed after Ctrl-C", func() bool { return refused(addr) })
	}
}

// exampleRewrites moves an example's listener ports and targets onto the
// test's free ports and echo servers.
func exampleRewrites(t *testing.T, name string, e1, e2 *echo) (content, listen string) {
	t.Helper()
	listen = freeAddr(t)
	ports := map[string]string{"static-targets.yaml": "port: 8080", "sticky.yaml": "port: 8081", "rules.yaml": "port: 8082"}
	content = rewrite(t, readExample(t, name),
		"127.0.0.1:9001", e1.addr, "127.0.0.1:9002", e2.addr, ports[name], "port: "+port(t, listen))
	return content, listen
}

// TestExamplesValidateAndApply checks every example offline as written, then
// applies each (moved to free ports) to one running node and checks that the
// routing each one shows works as its comments say.
func TestExamplesValidateAndApply(t *testing.T) {
	needBinary(t)
	e1, e2 := startEcho(t, "echo-1"), startEcho(t, "echo-2")
	n := startNode(t, nil)
	dir := t.TempDir()
	listen := map[string]string{}
	for _, name := range []string{"static-targets.yaml", "rules.yaml", "sticky.yaml"} {
		r := cli(t, nil, "validate", "-f", filepath.Join(examplesDir, name))
		if r.code != 0 || !strings.Contains(r.stdout, "valid") {
			t.Errorf("gantry validate -f examples/%s: exit %d, want 0\n%s%s", name, r.code, r.stdout, r.stderr)
		}
		content, addr := exampleRewrites(t, name, e1, e2)
		listen[name] = "http://" + addr
		r = mustCLI(t, n, "apply", "-f", writeFile(t, dir, name, content))
		if !strings.Contains(r.stdout, "created") {
			t.Errorf("gantry apply -f %s printed %q, want created resources", name, r.stdout)
		}
	}
	waitOK(t, listen["static-targets.yaml"]+"/health", 10*time.Second)

	t.Run("rules", func(t *testing.T) {
		base := listen["rules.yaml"]
		waitOK(t, base+"/", 10*time.Second)
		tests := []struct {
			name, method, path, host string
			hdr                      []string
			wantStatus               int
			wantServer               string // X-Echo-Server, when forwarded to one target
			wantBody, wantLocation   string // substrings
			wantCookie               string // a Set-Cookie name
		}{
			{name: "host and path", path: "/api/v1/users", host: "API.example.com", wantStatus: 200, wantServer: "echo-1"},
			{name: "host wildcard", path: "/api/x", host: "api-eu.example.com", wantStatus: 200, wantServer: "echo-1"},
			{name: "path without host rule", path: "/api/x", host: "www.example.com", wantStatus: 404, wantBody: "no route"},
			{name: "header canary", path: "/anything", hdr: []string{"X-Canary", "ON"}, wantStatus: 200, wantCookie: "GANTRYLBTG"},
			{name: "query key and value", path: "/q?version=v2", wantStatus: 200, wantServer: "echo-2"},
			{name: "query value only", path: "/q?colour=green", wantStatus: 200, wantServer: "echo-2"},
			{name: "admin from loopback", path: "/admin/panel", wantStatus: 200},
			{name: "admin wrong method", method: "DELETE", path: "/admin", wantStatus: 403, wantBody: "forbidden"},
			{name: "redirect moved path", path: "/old/page", wantStatus: 301, wantLocation: "/new/old/page"},
			{name: "redirect to https", path: "/cart?id=7", host: "secure.example.com", wantStatus: 302, wantLocation: "https://secure.example.com/cart?id=7"},
			{name: "forward root", path: "/", wantStatus: 200, wantServer: "echo-1"},
			{name: "fixed default", path: "/nothing-here", wantStatus: 404, wantBody: "no route"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				method := tt.method
				if method == "" {
					method = http.MethodGet
				}
				r, err := do(method, base+tt.path, tt.host, nil, tt.hdr...)
				if err != nil {
					t.Fatalf("%s %s: %v", method, tt.path, err)
				}
				if r.status != tt.wantStatus {
					t.Errorf("%s %s (Host %q) = %d, want %d: %s", method, tt.path, tt.host, r.status, tt.wantStatus, r.body)
				}
				if tt.wantServer != "" && r.server() != tt.wantServer {
					t.Errorf("%s %s answered by %q, want %q", method, tt.path, r.server(), tt.wantServer)
				}
				if !strings.Contains(r.body, tt.wantBody) {
					t.Errorf("%s %s body = %q, want it to contain %q", method, tt.path, r.body, tt.wantBody)
				}
				if loc := r.header.Get("Location"); !strings.Contains(loc, tt.wantLocation) {
					t.Errorf("%s %s Location = %q, want it to contain %q", method, tt.path, loc, tt.wantLocation)
				}
				if tt.wantCookie != "" && !hasCookie(r.header, tt.wantCookie) {
					t.Errorf("%s %s Set-Cookie = %q, want a %s cookie", method, tt.path, r.header.Values("Set-Cookie"), tt.wantCookie)
				}
			})
		}
	})

	t.Run("sticky", func(t *testing.T) {
		base := listen["sticky.yaml"]
		waitOK(t, base+"/", 10*time.Second)
		// A pin made while a target is still initial is moved to the first
		// healthy one, as documented: pins are checked once all are.
		n.waitHealthy(t, "cart", 2)
		n.waitHealthy(t, "stable", 1)
		n.waitHealthy(t, "preview", 1)
		for _, tt := range []struct{ name, host, path, cookie string }{
			{name: "lb_cookie", host: "cart.example.com", path: "/", cookie: "GANTRYLB"},
			{name: "group stickiness", host: "www.example.com", path: "/beta/x", cookie: "GANTRYLBTG"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				first := getHost(t, base+tt.path, tt.host)
				c := cookieValue(first.header, tt.cookie)
				if c == "" {
					t.Fatalf("GET %s (Host %s) Set-Cookie = %q, want %s", tt.path, tt.host, first.header.Values("Set-Cookie"), tt.cookie)
				}
				for range 6 {
					r := getHost(t, base+tt.path, tt.host, "Cookie", tt.cookie+"="+c)
					if r.server() != first.server() {
						t.Fatalf("with cookie %s, answered by %q, want %q every time", tt.cookie, r.server(), first.server())
					}
				}
			})
		}
	})
}

// cookieValue returns the value of the named cookie set by a response.
func cookieValue(h http.Header, name string) string {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// hasCookie reports whether a response sets the named cookie.
func hasCookie(h http.Header, name string) bool { return cookieValue(h, name) != "" }

// TestZeroDowntimeScript runs examples/zero-downtime.sh as written: wrk sends
// traffic through the quickstart's listener while its service is rolled out
// and scaled 3 → 1 → 3, and the script fails on any non-2xx or socket error.
func TestZeroDowntimeScript(t *testing.T) {
	needBinary(t)
	if _, err := exec.LookPath("wrk"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true requires wrk (.ci/run installs it)")
		}
		t.Skip("skipping: wrk is not installed")
	}
	// startProc runs it in its own process group, killed with the test.
	script := startProc(t, "zero-downtime.sh", []string{"GANTRY=" + gantryBin, "LB_PORT=" + port(t, freeAddr(t)),
		"GANTRY_API_ADDR=" + freeAddr(t), "DURATION=12s"}, "bash", filepath.Join(examplesDir, "zero-downtime.sh"))
	code := script.wait(t, 3*time.Minute)
	out := script.out.String()
	if code != 0 || !strings.Contains(out, "zero-downtime: no failed request") || !strings.Contains(out, "Requests/sec") {
		t.Fatalf("examples/zero-downtime.sh exited %d:\n%s", code, out)
	}
	t.Logf("%s", out)
}
