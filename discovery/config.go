package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// Profile selects the gossip timing.
type Profile string

const (
	// ProfileLAN is memberlist.DefaultLANConfig: probe every 1 s with a 500 ms
	// timeout, suspicion multiplier 4, gossip every 200 ms to 3 nodes, push/pull
	// every 30 s. See Config.DetectionTime for what that means for failures.
	ProfileLAN Profile = "lan"
	// ProfileTest is for in-process tests on loopback: probe every 200 ms with a
	// 100 ms timeout, suspicion multiplier 3 (max multiplier 4), gossip every
	// 50 ms, push/pull every 1 s, TCP timeout 2 s. A killed node of a 3-node
	// cluster is declared dead in about 1 s (DetectionTime: 1.05 s expected,
	// 3.05 s worst).
	ProfileTest Profile = "test"
)

// Config configures a Cluster. Zero fields take the defaults of the Profile,
// applied in one place (withDefaults); the Config is copied by New and not
// read again.
type Config struct {
	// NodeName is unique in the cluster. Default: the host name.
	NodeName string
	// BindAddr is the gossip address, UDP and TCP, host:port. Port 0 picks a
	// free port (tests). Default "0.0.0.0:7946". Ignored when Transport is set.
	BindAddr string
	// AdvertiseAddr is the host:port other nodes reach this one at. Default:
	// BindAddr, or this host's first private address when BindAddr is 0.0.0.0.
	AdvertiseAddr string
	// Join lists seeds (host:port). They are joined by Run, and re-joined every
	// RejoinInterval while not alive members, so the halves of a healed
	// partition merge again (memberlist alone never gossips with nodes it
	// has declared dead after GossipToTheDeadTime).
	Join []string
	// RejoinInterval is the period of seed and dead-member re-joins.
	// Default 30 s (lan), 1 s (test).
	RejoinInterval time.Duration
	// ReconnectTimeout is how long a failed (dead, not left) member stays
	// listed by Members and is retried by the re-join loop, as Serf's
	// reconnect_timeout. Default 1 h (lan), 1 min (test).
	ReconnectTimeout time.Duration
	// Keys is the encryption keyring (16, 24 or 32 bytes each: AES-128/192/256
	// GCM); the first is the primary, used to encrypt. Empty: no encryption.
	// With keys, unencrypted or undecryptable gossip is refused.
	Keys [][]byte
	// Meta is this node's metadata (roles, addresses, capacity, attributes);
	// at most 512 bytes encoded, else New fails with ErrMetaTooLarge.
	Meta NodeMeta
	// Profile selects the timing: ProfileLAN (default) or ProfileTest.
	Profile Profile
	// TombstoneTTL is how long a deregistered registration stays visible (as
	// draining) before it is forgotten. Default 5 min (lan, ALB's default
	// deregistration delay), 10 s (test).
	TombstoneTTL time.Duration
	// OrphanGrace is how long registrations of an owner that is not an alive
	// member are kept before being dropped. Default 30 s (lan), 2 s (test).
	OrphanGrace time.Duration
	// Logger receives operational logs, memberlist's included. Default: discard.
	Logger *slog.Logger
	// Registry receives the metrics. Default: none (metrics kept private).
	Registry prometheus.Registerer
	// Transport replaces memberlist's UDP/TCP transport (tests: partitions,
	// memberlist.MockNetwork). Default: a memberlist.NetTransport on BindAddr.
	Transport memberlist.Transport

	// onApply (tests) sees every registration stored, local or remote,
	// without locks held, from memberlist's goroutines.
	onApply func(Registration)
}

// DefaultLANConfig returns the defaults for production on a LAN.
func DefaultLANConfig() Config {
	return Config{Profile: ProfileLAN}.withDefaults()
}

