package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gantrylb/gantry/spec"
)

// Redirect is a compiled redirect action: one template per URI component
// (protocol://host:port/path?query). A component left unset in the document
// keeps the request's value. Templates may use #{protocol}, #{host}, #{port},
// #{path} (the path without its leading /) and #{query}, as ALB.
type Redirect struct {
	status   int
	protocol template
	host     template
	port     template
	path     template
	query    template
}

// StatusCode returns 301 or 302.
func (r *Redirect) StatusCode() int { return r.status }

// placeholder names a request value a template substitutes.
type placeholder uint8

const (
	phNone placeholder = iota
	phProtocol
	phHost
	phPort
	phPath
	phQuery
)

var placeholders = map[string]placeholder{
	"#{protocol}": phProtocol,
	"#{host}":     phHost,
	"#{port}":     phPort,
	"#{path}":     phPath,
	"#{query}":    phQuery,
}

// segment is a literal (ph == phNone) or a placeholder.
type segment struct {
	lit string
	ph  placeholder
}

// template is one URI component; set is false when the document left it out.
type template struct {
	set  bool
	segs []segment
}

// parseTemplate splits s into literals and placeholders. An unknown #{name}
// is an error; a # not followed by { is a literal.
func parseTemplate(s string) (template, error) {
	t := template{set: s != ""}
	for s != "" {
		i := strings.Index(s, "#{")
		if i < 0 {
			t.segs = append(t.segs, segment{lit: s})
			break
		}
		if i > 0 {
			t.segs = append(t.segs, segment{lit: s[:i]})
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return t, fmt.Errorf("unterminated placeholder in %q", s)
		}
		name := s[i : i+end+1]
		ph, ok := placeholders[name]
		if !ok {
			return t, fmt.Errorf("unknown placeholder %s", name)
		}
		t.segs = append(t.segs, segment{ph: ph})
		s = s[i+end+1:]
	}
	return t, nil
}

func compileRedirect(sr *spec.Redirect) (*Redirect, error) {
	r := &Redirect{}
	switch strings.ToUpper(sr.StatusCode) {
	case "HTTP_301", "301":
		r.status = 301
	case "HTTP_302", "302":
		r.status = 302
	default:
		return nil, fmt.Errorf("statusCode %q is neither HTTP_301 nor HTTP_302", sr.StatusCode)
	}
	var err error
	switch p := sr.Protocol; strings.ToUpper(p) {
	case "":
	case "HTTP", "HTTPS":
		r.protocol = template{set: true, segs: []segment{{lit: strings.ToLower(p)}}}
	case "#{PROTOCOL}":
		r.protocol = template{set: true, segs: []segment{{ph: phProtocol}}}
	default:
		return nil, fmt.Errorf("protocol %q is not HTTP, HTTPS or #{protocol}", p)
	}
	if p := sr.Port; p != "" && p != "#{port}" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || p[0] == '0' || p[0] == '+' {
			return nil, fmt.Errorf("port %q is not 1..65535 or #{port}", p)
		}
	}
	if r.port, err = parseTemplate(sr.Port); err != nil {
		return nil, fmt.Errorf("port: %w", err)
	}
	if r.host, err = parseTemplate(sr.Host); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	if sr.Path != "" && sr.Path[0] != '/' {
		return nil, errors.New("path must start with /")
	}
	if r.path, err = parseTemplate(sr.Path); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if strings.HasPrefix(sr.Query, "?") {
		return nil, errors.New("query must not start with ?")
	}
	if r.query, err = parseTemplate(sr.Query); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return r, nil
}

// uriValues are the request's components a template draws on.
type uriValues struct {
	scheme, host, port, path, query []byte
}

