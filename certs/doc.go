// Package certs owns the server certificates of HTTPS and TLS listeners: it
// builds each listener's tls.Config, loads PEM certificate files and reloads
// them when they change on disk, picks a certificate by SNI, and obtains and
// renews certificates automatically with ACME (golang.org/x/crypto/acme/autocert),
// answering tls-alpn-01 challenges in the handshake and http-01 challenges
// through Provider.HTTPChallenge.
//
// The balancer consumes a Provider through an interface it declares
// (ServerConfig); cmd wires the Provider's Run loop and HTTPChallenge.
//
// Policy choices:
//   - TLS 1.2 minimum; TLS 1.2 cipher suites are ECDHE with AES-GCM or
//     ChaCha20-Poly1305 only (TLS 1.3 suites are not configurable in Go and
//     are all modern).
//   - ALPN on HTTPS listeners offers "http/1.1" only (the data plane has no
//     HTTP/2), plus "acme-tls/1" with ACME. A client that offers only "h2"
//     fails the handshake with a no_application_protocol alert, as RFC 7301
//     requires, instead of being served a protocol it did not ask for. TLS
//     listeners carry opaque bytes to any TCP service and offer no protocol
//     (as NLB's): the handshake succeeds whatever the client offers and
//     selects none, except "acme-tls/1" for a CA validating tls-alpn-01.
//   - Session resumption uses crypto/tls session tickets whose keys
//     crypto/tls rotates itself (a new key daily, each valid for 7 days). Keys
//     belong to a tls.Config, so resumption survives certificate reloads but
//     not a change of the listener's certificate configuration. A ticket
//     records the server name it was issued for and resumes only under that
//     name while the listener still serves it; otherwise the handshake is a
//     full one, so unknownSni "reject" holds for resumed sessions too.
//   - SNI: an exact name wins over a wildcard ("*.example.com" covers
//     exactly one label); names are compared case-insensitively without a
//     trailing dot. The names of a leaf are its DNS SANs, or its common name
//     when it has no DNS SAN (a CN beside DNS SANs is ignored, as by
//     clients). The first certificate is the default for clients without
//     SNI and, with unknownSni "default", for unknown names; with "reject" an
//     unknown name fails the handshake with an unrecognized_name alert.
//   - A certificate file that becomes unreadable or invalid never replaces a
//     working one: the old certificates keep serving and the error is logged
//     and counted. An expired certificate is served, with a warning.
//
// The package must never import the balancer (its consumer), rules, health
// or the control plane; it depends on spec only. Its handshake path (the
// GetCertificate callbacks) does one atomic load and at most two map lookups.
package certs
