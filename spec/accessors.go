package spec

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// The accessors below give the effective value of a field whether or not
// SetDefaults ran, so the data plane never repeats a default.

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// IsTCP reports whether the listener passes connections through (TCP or TLS)
// rather than proxying HTTP requests.
func (l *Listener) IsTCP() bool { return l.Protocol == ProtocolTCP || l.Protocol == ProtocolTLS }

// TerminatesTLS reports whether the listener needs certificates (HTTPS or TLS).
func (l *Listener) TerminatesTLS() bool {
	return l.Protocol == ProtocolHTTPS || l.Protocol == ProtocolTLS
}

// EffectiveProtocol is the listener's protocol, HTTP when unset.
func (l *Listener) EffectiveProtocol() string { return or(l.Protocol, ProtocolHTTP) }

// ListenAddress is the host:port to bind, such as ":8080" or "10.0.0.1:443".
func (l *Listener) ListenAddress() string {
	return net.JoinHostPort(l.Address, strconv.Itoa(l.Port))
}

// IdleTimeout closes idle client connections; 60s, or 350s on TCP and TLS listeners.
func (l *Listener) IdleTimeout() time.Duration {
	return seconds(or(l.IdleTimeoutSeconds, l.defaultIdleTimeout()))
}

// Effective returns the limits with every unset field defaulted.
func (lim Limits) Effective() Limits {
	lim.setDefaults()
	return lim
}

// RequestHeaderTimeout bounds reading a request's headers; default 30s.
func (lim Limits) RequestHeaderTimeout() time.Duration {
	return seconds(or(lim.RequestHeaderTimeoutSeconds, DefaultRequestHeaderTimeoutSeconds))
}

// Groups lists the forward's groups with effective weights: the TargetGroup
// shorthand becomes one group of weight 1. It allocates; call it off the hot path.
func (f *Forward) Groups() []WeightedTargetGroup {
	if f.TargetGroup != "" {
		return []WeightedTargetGroup{{Name: f.TargetGroup, Weight: ptr(DefaultWeight)}}
	}
	out := make([]WeightedTargetGroup, len(f.TargetGroups))
	for i, g := range f.TargetGroups {
		out[i] = WeightedTargetGroup{Name: g.Name, Weight: ptr(g.EffectiveWeight())}
	}
	return out
}

// EffectiveWeight is the group's weight, 1 when unset.
func (w WeightedTargetGroup) EffectiveWeight() int {
	if w.Weight == nil {
		return DefaultWeight
	}
	return *w.Weight
}

// Duration is how long a client stays with its group; default 1h.
func (s GroupStickiness) Duration() time.Duration {
	return seconds(or(s.DurationSeconds, DefaultGroupStickinessSeconds))
}

// IsTCP reports whether the group's targets take raw TCP connections.
func (g *TargetGroup) IsTCP() bool { return g.Protocol == ProtocolTCP }

// EffectiveProtocol is the group's protocol, HTTP when unset.
func (g *TargetGroup) EffectiveProtocol() string { return or(g.Protocol, ProtocolHTTP) }

// EffectiveAlgorithm is the group's algorithm, round_robin when unset.
func (g *TargetGroup) EffectiveAlgorithm() string { return or(g.Algorithm, AlgorithmRoundRobin) }

// HealthCheckProtocol is the protocol of active checks: HTTP, or TCP for TCP
// groups, when the health check does not say.
func (g *TargetGroup) HealthCheckProtocol() string {
	if g.HealthCheck.Protocol != "" {
		return g.HealthCheck.Protocol
	}
	if g.IsTCP() {
		return ProtocolTCP
	}
	return ProtocolHTTP
}

// DeregistrationDelay bounds draining a deregistered target; default 300s.
func (g *TargetGroup) DeregistrationDelay() time.Duration {
	if g.DeregistrationDelaySeconds == nil {
		return seconds(DefaultDeregistrationDelaySeconds)
	}
	return seconds(*g.DeregistrationDelaySeconds)
}

// SlowStart is the ramp-up of a new target; 0 when off.
func (g *TargetGroup) SlowStart() time.Duration { return seconds(g.SlowStartSeconds) }

// ConnectTimeout bounds connecting to a target; default 10s.
func (g *TargetGroup) ConnectTimeout() time.Duration {
	return seconds(or(g.ConnectTimeoutSeconds, DefaultConnectTimeoutSeconds))
}

// ResponseTimeout bounds the wait for a target's response headers; default 60s.
func (g *TargetGroup) ResponseTimeout() time.Duration {
	return seconds(or(g.ResponseTimeoutSeconds, DefaultResponseTimeoutSeconds))
}

