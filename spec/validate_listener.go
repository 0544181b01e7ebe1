package spec

import (
	"math"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Validate checks the listener on its own (references to target groups are
// ValidateSet's job) and returns every problem, located through Positions.
// Unset fields are valid wherever a default applies, so it may run before or
// after SetDefaults.
func (l *Listener) Validate() ErrorList {
	c := &checker{doc: l.Pos, positions: l.Positions}
	if l.Kind != "" && l.Kind != KindListener {
		c.add("kind", "kind is %s, want %s", quote(l.Kind), KindListener)
	}
	switch {
	case l.Name == "":
		c.add("name", "name is required")
	case len(l.Name) > 64:
		c.add("name", "name is longer than 64 characters")
	case !validName(l.Name, "-_."):
		c.add("name", "name may only contain A-Z, a-z, 0-9, '-', '_' and '.'")
	case l.Name == "." || l.Name == "..":
		// A path segment of its own in the API (/v1/listeners/NAME).
		c.add("name", "name must not be %q", l.Name)
	}
	if l.Address != "" {
		if _, err := netip.ParseAddr(l.Address); err != nil {
			c.add("address", "%s is not an IP address", quote(l.Address))
		}
	}
	if l.Port < 1 || l.Port > 65535 {
		if l.Port == 0 {
			c.add("port", "port is required (1..65535)")
		} else {
			c.add("port", "%d is out of range 1..65535", l.Port)
		}
	}
	c.oneOf("protocol", l.Protocol, ProtocolHTTP, ProtocolHTTPS, ProtocolTCP, ProtocolTLS)
	l.validateTLS(c)
	c.inRange("idleTimeoutSeconds", l.IdleTimeoutSeconds, 1, 4000)
	if pp := l.ProxyProtocol; pp != nil {
		if len(pp.TrustedCIDRs) == 0 {
			c.add("proxyProtocol.trustedCidrs", "trustedCidrs must list at least one CIDR")
		}
		for i, s := range pp.TrustedCIDRs {
			if !validCIDROrIP(s) {
				c.add(indexPath("proxyProtocol.trustedCidrs", i), "%s is not a CIDR block or IP address", quote(s))
			}
		}
	}
	l.Limits.validate(c, "limits")
	first := map[int]int{}
	for i := range l.Rules {
		r := &l.Rules[i]
		p := indexPath("rules", i)
		switch {
		case r.Priority == 0:
			c.add(p+".priority", "priority is required (1..50000)")
		case r.Priority < 1 || r.Priority > 50000:
			c.add(p+".priority", "%d is out of range 1..50000", r.Priority)
		default:
			if j, dup := first[r.Priority]; dup {
				c.add(p+".priority", "priority %d is already used by rules[%d]", r.Priority, j)
			} else {
				first[r.Priority] = i
			}
		}
		l.validateConditions(c, p+".conditions", &r.Conditions)
		l.validateAction(c, p+".action", &r.Action)
	}
	l.validateAction(c, "defaultAction", &l.DefaultAction)
	return c.errs
}

func (l *Listener) validateTLS(c *checker) {
	c.oneOf("unknownSni", l.UnknownSNI, UnknownSNIDefault, UnknownSNIReject)
	if !l.TerminatesTLS() {
		if l.UnknownSNI != "" && l.UnknownSNI != UnknownSNIDefault {
			c.add("unknownSni", "unknownSni is only for HTTPS and TLS listeners")
		}
		if len(l.Certificates) > 0 {
			c.add("certificates", "certificates are only for HTTPS and TLS listeners")
		}
		if l.ACME != nil {
			c.add("acme", "acme is only for HTTPS and TLS listeners")
		}
		return
	}
	switch {
	case len(l.Certificates) == 0 && l.ACME == nil:
		c.add("protocol", "%s listeners need certificates or acme", l.Protocol)
	case len(l.Certificates) > 0 && l.ACME != nil:
		c.add("acme", "set certificates or acme, not both")
	}
	for i, cert := range l.Certificates {
		p := indexPath("certificates", i)
		if cert.CertFile == "" {
			c.add(p+".certFile", "certFile is required")
		}
		if cert.KeyFile == "" {
			c.add(p+".keyFile", "keyFile is required")
		}
	}
	if a := l.ACME; a != nil {
		if len(a.Domains) == 0 {
			c.add("acme.domains", "domains must list at least one name")
		}
		for i, d := range a.Domains {
			// Autocert refuses single-label names, so a dot is required.
			if d == "" || len(d) > 253 || !validName(d, "-.") || !strings.Contains(d, ".") ||
				strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
				c.add(indexPath("acme.domains", i), "%s is not a fully qualified domain name", quote(d))
			}
		}
		if a.Email != "" && !strings.Contains(a.Email, "@") {
			c.add("acme.email", "%s is not an email address", quote(a.Email))
		}
		if a.DirectoryURL != "" {
			if u, err := url.Parse(a.DirectoryURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				c.add("acme.directoryUrl", "%s is not an http(s) URL", quote(a.DirectoryURL))
			}
		}
	}
}

func (lim Limits) validate(c *checker, path string) {
	c.inRange(path+".maxRequestHeaderBytes", lim.MaxRequestHeaderBytes, 1024, 1048576)
	c.inRange(path+".maxUriBytes", lim.MaxURIBytes, 256, 1048576)
	if lim.MaxRequestBodyBytes < 0 {
		c.add(path+".maxRequestBodyBytes", "%d is negative", lim.MaxRequestBodyBytes)
	}
	c.inRange(path+".maxConnections", lim.MaxConnections, 1, math.MaxInt32)
	c.inRange(path+".requestHeaderTimeoutSeconds", lim.RequestHeaderTimeoutSeconds, 1, 3600)
}

// maxPattern is ALB's limit on one condition value.
const maxPattern = 128

func (l *Listener) validateConditions(c *checker, path string, cond *Conditions) {
	tcp := l.IsTCP()
	httpOnly := func(name string, n int) {
		if tcp && n > 0 {
			c.add(path+"."+name, "%s conditions are not allowed on %s listeners (only sni and sourceIp)", name, l.Protocol)
		}
	}
	httpOnly("hostHeader", len(cond.HostHeader))
	httpOnly("pathPattern", len(cond.PathPattern))
	httpOnly("httpRequestMethod", len(cond.HTTPRequestMethod))
	httpOnly("httpHeader", len(cond.HTTPHeader))
	httpOnly("queryString", len(cond.QueryString))
	if len(cond.SNI) > 0 && !tcp {
		c.add(path+".sni", "sni conditions are only for TCP and TLS listeners")
	}
	if cond.empty() {
		c.add(path, "a rule needs at least one condition")
	}
	pattern := func(p, s string, ok func(string) bool, what string) {
		switch {
		case s == "":
			c.add(p, "empty pattern")
		case len(s) > maxPattern:
			c.add(p, "pattern is longer than %d characters", maxPattern)
		case !utf8.ValidString(s):
			c.add(p, "pattern is not valid UTF-8")
		case ok != nil && !ok(s):
			c.add(p, "%s %s", quote(s), what)
		}
	}
	for i, s := range cond.HostHeader {
		pattern(indexPath(path+".hostHeader", i), s, validHostPattern, "may only contain A-Z, a-z, 0-9, '-', '.', '*' and '?'")
	}
	for i, s := range cond.SNI {
		pattern(indexPath(path+".sni", i), s, validHostPattern, "may only contain A-Z, a-z, 0-9, '-', '.', '*' and '?'")
	}
	for i, s := range cond.PathPattern {
		pattern(indexPath(path+".pathPattern", i), s, func(s string) bool {
			return (s[0] == '/' || s[0] == '*') && !strings.ContainsAny(s, " \t\r\n")
		}, "must start with / or * and contain no spaces")
	}
	for i, s := range cond.HTTPRequestMethod {
		p := indexPath(path+".httpRequestMethod", i)
		if s == "" || len(s) > 40 || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-") != "" {
			c.add(p, "%s is not a method name (A-Z, '_' and '-', at most 40)", quote(s))
		}
	}
	for name, values := range cond.HTTPHeader {
		p := path + ".httpHeader." + name
		if !isToken(name) || len(name) > 40 {
			c.add(p, "%s is not a header name", quote(name))
		}
		if len(values) == 0 {
			c.add(p, "header %s needs at least one value", name)
		}
		for i, s := range values {
			pattern(indexPath(p, i), s, nil, "")
		}
	}
	for i, kv := range cond.QueryString {
		p := indexPath(path+".queryString", i)
		if len(kv.Key) > maxPattern {
			c.add(p+".key", "pattern is longer than %d characters", maxPattern)
		} else if !utf8.ValidString(kv.Key) {
			c.add(p+".key", "pattern is not valid UTF-8")
		}
		pattern(p+".value", kv.Value, nil, "")
	}
	for i, s := range cond.SourceIP {
		if !validCIDROrIP(s) {
			c.add(indexPath(path+".sourceIp", i), "%s is not a CIDR block or IP address", quote(s))
		}
	}
}

