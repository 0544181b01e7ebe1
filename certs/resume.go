package certs

import (
	"bytes"
	"crypto/tls"
)

// sessionNamePrefix marks the entry of SessionState.Extra that records the
// server name a session was established for. crypto/tls asks users of Extra
// to append only and to recognise their own entries by a prefix.
const sessionNamePrefix = "gantry-sni/1:"

// bindSessions makes cfg's session tickets carry the (normalized) server
// name they were issued under, and resume only under that same name and
// only while the listener still serves it. Anything else gets a full
// handshake, where GetCertificate applies the unknownSni policy: a TLS 1.3
// PSK resumption never calls GetCertificate, so without this a session
// obtained for a served name would be accepted under any name, "reject"
// included. RFC 6066 section 3 asks the same of TLS 1.2 servers ("MUST NOT
// accept the request to resume the session if the server_name extension
// contains a different name"). served reports whether a full handshake
// would be served a certificate for the name; it runs per resumption
// attempt, not per request.
func bindSessions(cfg *tls.Config, served func(name string) bool) {
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		ss.Extra = append(ss.Extra, append([]byte(sessionNamePrefix), normalizeName(cs.ServerName)...))
		return cfg.EncryptTicket(cs, ss)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := cfg.DecryptTicket(identity, cs)
		if ss == nil || err != nil {
			return nil, err // nil, nil: not ours or expired, a full handshake
		}
		name := normalizeName(cs.ServerName)
		issued, ok := sessionName(ss)
		if !ok || issued != name || !served(name) {
			return nil, nil
		}
		return ss, nil
	}
}

// sessionName is the server name bindSessions recorded in ss.
func sessionName(ss *tls.SessionState) (string, bool) {
	prefix := []byte(sessionNamePrefix)
	for _, e := range ss.Extra {
		if name, ok := bytes.CutPrefix(e, prefix); ok {
			return string(name), true
		}
	}
	return "", false
}
