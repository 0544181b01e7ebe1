package spec

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// reservedCookiePrefixes are cookie names the balancer itself sets (and ALB's).
var reservedCookiePrefixes = []string{"AWSALB", "GANTRYLB"}

// Validate checks the target group and returns every problem, located through
// Positions. Unset fields are valid wherever a default applies, so it may run
// before or after SetDefaults.
func (g *TargetGroup) Validate() ErrorList {
	c := &checker{doc: g.Pos, positions: g.Positions}
	if g.Kind != "" && g.Kind != KindTargetGroup {
		c.add("kind", "kind is %s, want %s", quote(g.Kind), KindTargetGroup)
	}
	if msg := groupNameProblem(g.Name); msg != "" {
		c.add("name", "%s", msg)
	}
	c.oneOf("protocol", g.Protocol, ProtocolHTTP, ProtocolTCP)
	c.oneOf("algorithm", g.Algorithm, AlgorithmRoundRobin, AlgorithmLeastOutstandingRequests, AlgorithmWeightedRandom, AlgorithmFlowHash)
	if g.Algorithm == AlgorithmFlowHash && !g.IsTCP() {
		c.add("algorithm", "flow_hash is only for TCP groups")
	}
	g.validateTargets(c)
	g.validateHealthCheck(c)
	g.validateStickiness(c)
	if d := g.DeregistrationDelaySeconds; d != nil && (*d < 0 || *d > 3600) {
		c.add("deregistrationDelaySeconds", "%d is out of range 0..3600", *d)
	}
	if s := g.SlowStartSeconds; s != 0 {
		if s < 30 || s > 900 {
			c.add("slowStartSeconds", "%d is out of range: 0 (off) or 30..900", s)
		} else if g.Algorithm == AlgorithmWeightedRandom {
			c.add("slowStartSeconds", "slow start cannot be combined with weighted_random")
		}
	}
	if g.ProxyProtocolV2 && !g.IsTCP() {
		c.add("proxyProtocolV2", "proxyProtocolV2 is only for TCP groups")
	}
	c.inRange("connectTimeoutSeconds", g.ConnectTimeoutSeconds, 1, 60)
	c.inRange("responseTimeoutSeconds", g.ResponseTimeoutSeconds, 1, 4000)
	od := g.OutlierDetection
	c.inRange("outlierDetection.consecutiveFailures", od.ConsecutiveFailures, 1, 1000)
	c.inRange("outlierDetection.baseEjectionSeconds", od.BaseEjectionSeconds, 1, 3600)
	if p := od.MaxEjectionPercent; p != nil && (*p < 0 || *p > 100) {
		c.add("outlierDetection.maxEjectionPercent", "%d is out of range 0..100", *p)
	}
	return c.errs
}

func (g *TargetGroup) validateTargets(c *checker) {
	first := map[string]int{}
	for i, t := range g.Targets {
		p := indexPath("targets", i)
		if t.Address == "" {
			c.add(p, "address is required")
		} else if msg := HostPortProblem(t.Address); msg != "" {
			c.add(p, "%s", msg)
		} else {
			host, port, _ := net.SplitHostPort(t.Address)
			key := net.JoinHostPort(strings.ToLower(host), port)
			if j, dup := first[key]; dup {
				c.add(p, "target %s is already listed at targets[%d]", t.Address, j)
			} else {
				first[key] = i
			}
		}
		c.inRange(p+".weight", t.Weight, 1, 1000)
	}
}

func (g *TargetGroup) validateHealthCheck(c *checker) {
	hc := g.HealthCheck
	const p = "healthCheck."
	c.oneOf(p+"protocol", hc.Protocol, ProtocolHTTP, ProtocolTCP)
	if g.HealthCheckProtocol() == ProtocolTCP {
		if hc.Path != "" {
			c.add(p+"path", "path is only for HTTP health checks")
		}
		if hc.Matcher != "" {
			c.add(p+"matcher", "matcher is only for HTTP health checks")
		}
	}
	if hc.Path != "" && (!strings.HasPrefix(hc.Path, "/") || len(hc.Path) > 1024 || strings.ContainsAny(hc.Path, " \t\r\n")) {
		c.add(p+"path", "path must start with / and contain no spaces (at most 1024 characters)")
	} else if hc.Path != "" {
		// The checker requests http://target + path: a path that does not
		// parse there (a bad %-escape, a control character) would fail
		// every check with Elb.InternalError instead of being refused here.
		if _, err := url.Parse("http://127.0.0.1" + hc.Path); err != nil {
			c.add(p+"path", "%s is not a valid URL path (control characters and %% not followed by two hex digits must be percent-encoded)", quote(hc.Path))
		}
	}
	if hc.Port != "" && hc.Port != DefaultHealthCheckPort {
		if n, err := strconv.Atoi(hc.Port); err != nil || n < 1 || n > 65535 {
			c.add(p+"port", "%s is not traffic-port or a port (1..65535)", quote(hc.Port))
		}
	}
	c.inRange(p+"intervalSeconds", hc.IntervalSeconds, 5, 300)
	c.inRange(p+"timeoutSeconds", hc.TimeoutSeconds, 2, 120)
	if hc.Timeout() >= hc.Interval() {
		c.add(p+"timeoutSeconds", "timeout (%v) must be less than the interval (%v)", hc.Timeout(), hc.Interval())
	}
	c.inRange(p+"healthyThresholdCount", hc.HealthyThresholdCount, 2, 10)
	c.inRange(p+"unhealthyThresholdCount", hc.UnhealthyThresholdCount, 2, 10)
	if hc.Matcher != "" {
		if _, err := ParseMatcher(hc.Matcher); err != nil {
			c.add(p+"matcher", "%s", strings.TrimPrefix(err.Error(), "spec: parse matcher: "))
		}
	}
}

func (g *TargetGroup) validateStickiness(c *checker) {
	s := g.Stickiness
	const p = "stickiness."
	c.oneOf(p+"type", s.Type, StickinessLBCookie, StickinessAppCookie)
	c.inRange(p+"durationSeconds", s.DurationSeconds, 1, 604800)
	if g.IsTCP() && s.Enabled {
		c.add(p+"enabled", "TCP groups cannot use cookie stickiness")
	}
	switch {
	case s.Type == StickinessAppCookie && s.CookieName == "":
		c.add(p+"cookieName", "app_cookie stickiness needs cookieName")
	case s.Type != StickinessAppCookie && s.CookieName != "":
		c.add(p+"cookieName", "cookieName is only for app_cookie stickiness")
	case s.CookieName != "":
		if !isToken(s.CookieName) {
			c.add(p+"cookieName", "%s is not a valid cookie name", quote(s.CookieName))
		}
		for _, prefix := range reservedCookiePrefixes {
			if len(s.CookieName) >= len(prefix) && strings.EqualFold(s.CookieName[:len(prefix)], prefix) {
				c.add(p+"cookieName", "cookie names starting with %s are reserved", prefix)
			}
		}
	}
}
