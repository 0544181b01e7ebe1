package spec

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

func quote(s string) string { return strconv.Quote(s) }

// inRange checks an optional integer: absent means default, otherwise
// lo..hi. A zero written in the document is checked like any other value
// (it does not quietly mean "default" when 0 is out of range).
func (c *checker) inRange(path string, v, lo, hi int) {
	if v == 0 {
		if _, written := c.positions[path]; !written {
			return
		}
	}
	if v < lo || v > hi {
		c.add(path, "%d is out of range %d..%d", v, lo, hi)
	}
}

// oneOf checks an optional string against its allowed values.
func (c *checker) oneOf(path, v string, allowed ...string) {
	if v == "" {
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.add(path, "%s is not one of %s", quote(v), strings.Join(allowed, ", "))
}

// validName reports whether every byte of s is a letter, a digit or in extra.
func validName(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !isAlnum(b) && strings.IndexByte(extra, b) < 0 {
			return false
		}
	}
	return true
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// groupNameProblem says what is wrong with a target-group name, "" if nothing.
// ALB: 1..32 characters of [A-Za-z0-9-], not starting or ending with '-'.
func groupNameProblem(name string) string {
	switch {
	case name == "":
		return "name is required"
	case len(name) > 32:
		return "name is longer than 32 characters"
	case !validName(name, "-"):
		return "name may only contain A-Z, a-z, 0-9 and '-'"
	case name[0] == '-' || name[len(name)-1] == '-':
		return "name must not start or end with '-'"
	}
	return ""
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2).
func isToken(s string) bool {
	return s != "" && validName(s, "!#$%&'*+-.^_`|~")
}

// validCIDROrIP accepts "10.0.0.0/8", "2001:db8::/32" or a single address.
func validCIDROrIP(s string) bool {
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	// A zone (fe80::1%eth0) names an interface of one host: no client
	// address can carry it, and the data plane refuses it.
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// HostPortProblem says what is wrong with a target's "host:port" address,
// "" if nothing. An address is written one way only (no port with leading
// zeros, IP addresses in their canonical form), so that one endpoint cannot
// be listed, registered or deregistered under two spellings.
func HostPortProblem(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return quote(addr) + " is not host:port"
	}
	if host == "" {
		return quote(addr) + " has no host"
	}
	if strings.ContainsAny(host, " /\t@") {
		return quote(addr) + " has an invalid host"
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return quote(addr) + " has an invalid port (1..65535)"
	}
	if strconv.Itoa(p) != port {
		return fmt.Sprintf("%s: write the port as %d", quote(addr), p)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.String() != host {
			return fmt.Sprintf("%s: write the address as %s", quote(addr), net.JoinHostPort(a.String(), port))
		}
	} else if strings.Trim(host, "0123456789.") == "" {
		return quote(addr) + " has an invalid IPv4 address"
	}
	return ""
}

// validHostPattern accepts ALB host-header characters: A-Z a-z 0-9 - . * ?
func validHostPattern(s string) bool { return validName(s, "-.*?") }
