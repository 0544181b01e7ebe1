//go:build linux

package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// badDocs has one problem of each family on known lines.
const badDocs = `kind: TargetGroup
name: web
algorithm: fastest
targets: ["127.0.0.1:1"]
colour: blue
healthCheck:
  intervalSeconds: 1
---
kind: Listener
name: public
address: 127.0.0.1
port: 70000
rules:
  - priority: 10
    conditions: {pathPattern: ["/a"]}
    action: {fixedResponse: {statusCode: 200}}
  - priority: 10
    conditions: {pathPattern: ["/b"]}
    action: {fixedResponse: {statusCode: 200}}
defaultAction:
  forward: {targetGroup: missing}
`

// located is one line of `gantry validate` or `gantry apply` output.
var located = regexp.MustCompile(`^(\S+):(\d+):(\d+): `)

func TestValidateReportsEveryErrorWithLocation(t *testing.T) {
	needBinary(t)
	path := writeFile(t, t.TempDir(), "bad.yaml", badDocs)
	r := cli(t, nil, "validate", "-f", path)
	if r.code != 1 {
		t.Errorf("gantry validate -f bad.yaml: exit %d, want 1", r.code)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	for _, l := range lines {
		if m := located.FindStringSubmatch(l); m == nil || m[1] != path {
			t.Errorf("validate line %q is not %s:line:column: message", l, path)
		}
	}
	for _, want := range []struct{ at, says string }{
		{"3:12", "fastest"},
		{"5:1", "colour"},
		{"7:20", "intervalSeconds"},
		{"12:7", "70000"},
		{"17:15", "priority"},
		{"21:26", "missing"},
	} {
		prefix := path + ":" + want.at + ": "
		found := false
		for _, l := range lines {
			found = found || (strings.HasPrefix(l, prefix) && strings.Contains(l, want.says))
		}
		if !found {
			t.Errorf("validate output lacks %q mentioning %q:\n%s", prefix, want.says, r.stdout)
		}
	}
}

// baseConfig is a listener forwarding to group web; $RULES are extra rules.
const baseConfig = `kind: TargetGroup
name: web
targets: [$TARGETS]
healthCheck: {path: /health, intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2}
deregistrationDelaySeconds: 2
---
kind: Listener
name: public
address: 127.0.0.1
port: $PORT
rules:
  - priority: 50000
    conditions: {pathPattern: ["/never-used"]}
    action: {fixedResponse: {statusCode: 200, messageBody: "never"}}
$RULES
defaultAction:
  forward: {targetGroup: web}
`

// config renders baseConfig for a listener address, targets and extra rules.
func config(t *testing.T, listen string, rules string, targets ...*echo) string {
	t.Helper()
	quoted := make([]string, len(targets))
	for i, e := range targets {
		quoted[i] = fmt.Sprintf("%q", e.addr)
	}
	return render(baseConfig, map[string]string{"PORT": port(t, listen), "TARGETS": strings.Join(quoted, ", "), "RULES": rules})
}

// fixedRule is a rule answering path with 200 and body.
func fixedRule(priority int, path, body string) string {
	return fmt.Sprintf("  - priority: %d\n    conditions: {pathPattern: [%q]}\n    action: {fixedResponse: {statusCode: 200, contentType: text/plain, messageBody: %q}}\n", priority, path, body)
}

// startWeb starts echo servers and a node serving config(rules) from a file;
// it returns the node, the listener's base URL and the file.
func startWeb(t *testing.T, rules string, echoes ...*echo) (*node, string, string) {
	t.Helper()
	return startWebFlags(t, nil, rules, echoes...)
}

// startWebFlags is startWeb with extra server flags.
func startWebFlags(t *testing.T, flags []string, rules string, echoes ...*echo) (*node, string, string) {
	t.Helper()
	listen := freeAddr(t)
	file := writeFile(t, t.TempDir(), "web.yaml", config(t, listen, rules, echoes...))
	n := startNode(t, []string{file}, flags...)
	waitOK(t, "http://"+listen+"/health", 10*time.Second)
	return n, "http://" + listen, file
}

func TestApplyRejectedWholeKeepsServing(t *testing.T) {
	a := startEcho(t, "a")
	n, base, _ := startWeb(t, "", a)
	listen := strings.TrimPrefix(base, "http://")

	// A good listener change and a bad group in one apply: neither lands.
	bad := config(t, listen, fixedRule(5, "/changed", "changed"), a) +
		"---\nkind: TargetGroup\nname: extra\nalgorithm: fastest\nslowStartSeconds: 5\n"
	path := writeFile(t, t.TempDir(), "bad-apply.yaml", bad)
	r := cli(t, n, "apply", "-f", path)
	if r.code == 0 {
		t.Fatalf("gantry apply of a bad document: exit 0, want an error\n%s", r.stdout)
	}
	errLines := 0
	for l := range strings.Lines(r.stderr) {
		if m := located.FindStringSubmatch(l); m != nil && strings.HasSuffix(m[1], "bad-apply.yaml") {
			errLines++
		}
	}
	if errLines < 2 {
		t.Errorf("gantry apply stderr has %d located errors, want 2 (algorithm, slowStartSeconds):\n%s", errLines, r.stderr)
	}
	if strings.Contains(r.stdout, "configured") || strings.Contains(r.stdout, "created") {
		t.Errorf("gantry apply of a bad document reported changes:\n%s", r.stdout)
	}

	got := get(t, base+"/changed")
	if got.status != http.StatusOK || got.server() != "a" {
		t.Errorf("GET /changed after a rejected apply = %d from %q, want 200 forwarded to a (rule not applied): %s", got.status, got.server(), got.body)
	}
	if out := mustCLI(t, n, "get", "listeners", "-o", "yaml").stdout; strings.Contains(out, "/changed") {
		t.Errorf("gantry get listeners shows the rejected rule:\n%s", out)
	}
	if out := mustCLI(t, n, "get", "target-groups").stdout; strings.Contains(out, "extra") {
		t.Errorf("gantry get target-groups shows the rejected group:\n%s", out)
	}
}

func TestSIGHUPReloadsFiles(t *testing.T) {
	a := startEcho(t, "a")
	n, base, file := startWeb(t, "", a)
	listen := strings.TrimPrefix(base, "http://")

	// Add a rule, SIGHUP: it takes effect.
	writeFile(t, "", file, config(t, listen, fixedRule(10, "/hup", "reloaded"), a))
	n.signal(t, syscall.SIGHUP)
	eventually(t, 10*time.Second, "the rule added on SIGHUP answering", func() bool {
		r, err := do(http.MethodGet, base+"/hup", "", nil)
		return err == nil && r.body == "reloaded"
	})

	// A broken file on SIGHUP is rejected and the old configuration serves.
	mark := len(n.out.String())
	broken := config(t, listen, fixedRule(10, "/hup", "broken")+fixedRule(11, "/hup2", "broken"), a) + "colour: blue\n"
	writeFile(t, "", file, broken)
	n.signal(t, syscall.SIGHUP)
	n.waitOutput(t, mark, "reload rejected", 10*time.Second)
	if !strings.Contains(n.out.String()[mark:], file+":") {
		t.Errorf("the rejected reload's log does not locate the error in %s:\n%s", file, n.out.String()[mark:])
	}
	for _, tt := range []struct{ path, wantBody, wantServer string }{
		{"/hup", "reloaded", ""},
		{"/hup2", "", "a"},
		{"/", "", "a"},
	} {
		r := get(t, base+tt.path)
		if r.status != http.StatusOK || (tt.wantBody != "" && r.body != tt.wantBody) || r.server() != tt.wantServer {
			t.Errorf("GET %s after a broken reload = %d %q from %q, want 200 %q from %q", tt.path, r.status, r.body, r.server(), tt.wantBody, tt.wantServer)
		}
	}
	if n.exited() {
		t.Fatalf("gantry server exited after a broken reload: %v", n.err)
	}
}

func TestApplyUnderLoad(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	n, base, _ := startWeb(t, fixedRule(10, "/a/*", "a"), a, b)
	listen := strings.TrimPrefix(base, "http://")
	n.waitHealthy(t, "web", 2)
	dir := t.TempDir()
	files := [2]string{
		writeFile(t, dir, "a.yaml", config(t, listen, fixedRule(10, "/a/*", "a"), a, b)),
		writeFile(t, dir, "b.yaml", config(t, listen, fixedRule(10, "/b/*", "b"), a, b)),
	}

	const conns = 8
	l := startLoad(t, listen, "/", conns)
	l.waitRequests(t, 200)
	newConns, haveMetric := n.metric(t, "gantry_new_connections_total")
	for i := range 20 {
		f := files[(i+1)%2] // b, a, b, ...: the last one is a
		r := mustCLI(t, n, "apply", "-f", f)
		if !strings.Contains(r.stdout, "listener/public configured") {
			t.Errorf("apply #%d printed %q, want listener/public configured", i+1, r.stdout)
		}
	}
	l.waitRequests(t, l.requests.Load()+200)
	l.stop()
	l.expectClean(t)
	if l.served("a") == 0 || l.served("b") == 0 {
		t.Errorf("load was not spread over both targets: %s", l.summary())
	}

	after, ok := n.metric(t, "gantry_new_connections_total")
	if !haveMetric || !ok {
		t.Errorf("/metrics has no gantry_new_connections_total")
	}
	t.Logf("gantry_new_connections_total: %v before the applies, %v after", newConns, after)
	if after != newConns {
		t.Errorf("gantry_new_connections_total grew by %v during the applies, want 0: keep-alive connections must survive", after-newConns)
	}
	if r := get(t, base+"/a/x"); r.body != "a" {
		t.Errorf("GET /a/x after the last apply = %d %q, want the fixed answer \"a\"", r.status, r.body)
	}
	if r := get(t, base+"/b/x"); r.server() == "" {
		t.Errorf("GET /b/x after the last apply = %d %q, want it forwarded", r.status, r.body)
	}
	for _, ts := range n.targets(t, "web") {
		if ts.State != "healthy" {
			t.Errorf("target %s is %s after 20 applies, want healthy (health state must survive)", ts.Address, ts.State)
		}
	}
}
