package spec

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// messages returns "path: msg" for each error, sorted.
func messages(errs ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Path+": "+e.Msg)
	}
	slices.Sort(out)
	return out
}

func validListener() *Listener {
	return &Listener{Name: "l", Port: 80, DefaultAction: Action{Forward: &Forward{TargetGroup: "web"}}}
}

func rule(prio int, a Action) Rule {
	return Rule{Priority: prio, Conditions: Conditions{PathPattern: []string{"/x"}}, Action: a}
}

func TestListenerValidate(t *testing.T) {
	fwd := Action{Forward: &Forward{TargetGroup: "web"}}
	tests := []struct {
		name   string
		modify func(l *Listener)
		want   []string
	}{
		{"valid", func(*Listener) {}, nil},
		{"name too long", func(l *Listener) { l.Name = strings.Repeat("a", 65) }, []string{"name: name is longer than 64 characters"}},
		{"name dot", func(l *Listener) { l.Name = "." }, []string{`name: name must not be "."`}},
		{"name dot dot", func(l *Listener) { l.Name = ".." }, []string{`name: name must not be ".."`}},
		{"name with dots", func(l *Listener) { l.Name = "a.b..c" }, nil},
		{"bad address", func(l *Listener) { l.Address = "localhost" }, []string{`address: "localhost" is not an IP address`}},
		{"https without certificates", func(l *Listener) { l.Protocol = ProtocolHTTPS }, []string{"protocol: HTTPS listeners need certificates or acme"}},
		{"http with certificates", func(l *Listener) { l.Certificates = []Certificate{{CertFile: "a", KeyFile: "b"}} },
			[]string{"certificates: certificates are only for HTTPS and TLS listeners"}},
		{"acme single label", func(l *Listener) { l.Protocol = ProtocolTLS; l.ACME = &ACME{Domains: []string{"localhost"}} },
			[]string{`acme.domains[0]: "localhost" is not a fully qualified domain name`}},
		{"idle timeout", func(l *Listener) { l.IdleTimeoutSeconds = 4001 }, []string{"idleTimeoutSeconds: 4001 is out of range 1..4000"}},
		{"limits", func(l *Listener) { l.Limits = Limits{MaxRequestHeaderBytes: 10, MaxRequestBodyBytes: -1} }, []string{
			"limits.maxRequestBodyBytes: -1 is negative", "limits.maxRequestHeaderBytes: 10 is out of range 1024..1048576"}},
		{"proxy protocol", func(l *Listener) { l.ProxyProtocol = &ProxyProtocol{TrustedCIDRs: []string{"10.0.0.0/33"}} },
			[]string{`proxyProtocol.trustedCidrs[0]: "10.0.0.0/33" is not a CIDR block or IP address`}},
		{"priority range", func(l *Listener) { l.Rules = []Rule{rule(50001, fwd)} }, []string{"rules[0].priority: 50001 is out of range 1..50000"}},
		{"no condition", func(l *Listener) { l.Rules = []Rule{{Priority: 1, Action: fwd}} }, []string{"rules[0].conditions: a rule needs at least one condition"}},
		{"conditions", func(l *Listener) {
			l.Rules = []Rule{{Priority: 1, Action: fwd, Conditions: Conditions{
				PathPattern:       []string{"api", strings.Repeat("/", 129)},
				HTTPRequestMethod: []string{"get"},
				SourceIP:          []string{"300.1.1.1"},
				QueryString:       []KeyValue{{Key: "a"}},
				SNI:               []string{"a.example.com"},
			}}}
		}, []string{
			`rules[0].conditions.httpRequestMethod[0]: "get" is not a method name (A-Z, '_' and '-', at most 40)`,
			`rules[0].conditions.pathPattern[0]: "api" must start with / or * and contain no spaces`,
			"rules[0].conditions.pathPattern[1]: pattern is longer than 128 characters",
			"rules[0].conditions.queryString[0].value: empty pattern",
			"rules[0].conditions.sni: sni conditions are only for TCP and TLS listeners",
			`rules[0].conditions.sourceIp[0]: "300.1.1.1" is not a CIDR block or IP address`,
		}},
		{"tcp rules", func(l *Listener) {
			l.Protocol = ProtocolTCP
			l.Rules = []Rule{rule(1, Action{FixedResponse: &FixedResponse{StatusCode: 200}})}
		}, []string{
			"rules[0].action: TCP listeners can only forward",
			"rules[0].conditions.pathPattern: pathPattern conditions are not allowed on TCP listeners (only sni and sourceIp)",
		}},
		{"no action", func(l *Listener) { l.DefaultAction = Action{} }, []string{"defaultAction: an action is required: forward, redirect or fixedResponse"}},
		{"two actions", func(l *Listener) { l.DefaultAction.FixedResponse = &FixedResponse{StatusCode: 404} },
			[]string{"defaultAction: set exactly one of forward, redirect and fixedResponse"}},
		{"forward both", func(l *Listener) { l.DefaultAction.Forward.TargetGroups = []WeightedTargetGroup{{Name: "a"}} },
			[]string{"defaultAction.forward: set targetGroup or targetGroups, not both"}},
		{"weighted groups", func(l *Listener) {
			l.DefaultAction.Forward = &Forward{TargetGroups: []WeightedTargetGroup{
				{Name: "a", Weight: ptr(0)}, {Name: "a", Weight: ptr(0)}, {Name: "-b", Weight: ptr(1000)},
			}, Stickiness: &GroupStickiness{Enabled: true, DurationSeconds: 604801}}
		}, []string{
			`defaultAction.forward.stickiness.durationSeconds: 604801 is out of range 1..604800`,
			`defaultAction.forward.targetGroups[1].name: target group "a" is already listed at targetGroups[0]`,
			`defaultAction.forward.targetGroups[2].name: name must not start or end with '-'`,
			`defaultAction.forward.targetGroups[2].weight: 1000 is out of range 0..999`,
		}},
		{"all weights zero", func(l *Listener) {
			l.DefaultAction.Forward = &Forward{TargetGroups: []WeightedTargetGroup{{Name: "a", Weight: ptr(0)}}}
		}, []string{"defaultAction.forward.targetGroups: at least one target group needs a weight above 0"}},
		{"six groups", func(l *Listener) {
			l.DefaultAction.Forward = &Forward{}
			for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
				l.DefaultAction.Forward.TargetGroups = append(l.DefaultAction.Forward.TargetGroups, WeightedTargetGroup{Name: n})
			}
		}, []string{"defaultAction.forward.targetGroups: 6 target groups, at most 5"}},
		{"redirect", func(l *Listener) {
			l.DefaultAction = Action{Redirect: &Redirect{Protocol: "FTP", Port: "0", Path: "x", Query: "?a", StatusCode: "HTTP_307"}}
		}, []string{
			`defaultAction.redirect.path: path must start with /`,
			`defaultAction.redirect.port: "0" is not a port (1..65535) or #{port}`,
			`defaultAction.redirect.protocol: "FTP" is not one of HTTP, HTTPS, #{protocol}`,
			`defaultAction.redirect.query: query must not start with ?`,
			`defaultAction.redirect.statusCode: "HTTP_307" is not one of HTTP_301, HTTP_302`,
		}},
		{"redirect placeholders", func(l *Listener) {
			l.DefaultAction = Action{Redirect: &Redirect{Protocol: "#{protocol}", Port: "#{port}", Path: "/new/#{path}", StatusCode: "HTTP_301"}}
		}, nil},
		{"fixed response", func(l *Listener) {
			l.DefaultAction = Action{FixedResponse: &FixedResponse{StatusCode: 600, ContentType: "text/xml", MessageBody: strings.Repeat("x", 1025)}}
		}, []string{
			`defaultAction.fixedResponse.contentType: "text/xml" is not one of text/plain, text/css, text/html, application/javascript, application/json`,
			"defaultAction.fixedResponse.messageBody: messageBody is 1025 bytes, more than 1024",
			"defaultAction.fixedResponse.statusCode: statusCode 600 is out of range 200..599",
		}},
		{"fixed response 3XX", func(l *Listener) {
			l.DefaultAction = Action{FixedResponse: &FixedResponse{StatusCode: 301, ContentType: "text/plain"}}
		}, []string{
			"defaultAction.fixedResponse.statusCode: statusCode 301: a fixed response is 2XX, 4XX or 5XX; use a redirect action for 3XX",
		}},
		{"fixed response without status", func(l *Listener) {
			l.DefaultAction = Action{FixedResponse: &FixedResponse{ContentType: "text/plain"}}
		}, []string{
			"defaultAction.fixedResponse.statusCode: statusCode is required (2XX, 4XX or 5XX)",
		}},
		{"fixed responses 2XX, 4XX, 5XX", func(l *Listener) {
			l.DefaultAction = Action{FixedResponse: &FixedResponse{StatusCode: 204}}
			l.Rules = append(l.Rules,
				Rule{Priority: 7, Conditions: Conditions{PathPattern: []string{"/a"}}, Action: Action{FixedResponse: &FixedResponse{StatusCode: 418}}},
				Rule{Priority: 8, Conditions: Conditions{PathPattern: []string{"/b"}}, Action: Action{FixedResponse: &FixedResponse{StatusCode: 599}}})
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := validListener()
			tt.modify(l)
			if got := messages(l.Validate()); !slices.Equal(got, tt.want) {
				t.Errorf("Validate() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestTargetGroupValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(g *TargetGroup)
		want   []string
	}{
		{"valid", func(*TargetGroup) {}, nil},
		{"name", func(g *TargetGroup) { g.Name = "web_1" }, []string{"name: name may only contain A-Z, a-z, 0-9 and '-'"}},
		{"name too long", func(g *TargetGroup) { g.Name = strings.Repeat("a", 33) }, []string{"name: name is longer than 32 characters"}},
		{"algorithm", func(g *TargetGroup) { g.Algorithm = "random" }, []string{
			`algorithm: "random" is not one of round_robin, least_outstanding_requests, weighted_random, flow_hash`}},
		{"targets", func(g *TargetGroup) {
			g.Targets = []Target{{Address: "a:0"}, {Address: ":80"}, {Address: "[::1]:80", Weight: 1001}}
		}, []string{`targets[0]: "a:0" has an invalid port (1..65535)`, `targets[1]: ":80" has no host`, "targets[2].weight: 1001 is out of range 1..1000"}},
		{"targets spelt one way", func(g *TargetGroup) {
			g.Targets = []Target{{Address: "127.0.0.1:022101"}, {Address: "127.000.0.1:80"}, {Address: "[0:0::1]:80"},
				{Address: "localhost:80"}, {Address: "[::ffff:10.0.0.1]:80"}, {Address: "10.0.0.1:+80"}}
		}, []string{
			`targets[0]: "127.0.0.1:022101": write the port as 22101`,
			`targets[1]: "127.000.0.1:80" has an invalid IPv4 address`,
			`targets[2]: "[0:0::1]:80": write the address as [::1]:80`,
			`targets[5]: "10.0.0.1:+80": write the port as 80`,
		}},
		{"health check", func(g *TargetGroup) {
			g.HealthCheck = HealthCheck{Protocol: "UDP", Path: "health", Port: "x", IntervalSeconds: 4, TimeoutSeconds: 121,
				HealthyThresholdCount: 11, UnhealthyThresholdCount: 1, Matcher: "300-200"}
		}, []string{
			`healthCheck.healthyThresholdCount: 11 is out of range 2..10`,
			`healthCheck.intervalSeconds: 4 is out of range 5..300`,
			`healthCheck.matcher: range "300-200" is reversed`,
			`healthCheck.path: path must start with / and contain no spaces (at most 1024 characters)`,
			`healthCheck.port: "x" is not traffic-port or a port (1..65535)`,
			`healthCheck.protocol: "UDP" is not one of HTTP, TCP`,
			`healthCheck.timeoutSeconds: 121 is out of range 2..120`,
			`healthCheck.timeoutSeconds: timeout (2m1s) must be less than the interval (4s)`,
			`healthCheck.unhealthyThresholdCount: 1 is out of range 2..10`,
		}},
		{"timeout not below interval", func(g *TargetGroup) { g.HealthCheck.IntervalSeconds = 5 }, []string{
			"healthCheck.timeoutSeconds: timeout (5s) must be less than the interval (5s)"}},
		{"health check path does not parse", func(g *TargetGroup) { g.HealthCheck.Path = "/%zz" }, []string{
			`healthCheck.path: "/%zz" is not a valid URL path (control characters and % not followed by two hex digits must be percent-encoded)`}},
		{"health check path control character", func(g *TargetGroup) { g.HealthCheck.Path = "/a\x01b" }, []string{
			`healthCheck.path: "/a\x01b" is not a valid URL path (control characters and % not followed by two hex digits must be percent-encoded)`}},
		{"health check path with escapes and query", func(g *TargetGroup) { g.HealthCheck.Path = "/a%20b/?x=1&y=%2F" }, nil},
		{"matcher out of range", func(g *TargetGroup) { g.HealthCheck.Matcher = "200,500" }, []string{"healthCheck.matcher: code 500 is outside 200..499"}},
		{"tcp check with path", func(g *TargetGroup) { g.Protocol = ProtocolTCP; g.HealthCheck.Path = "/" }, []string{
			"healthCheck.path: path is only for HTTP health checks"}},
		{"tcp stickiness", func(g *TargetGroup) { g.Protocol = ProtocolTCP; g.Stickiness.Enabled = true }, []string{
			"stickiness.enabled: TCP groups cannot use cookie stickiness"}},
		{"app cookie without name", func(g *TargetGroup) { g.Stickiness.Type = StickinessAppCookie }, []string{
			"stickiness.cookieName: app_cookie stickiness needs cookieName"}},
		{"reserved cookie", func(g *TargetGroup) { g.Stickiness = Stickiness{Type: StickinessAppCookie, CookieName: "GantryLBX"} }, []string{
			"stickiness.cookieName: cookie names starting with GANTRYLB are reserved"}},
		{"slow start range", func(g *TargetGroup) { g.SlowStartSeconds = 10 }, []string{"slowStartSeconds: 10 is out of range: 0 (off) or 30..900"}},
		{"slow start weighted random", func(g *TargetGroup) { g.SlowStartSeconds = 30; g.Algorithm = AlgorithmWeightedRandom }, []string{
			"slowStartSeconds: slow start cannot be combined with weighted_random"}},
		{"deregistration", func(g *TargetGroup) { g.DeregistrationDelaySeconds = ptr(3601) }, []string{"deregistrationDelaySeconds: 3601 is out of range 0..3600"}},
		{"deregistration zero", func(g *TargetGroup) { g.DeregistrationDelaySeconds = ptr(0) }, nil},
		{"proxy protocol on http", func(g *TargetGroup) { g.ProxyProtocolV2 = true }, []string{"proxyProtocolV2: proxyProtocolV2 is only for TCP groups"}},
		{"timeouts and outliers", func(g *TargetGroup) {
			g.ConnectTimeoutSeconds, g.ResponseTimeoutSeconds = 61, -1
			g.OutlierDetection = OutlierDetection{ConsecutiveFailures: 1001, MaxEjectionPercent: ptr(101)}
		}, []string{
			"connectTimeoutSeconds: 61 is out of range 1..60",
			"outlierDetection.consecutiveFailures: 1001 is out of range 1..1000",
			"outlierDetection.maxEjectionPercent: 101 is out of range 0..100",
			"responseTimeoutSeconds: -1 is out of range 1..4000",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &TargetGroup{Name: "web", Targets: []Target{{Address: "127.0.0.1:9001"}}}
			tt.modify(g)
			if got := messages(g.Validate()); !slices.Equal(got, tt.want) {
				t.Errorf("Validate() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			g.SetDefaults()
			if got := messages(g.Validate()); !slices.Equal(got, tt.want) {
				t.Errorf("after SetDefaults, Validate() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestValidateSet(t *testing.T) {
	src := `kind: TargetGroup
name: web
---
kind: TargetGroup
name: db
protocol: TCP
---
kind: TargetGroup
name: web
---
kind: Listener
name: public
port: 80
rules:
  - priority: 1
    conditions: {pathPattern: [/a]}
    action: {forward: {targetGroups: [{name: web}, {name: missing}]}}
defaultAction: {forward: {targetGroup: db}}
---
kind: Listener
name: public
address: 127.0.0.1
port: 80
defaultAction: {forward: {targetGroup: web}}
---
kind: Listener
name: tcp
protocol: TCP
port: 5432
defaultAction: {forward: {targetGroup: web}}
`
	docs, err := Decode("set.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := []string{
		`set.yaml:9:7: name: duplicate target group "web" (first at set.yaml:2:7)`,
		`set.yaml:17:59: rules[0].action.forward.targetGroups[1].name: target group "missing" does not exist`,
		`set.yaml:18:40: defaultAction.forward.targetGroup: HTTP listener cannot forward to TCP target group "db"`,
		`set.yaml:21:7: name: duplicate listener "public" (first at set.yaml:12:7)`,
		`set.yaml:23:7: port: port 80 is already used by listener "public" (at set.yaml:13:7)`,
		`set.yaml:30:40: defaultAction.forward.targetGroup: TCP listener cannot forward to HTTP target group "web"`,
	}
	got := strings.Split(Check(docs).Error(), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("Check() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if errs := ValidateSet(nil, nil); errs != nil {
		t.Errorf("ValidateSet(nil, nil) = %v, want nil", errs)
	}
}

// TestValidateSetSameBindOtherSpelling: two spellings of one address (an
// IPv4-mapped IPv6 address, a long IPv6 form, ::ffff:0.0.0.0 for every
// interface) on one port are one socket the data plane cannot bind twice, so
// validation refuses them as it refuses the same spelling twice.
func TestValidateSetSameBindOtherSpelling(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"127.0.0.1", "::ffff:127.0.0.1"},
		{"::1", "0:0:0:0:0:0:0:1"},
		{"::ffff:0.0.0.0", "127.0.0.1"},
	} {
		src := fmt.Sprintf(`kind: Listener
name: a
address: "%s"
port: 8080
defaultAction: {fixedResponse: {statusCode: 200}}
---
kind: Listener
name: b
address: "%s"
port: 8080
defaultAction: {fixedResponse: {statusCode: 200}}
`, c.a, c.b)
		docs, err := Decode("bind.yaml", []byte(src))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		want := `bind.yaml:10:7: port: port 8080 is already used by listener "a" (at bind.yaml:4:7)`
		if err := Check(docs); err == nil || err.Error() != want {
			t.Errorf("%s and %s: Check() = %v, want %s", c.a, c.b, err, want)
		}
	}
}
