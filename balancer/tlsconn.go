package balancer

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantrylb/gantry/accesslog"
)

// acmeTLSALPN is the protocol an ACME CA negotiates to validate a
// tls-alpn-01 challenge (RFC 8737); no application data follows the
// handshake on such a connection.
const acmeTLSALPN = "acme-tls/1"

// tlsServerConn is a client connection of an HTTPS listener. The handshake
// runs on the first Read, in the connection's own goroutine, under the read
// deadline the HTTP server set for the first request head and a write
// deadline of the listener's header timeout. Its embedded *tls.Conn keeps
// the Handshake and ConnectionState methods fasthttp looks for (through
// desync.WrapConn) to treat the connection as TLS.
type tlsServerConn struct {
	*tls.Conn
	raw        net.Conn
	timeout    time.Duration
	errs       prometheus.Counter
	plain      func()
	started    bool // owned by the reading goroutine
	validation bool // acme-tls/1 was negotiated; owned by the reading goroutine
}

func newTLSServerConn(c net.Conn, st *listenerState, errs prometheus.Counter, plain func()) *tlsServerConn {
	return &tlsServerConn{Conn: tls.Server(c, st.tlsConfig), raw: c, timeout: st.headerTimeout, errs: errs, plain: plain}
}

func (c *tlsServerConn) Read(p []byte) (int, error) {
	if !c.started {
		c.started = true
		_ = c.raw.SetWriteDeadline(time.Now().Add(c.timeout))
		err := c.Conn.Handshake()
		_ = c.raw.SetWriteDeadline(time.Time{})
		if err != nil {
			handshakeFailed(err, c.errs, c.plain)
			return 0, err
		}
		quickAck(c.raw)
		// RFC 8737 section 3: the handshake is the whole validation. Ending
		// the stream here makes the HTTP server close the connection at
		// once, instead of holding it until the CA hangs up or the header
		// timeout, and no request can ride on a challenge handshake.
		c.validation = c.Conn.ConnectionState().NegotiatedProtocol == acmeTLSALPN
	}
	if c.validation {
		return 0, io.EOF
	}
	return c.Conn.Read(p)
}

// plainHTTPAnswer is what net/http answers a plain-HTTP request on a TLS
// port: the client gets a readable reason instead of a hang or garbage.
const plainHTTPAnswer = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

// handshakeFailed counts a failed client handshake (a client that went away
// before saying anything is not a negotiation error). On HTTPS listeners
// (plain set) a plain-HTTP request gets a plain 400 and plain is called.
func handshakeFailed(err error, errs prometheus.Counter, plain func()) {
	if errors.Is(err, io.EOF) {
		return
	}
	errs.Inc()
	var re tls.RecordHeaderError
	if plain != nil && errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader[:]) {
		plain()
		_ = re.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(re.Conn, plainHTTPAnswer)
		_ = re.Conn.Close()
	}
}

// looksLikeHTTP reports whether the first five bytes of a connection start
// an HTTP/1 request (net/http's test).
func looksLikeHTTP(hdr []byte) bool {
	switch string(hdr) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE", "TRACE":
		return true
	}
	return false
}

// tlsVersionName is the protocol name an access log shows, as ALB's
// ssl_protocol field.
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1"
	}
	return ""
}

// cipherName is a cipher suite as ALB's ssl_cipher shows it: the OpenSSL
// name ("ECDHE-RSA-AES128-GCM-SHA256") for TLS 1.2 suites, which is what
// log tooling written for ALB matches on; TLS 1.3 suites have one name in
// both (TLS_AES_128_GCM_SHA256). Suites the listeners never offer keep Go's
// name.
func cipherName(id uint16) string {
	switch id {
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
		return "ECDHE-ECDSA-AES128-GCM-SHA256"
	case tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:
		return "ECDHE-RSA-AES128-GCM-SHA256"
	case tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:
		return "ECDHE-ECDSA-AES256-GCM-SHA384"
	case tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return "ECDHE-RSA-AES256-GCM-SHA384"
	case tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:
		return "ECDHE-ECDSA-CHACHA20-POLY1305"
	case tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return "ECDHE-RSA-CHACHA20-POLY1305"
	}
	return tls.CipherSuiteName(id)
}

// fillTLS records a request's TLS session in its access-log entry.
func fillTLS(e *accesslog.Entry, c net.Conn) {
	e.Type = accesslog.TypeHTTPS
	tlsSessionOf(c).fill(e)
}

// tlsSession is what the access log shows of a client's TLS session.
type tlsSession struct {
	version, cipher uint16
	serverName      string
}

// tlsSessionOf reads the session of a client connection; the zero value
// when c is not TLS.
func tlsSessionOf(c net.Conn) tlsSession {
	tc, ok := c.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		return tlsSession{}
	}
	cs := tc.ConnectionState()
	return tlsSession{version: cs.Version, cipher: cs.CipherSuite, serverName: cs.ServerName}
}

// fill sets the entry's TLS fields (ALB's ssl_protocol, ssl_cipher and
// domain_name); a zero session leaves them unset.
func (s tlsSession) fill(e *accesslog.Entry) {
	if s.version == 0 {
		return
	}
	e.SSLProtocol = tlsVersionName(s.version)
	e.SSLCipher = cipherName(s.cipher)
	if s.serverName != "" {
		e.DomainName = []byte(s.serverName)
	}
}