func (cond *Conditions) empty() bool {
	return len(cond.HostHeader)+len(cond.PathPattern)+len(cond.HTTPRequestMethod)+len(cond.HTTPHeader)+
		len(cond.QueryString)+len(cond.SourceIP)+len(cond.SNI) == 0
}

// fixedResponseTypes are the content types ALB accepts.
var fixedResponseTypes = []string{"text/plain", "text/css", "text/html", "application/javascript", "application/json"}

func (l *Listener) validateAction(c *checker, path string, a *Action) {
	n := 0
	for _, set := range []bool{a.Forward != nil, a.Redirect != nil, a.FixedResponse != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		c.add(path, "an action is required: forward, redirect or fixedResponse")
	case n > 1:
		c.add(path, "set exactly one of forward, redirect and fixedResponse")
	}
	if l.IsTCP() && (a.Redirect != nil || a.FixedResponse != nil) {
		c.add(path, "%s listeners can only forward", l.Protocol)
	}
	if f := a.Forward; f != nil {
		validateForward(c, path+".forward", f)
	}
	if r := a.Redirect; r != nil {
		l.validateRedirect(c, path+".redirect", r)
	}
	if fr := a.FixedResponse; fr != nil {
		p := path + ".fixedResponse"
		switch {
		case fr.StatusCode == 0:
			c.add(p+".statusCode", "statusCode is required (2XX, 4XX or 5XX)")
		case fr.StatusCode < 200 || fr.StatusCode > 599:
			c.add(p+".statusCode", "statusCode %d is out of range 200..599", fr.StatusCode)
		case fr.StatusCode/100 == 3:
			// As ALB: a 3XX without a Location sends clients nowhere.
			c.add(p+".statusCode", "statusCode %d: a fixed response is 2XX, 4XX or 5XX; use a redirect action for 3XX", fr.StatusCode)
		}
		c.oneOf(p+".contentType", fr.ContentType, fixedResponseTypes...)
		if len(fr.MessageBody) > 1024 {
			c.add(p+".messageBody", "messageBody is %d bytes, more than 1024", len(fr.MessageBody))
		}
	}
}

