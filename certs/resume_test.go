package certs

import (
	"crypto/tls"
	"strings"
	"sync"
	"testing"

	"github.com/gantrylb/gantry/spec"
)

// anyNameCache is a client session cache that offers the first session it
// was given for every server name, as `openssl s_client -sess_in` does:
// crypto/tls's own cache is keyed by name and would never try another.
type anyNameCache struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

func (c *anyNameCache) Get(string) (*tls.ClientSessionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs, c.cs != nil
}

func (c *anyNameCache) Put(_ string, cs *tls.ClientSessionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cs == nil {
		c.cs = cs
	}
}

// TestResumptionUnderAnotherName: a session established for one name and
// offered under another is never resumed (RFC 6066 section 3); the
// handshake is a full one, so unknownSni "reject" refuses a name the
// listener does not serve, which TLS 1.3 resumption used to bypass.
func TestResumptionUnderAnotherName(t *testing.T) {
	for _, policy := range []string{spec.UnknownSNIDefault, spec.UnknownSNIReject} {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(policy+"/"+tls.VersionName(v), func(t *testing.T) {
				f := newSNIFixture(t, policy)
				_, addr := f.serve(t, Options{})
				cases := []struct {
					sni, want string // want "" means unrecognized_name
					resume    bool
				}{
					{"b.example.com", "b", false}, // the first session
					{"b.example.com", "b", true},  // resumed under its own name
					{"B.Example.com.", "b", true}, // the same name, normalized
					{"c.example.com", "wild", false},
					{"other.test", map[string]string{"default": "a"}[policy], false},
					{"b.example.com", "b", true}, // the session still resumes
				}
				cache := &anyNameCache{}
				for i, tc := range cases {
					conn, err := dialTLS(addr, tc.sni, f.ca.pool, func(c *tls.Config) {
						c.MaxVersion = v
						c.ClientSessionCache = cache
						// crypto/tls only offers a session whose certificate
						// covers the name; a client that does not verify
						// (openssl s_client) offers it anyway.
						c.InsecureSkipVerify = true
					})
					if tc.want == "" {
						if err == nil {
							conn.Close()
							t.Fatalf("connection %d (SNI %q): handshake succeeded, want unrecognized_name", i, tc.sni)
						}
						if !strings.Contains(err.Error(), "unrecognized name") {
							t.Fatalf("connection %d (SNI %q): error %v, want unrecognized name alert", i, tc.sni, err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("connection %d (SNI %q): %v", i, tc.sni, err)
					}
					// Reading an answer makes the client process the TLS 1.3
					// tickets the server sent after the handshake.
					roundTrip(t, conn, "x")
					cs := conn.ConnectionState()
					if cs.DidResume != tc.resume {
						t.Errorf("connection %d (SNI %q): DidResume = %v, want %v", i, tc.sni, cs.DidResume, tc.resume)
					}
					if got := served(conn); got != tc.want {
						t.Errorf("connection %d (SNI %q) served %q, want %q", i, tc.sni, got, tc.want)
					}
					conn.Close()
				}
			})
		}
	}
}