// AppendLocation appends the redirect's Location to dst and returns it. It
// does not allocate when dst has the capacity. scheme is "http" or "https";
// host is the Host header (a :port is dropped); port is the listener port as
// text; path is the path as the rules saw it (decoded: it is percent-encoded
// here where a URI needs it) and query the raw query string without '?'.
// The port is left out when it is the default of the resulting scheme, and
// the '?' when the resulting query is empty.
func (r *Redirect) AppendLocation(dst, scheme, host, port, path, query []byte) []byte {
	v := uriValues{scheme: scheme, host: stripPort(host), port: port, path: path, query: query}
	start := len(dst)
	if r.protocol.set {
		dst = r.protocol.render(dst, &v)
	} else {
		dst = appendEscaped(dst, scheme, hostSafe)
	}
	for i := start; i < len(dst); i++ {
		dst[i] = lower(dst[i])
	}
	defPort := ""
	switch string(dst[start:]) {
	case "http":
		defPort = "80"
	case "https":
		defPort = "443"
	}
	dst = append(dst, "://"...)
	if r.host.set {
		dst = r.host.render(dst, &v)
	} else {
		dst = appendEscaped(dst, v.host, hostSafe)
	}
	colon := len(dst)
	dst = append(dst, ':')
	if r.port.set {
		dst = r.port.render(dst, &v)
	} else {
		dst = appendEscaped(dst, port, hostSafe)
	}
	if p := dst[colon+1:]; len(p) == 0 || string(p) == defPort {
		dst = dst[:colon]
	}
	mark := len(dst)
	if r.path.set {
		dst = r.path.render(dst, &v)
	} else {
		dst = appendEscaped(dst, path, pathSafe)
	}
	if len(dst) == mark || dst[mark] != '/' {
		dst = append(dst, '/')
		copy(dst[mark+1:], dst[mark:len(dst)-1])
		dst[mark] = '/'
	}
	mark = len(dst)
	dst = append(dst, '?')
	if r.query.set {
		dst = r.query.render(dst, &v)
	} else {
		dst = appendEscaped(dst, query, querySafe)
	}
	if len(dst) == mark+1 {
		dst = dst[:mark]
	}
	return dst
}

// render appends the template with v substituted; literals are written as
// configured, request values escaped by their own class (#{path} as a path,
// #{query} as a query, the others as a host).
func (t *template) render(dst []byte, v *uriValues) []byte {
	for _, s := range t.segs {
		switch s.ph {
		case phNone:
			dst = append(dst, s.lit...)
		case phProtocol:
			dst = appendEscaped(dst, v.scheme, hostSafe)
		case phHost:
			dst = appendEscaped(dst, v.host, hostSafe)
		case phPort:
			dst = appendEscaped(dst, v.port, hostSafe)
		case phPath:
			p := v.path
			if len(p) > 0 && p[0] == '/' {
				p = p[1:]
			}
			dst = appendEscaped(dst, p, pathSafe)
		case phQuery:
			dst = appendEscaped(dst, v.query, querySafe)
		}
	}
	return dst
}

// Byte classes kept as they are in a Location; every other byte becomes %XX.
// Control bytes, space and non-ASCII are escaped everywhere so a request can
// never inject a header line or an ill-formed URI.
var pathSafe, querySafe, hostSafe = byteClasses()

func byteClasses() (path, query, host *[256]bool) {
	path, query, host = new([256]bool), new([256]bool), new([256]bool)
	for c := 0x21; c < 0x7f; c++ {
		query[c] = c != '#'
		host[c] = !strings.ContainsRune(`#/?@\%`, rune(c))
	}
	// RFC 3986 pchar plus '/': unreserved, sub-delims, ':' and '@'. '%' is
	// escaped because the path arrives decoded.
	const pchar = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/"
	for i := 0; i < len(pchar); i++ {
		path[pchar[i]] = true
	}
	return path, query, host
}

const hexDigits = "0123456789ABCDEF"

// appendEscaped appends src with the bytes outside safe percent-encoded.
func appendEscaped(dst, src []byte, safe *[256]bool) []byte {
	for _, c := range src {
		if safe[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return dst
}

// stripPort drops a :port from a Host header value, keeping [v6] brackets.
func stripPort(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		for i, c := range h {
			if c == ']' {
				return h[:i+1]
			}
		}
		return h
	}
	for i, c := range h {
		if c == ':' {
			return h[:i]
		}
	}
	return h
}