func validateForward(c *checker, p string, f *Forward) {
	switch {
	case f.TargetGroup == "" && len(f.TargetGroups) == 0:
		c.add(p, "set targetGroup or targetGroups")
	case f.TargetGroup != "" && len(f.TargetGroups) > 0:
		c.add(p, "set targetGroup or targetGroups, not both")
	case f.TargetGroup != "":
		if msg := groupNameProblem(f.TargetGroup); msg != "" {
			c.add(p+".targetGroup", "target group %s", msg)
		}
	}
	if len(f.TargetGroups) > 5 {
		c.add(p+".targetGroups", "%d target groups, at most 5", len(f.TargetGroups))
	}
	seen, positive := map[string]int{}, false
	for i, g := range f.TargetGroups {
		gp := indexPath(p+".targetGroups", i)
		if msg := groupNameProblem(g.Name); msg != "" {
			c.add(gp+".name", "%s", msg)
		} else if j, dup := seen[g.Name]; dup {
			c.add(gp+".name", "target group %s is already listed at targetGroups[%d]", quote(g.Name), j)
		} else {
			seen[g.Name] = i
		}
		w := g.EffectiveWeight()
		if w < 0 || w > 999 {
			c.add(gp+".weight", "%d is out of range 0..999", w)
		}
		positive = positive || w > 0
	}
	if len(f.TargetGroups) > 0 && !positive {
		c.add(p+".targetGroups", "at least one target group needs a weight above 0")
	}
	if s := f.Stickiness; s != nil {
		c.inRange(p+".stickiness.durationSeconds", s.DurationSeconds, 1, 604800)
	}
}