// DefaultTestConfig returns fast timing for in-process tests on loopback.
func DefaultTestConfig() Config {
	return Config{Profile: ProfileTest, BindAddr: "127.0.0.1:0"}.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.Profile == "" {
		c.Profile = ProfileLAN
	}
	if c.NodeName == "" {
		c.NodeName, _ = os.Hostname()
	}
	if c.BindAddr == "" {
		c.BindAddr = "0.0.0.0:7946"
	}
	test := c.Profile == ProfileTest
	pick := func(d *time.Duration, lan, tst time.Duration) {
		if *d == 0 {
			*d = lan
			if test {
				*d = tst
			}
		}
	}
	pick(&c.RejoinInterval, 30*time.Second, time.Second)
	pick(&c.ReconnectTimeout, time.Hour, time.Minute)
	pick(&c.TombstoneTTL, 5*time.Minute, 10*time.Second)
	pick(&c.OrphanGrace, 30*time.Second, 2*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem of c (after defaults) at once.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.NodeName == "" || len(c.NodeName) > maxNameLen {
		errs = append(errs, fmt.Errorf("node name must have 1..%d bytes", maxNameLen))
	}
	if c.Profile != ProfileLAN && c.Profile != ProfileTest {
		errs = append(errs, fmt.Errorf("unknown profile %q (lan or test)", c.Profile))
	}
	for name, a := range map[string]string{"bind address": c.BindAddr, "advertise address": c.AdvertiseAddr} {
		if a == "" && name == "advertise address" {
			continue
		}
		if _, _, err := splitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	for i, k := range c.Keys {
		if err := memberlist.ValidateKey(k); err != nil {
			errs = append(errs, fmt.Errorf("key %d: %w", i, err))
		}
	}
	meta := c.Meta
	meta.Boot = 1 << 63 // the largest, as New will set
	if _, err := encodeMeta(meta); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("discovery: config: %w", err)
	}
	return nil
}

func splitHostPort(a string) (string, int, error) {
	host, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", a)
	}
	return host, port, nil
}

// memberlistConfig translates the profile to memberlist's timing.
func (c Config) memberlistConfig() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	// A node restarted under the same name at another address (a container
	// with a new IP) may take its name back after this long.
	mc.DeadNodeReclaimTime = 30 * time.Second
	if c.Profile == ProfileTest {
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 100 * time.Millisecond
		mc.SuspicionMult = 3
		mc.SuspicionMaxTimeoutMult = 4
		mc.IndirectChecks = 2
		mc.RetransmitMult = 3
		mc.GossipInterval = 50 * time.Millisecond
		mc.PushPullInterval = time.Second
		mc.GossipToTheDeadTime = 3 * time.Second
		mc.TCPTimeout = 2 * time.Second
		mc.DeadNodeReclaimTime = time.Second
	}
	return mc
}

// DetectionTime estimates how long the cluster takes, with n members, to
// declare a silently failed node dead and tell everyone, from memberlist's
// SWIM failure detector with Lifeguard suspicion (Das et al. 2002; Dadgar et
// al. 2018):
//
//	first probe of the dead node   ~ ProbeInterval (n-1 nodes each probe one
//	                                  member per interval, in shuffled rounds)
//	  + ProbeTimeout (direct and indirect probes fail)
//	  + suspicion timeout: min = SuspicionMult · max(1, log10 n) · ProbeInterval;
//	    it starts at SuspicionMaxTimeoutMult · min and falls toward min as
//	    SuspicionMult-2 other members confirm; with fewer than that many other
//	    members (n-2 < SuspicionMult-2) it is min from the start
//	  + dissemination of the dead message: RetransmitMult · ceil(log10(n+1)) gossip rounds.
//
// expected assumes the suspicion timeout at its minimum (confirmations
// arrive), worst at its maximum and the dead node probed last in two rounds
// (2 · ProbeInterval). memberlist's awareness (health score) can stretch the
// probe interval up to 8x on an overloaded node; that is not included.
//
// Figures (expected / worst): lan, n=3: 6.3 s / 7.3 s; lan, n=100: 11.9 s /
// 52.9 s; test, n=3: 1.05 s / 3.05 s (measured on loopback: about 0.9 s).
func (c Config) DetectionTime(n int) (expected, worst time.Duration) {
	mc := c.withDefaults().memberlistConfig()
	nodeScale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	minSusp := time.Duration(float64(mc.SuspicionMult) * nodeScale * float64(mc.ProbeInterval))
	maxSusp := minSusp
	if k := mc.SuspicionMult - 2; n-2 >= k && k > 0 {
		maxSusp = time.Duration(mc.SuspicionMaxTimeoutMult) * minSusp
	}
	rounds := mc.RetransmitMult * int(math.Ceil(math.Log10(float64(n+1))))
	spread := time.Duration(rounds) * mc.GossipInterval
	expected = mc.ProbeInterval + mc.ProbeTimeout + minSusp + spread
	worst = 2*mc.ProbeInterval + mc.ProbeTimeout + maxSusp + spread
	return expected, worst
}
