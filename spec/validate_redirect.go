package spec

import (
	"slices"
	"strconv"
	"strings"
)

// Redirect placeholders, as ALB names them. Each may be used only in the
// components ALB allows it in (redirectPlaceholders).
const (
	placeholderProtocol = "#{protocol}"
	placeholderHost     = "#{host}"
	placeholderPort     = "#{port}"
	placeholderPath     = "#{path}"
	placeholderQuery    = "#{query}"
)

// redirectPlaceholders lists, per component, the placeholders ALB accepts in
// it: a value reused where it makes sense (#{path} in a host would put a
// path where a host name goes).
var redirectPlaceholders = map[string][]string{
	"protocol": {placeholderProtocol},
	"host":     {placeholderHost},
	"port":     {placeholderPort},
	"path":     {placeholderHost, placeholderPort, placeholderPath},
	"query":    {placeholderProtocol, placeholderHost, placeholderPort, placeholderPath, placeholderQuery},
}

// validateRedirect checks a redirect as ALB does, and everything the data
// plane's compiler (rules.Compile) would refuse, so that a document set that
// validates always loads: known placeholders only, in the components that
// take them; a host name without port, path or query; a port number; a path
// starting with /; a query without ?; nothing that would be written into the
// Location header as a control character or a space; and at least one
// component changed, so that a redirect never answers with itself.
func (l *Listener) validateRedirect(c *checker, p string, r *Redirect) {
	if r.StatusCode == "" {
		c.add(p+".statusCode", "statusCode is required (HTTP_301 or HTTP_302)")
	}
	c.oneOf(p+".statusCode", r.StatusCode, "HTTP_301", "HTTP_302")
	c.oneOf(p+".protocol", r.Protocol, ProtocolHTTP, ProtocolHTTPS, placeholderProtocol)
	if r.Port != "" && r.Port != placeholderPort && !validPortNumber(r.Port) {
		c.add(p+".port", "%s is not a port (1..65535) or #{port}", quote(r.Port))
	}
	fields := []struct{ name, v string }{{"host", r.Host}, {"path", r.Path}, {"query", r.Query}}
	for _, f := range fields {
		if f.v == "" {
			continue
		}
		if len(f.v) > maxPattern {
			c.add(p+"."+f.name, "%s is longer than %d characters", f.name, maxPattern)
			continue
		}
		lit, misplaced, msg := templateLiteral(f.name, f.v)
		if msg == "" {
			msg = redirectLiteralProblem(f.name, f.v, lit)
		}
		if msg == "" && misplaced != "" {
			msg = misplaced + " cannot be used in " + f.name + " (allowed: " + strings.Join(redirectPlaceholders[f.name], ", ") + ")"
		}
		if msg != "" {
			c.add(p+"."+f.name, "%s", msg)
		}
	}
	if l.redirectsToItself(r) {
		c.add(p, "a redirect must change at least one of protocol, host, port, path and query; this one answers with its own URL")
	}
}

// validPortNumber accepts 1..65535 written in plain decimal digits.
func validPortNumber(s string) bool {
	if s == "" || s[0] == '0' || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

// templateLiteral returns the literal text of a redirect template (its
// placeholders removed) and the first placeholder the component does not
// take, or a syntax problem: an unterminated placeholder or an unknown one.
// The syntax is the data plane's: a placeholder runs from "#{" to the next
// "}".
func templateLiteral(field, s string) (lit, misplaced, problem string) {
	var b strings.Builder
	for {
		i := strings.Index(s, "#{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), misplaced, ""
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", "", "unterminated placeholder in " + quote(s) + ": want #{name}"
		}
		name := s[i : i+end+1]
		if !isPlaceholder(name) {
			return "", "", "unknown placeholder " + name + " (known: #{protocol}, #{host}, #{port}, #{path}, #{query})"
		}
		if misplaced == "" && !slices.Contains(redirectPlaceholders[field], name) {
			misplaced = name
		}
		s = s[i+end+1:]
	}
}

func isPlaceholder(s string) bool {
	return slices.Contains(redirectPlaceholders["query"], s)
}

// redirectLiteralProblem checks the literal text of a host, path or query
// template (v is the whole template, lit its text without placeholders).
// Literals go into the Location header as written, so spaces, control
// characters and non-ASCII bytes are refused everywhere (percent-encode
// them), and so is '#': a fragment is not a component a redirect may set.
func redirectLiteralProblem(field, v, lit string) string {
	if i := strings.IndexFunc(lit, func(r rune) bool { return r <= ' ' || r >= 0x7f }); i >= 0 {
		return field + " " + quote(v) + " contains a space, a control character or a non-ASCII character (percent-encode it)"
	}
	if strings.Contains(lit, "#") {
		return field + " " + quote(v) + " contains '#' (only in placeholders)"
	}
	switch field {
	case "host":
		return redirectHostProblem(v, lit)
	case "path":
		if !strings.HasPrefix(v, "/") {
			return "path must start with /"
		}
		if strings.Contains(lit, "?") {
			return "path " + quote(v) + " contains '?': set the query with query"
		}
	case "query":
		if strings.HasPrefix(v, "?") {
			return "query must not start with ?"
		}
	}
	return ""
}

// redirectHostProblem checks a host template: a host name (letters,
// digits, '-' and '.') or text around #{host}, never a port, a path, a query
// or user information.
func redirectHostProblem(v, lit string) string {
	if i := strings.IndexAny(lit, ":/?@"); i >= 0 {
		switch lit[i] {
		case ':':
			return "host " + quote(v) + " contains ':': set the port with port"
		case '/', '?':
			return "host " + quote(v) + " contains " + quote(lit[i:i+1]) + ": set the path with path and the query with query"
		}
		return "host " + quote(v) + " contains '@'"
	}
	if !validName(lit, "-.") {
		return "host " + quote(v) + " is not a host name (A-Z, a-z, 0-9, '-' and '.') or a template of #{host}"
	}
	if lit != v {
		return "" // the request's host fills the rest; its labels are its own
	}
	if len(v) > 253 {
		return "host " + quote(v) + " is longer than 253 characters"
	}
	for _, label := range strings.Split(v, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "host " + quote(v) + " is not a host name (labels of 1 to 63 characters, not starting or ending with '-')"
		}
	}
	return ""
}

// redirectsToItself reports whether every component of r keeps the
// request's value: unset, its own placeholder, or (protocol and port) the
// listener's own. Such a redirect loops forever; ALB refuses it too.
func (l *Listener) redirectsToItself(r *Redirect) bool {
	same := func(v string, identity ...string) bool {
		return v == "" || slices.Contains(identity, v)
	}
	port := []string{placeholderPort}
	if l.Port > 0 {
		port = append(port, strconv.Itoa(l.Port))
	}
	return same(r.Protocol, placeholderProtocol, l.EffectiveProtocol()) &&
		same(r.Host, placeholderHost) &&
		same(r.Port, port...) &&
		same(r.Path, "/"+placeholderPath) &&
		same(r.Query, placeholderQuery)
}