// EffectiveWeight is the target's weight, 1 when unset.
func (t Target) EffectiveWeight() int { return or(t.Weight, DefaultWeight) }

// IsEnabled reports whether active checks run; default true.
func (hc HealthCheck) IsEnabled() bool { return hc.Enabled == nil || *hc.Enabled }

// Interval between checks of one target; default 30s.
func (hc HealthCheck) Interval() time.Duration {
	return seconds(or(hc.IntervalSeconds, DefaultIntervalSeconds))
}

// Timeout of one check; default 5s.
func (hc HealthCheck) Timeout() time.Duration {
	return seconds(or(hc.TimeoutSeconds, DefaultTimeoutSeconds))
}

// HealthyThreshold is the consecutive passes that make a target healthy; default 5.
func (hc HealthCheck) HealthyThreshold() int {
	return or(hc.HealthyThresholdCount, DefaultHealthyThresholdCount)
}

// UnhealthyThreshold is the consecutive failures that make a target unhealthy; default 2.
func (hc HealthCheck) UnhealthyThreshold() int {
	return or(hc.UnhealthyThresholdCount, DefaultUnhealthyThresholdCount)
}

// EffectivePath is the HTTP check's path; default "/".
func (hc HealthCheck) EffectivePath() string { return or(hc.Path, DefaultHealthCheckPath) }

// CheckPort is the port to check: trafficPort (the target's own) unless the
// health check names a port.
func (hc HealthCheck) CheckPort(trafficPort int) int {
	if p, err := strconv.Atoi(hc.Port); err == nil {
		return p
	}
	return trafficPort
}

// Codes parses the matcher (default "200").
func (hc HealthCheck) Codes() (Matcher, error) {
	return ParseMatcher(or(hc.Matcher, DefaultMatcher))
}

// Duration is the lifetime of the stickiness cookie; default 1 day.
func (s Stickiness) Duration() time.Duration {
	return seconds(or(s.DurationSeconds, DefaultStickinessSeconds))
}

// EffectiveType is lb_cookie unless the stickiness says app_cookie.
func (s Stickiness) EffectiveType() string { return or(s.Type, StickinessLBCookie) }

// IsEnabled reports whether outlier detection runs; default true.
func (o OutlierDetection) IsEnabled() bool { return o.Enabled == nil || *o.Enabled }

// Failures is the consecutive failures that eject a target; default 5.
func (o OutlierDetection) Failures() int {
	return or(o.ConsecutiveFailures, DefaultConsecutiveFailures)
}

// BaseEjection is the first ejection's length; default 30s.
func (o OutlierDetection) BaseEjection() time.Duration {
	return seconds(or(o.BaseEjectionSeconds, DefaultBaseEjectionSeconds))
}

// MaxEjection is the percentage of targets that may be ejected at once; default 50.
func (o OutlierDetection) MaxEjection() int {
	if o.MaxEjectionPercent == nil {
		return DefaultMaxEjectionPercent
	}
	return *o.MaxEjectionPercent
}

// CodeRange is an inclusive range of HTTP status codes.
type CodeRange struct{ Lo, Hi int }

// Matcher is a parsed health-check matcher: the codes that mean healthy.
type Matcher []CodeRange

// ParseMatcher parses ALB's matcher syntax: codes 200..499 separated by commas,
// or one range "200-299".
func ParseMatcher(s string) (Matcher, error) {
	if s == "" {
		return nil, errors.New("spec: parse matcher: empty")
	}
	var m Matcher
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		r, err := parseCode(lo)
		if err != nil {
			return nil, err
		}
		rng := CodeRange{r, r}
		if isRange {
			if strings.Contains(s, ",") {
				return nil, errors.New("spec: parse matcher: a range cannot be combined with other codes")
			}
			if rng.Hi, err = parseCode(hi); err != nil {
				return nil, err
			}
			if rng.Hi < rng.Lo {
				return nil, fmt.Errorf("spec: parse matcher: range %q is reversed", part)
			}
		}
		m = append(m, rng)
	}
	return m, nil
}

func parseCode(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || len(strings.TrimSpace(s)) != 3 {
		return 0, fmt.Errorf("spec: parse matcher: %q is not an HTTP status code", s)
	}
	if n < 200 || n > 499 {
		return 0, fmt.Errorf("spec: parse matcher: code %d is outside 200..499", n)
	}
	return n, nil
}

// Match reports whether code means healthy. It does not allocate.
func (m Matcher) Match(code int) bool {
	for _, r := range m {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}
