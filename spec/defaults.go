package spec

// Defaults, as ALB and NLB have them unless marked as Gantry's.
const (
	DefaultIdleTimeoutSeconds          = 60    // ALB
	DefaultTCPIdleTimeoutSeconds       = 350   // NLB, for TCP and TLS listeners
	DefaultMaxRequestHeaderBytes       = 65536 // Gantry
	DefaultMaxURIBytes                 = 16384 // Gantry
	DefaultMaxConnections              = 65536 // Gantry
	DefaultRequestHeaderTimeoutSeconds = 30    // Gantry
	DefaultGroupStickinessSeconds      = 3600
	DefaultWeight                      = 1

	DefaultHealthCheckPath         = "/"
	DefaultHealthCheckPort         = "traffic-port"
	DefaultIntervalSeconds         = 30
	DefaultTimeoutSeconds          = 5
	DefaultHealthyThresholdCount   = 5
	DefaultUnhealthyThresholdCount = 2
	DefaultMatcher                 = "200"

	DefaultDeregistrationDelaySeconds = 300
	DefaultStickinessSeconds          = 86400
	DefaultConnectTimeoutSeconds      = 10 // Gantry
	DefaultResponseTimeoutSeconds     = 60 // Gantry: ALB's idle timeout
	DefaultConsecutiveFailures        = 5  // Gantry
	DefaultBaseEjectionSeconds        = 30 // Gantry
	DefaultMaxEjectionPercent         = 50 // Gantry
)

// SetDefaults fills every unset field of the listener with its default. It is
// idempotent and the only place listener defaults are applied.
func (l *Listener) SetDefaults() {
	l.Kind = KindListener
	l.Protocol = or(l.Protocol, ProtocolHTTP)
	if l.TerminatesTLS() {
		l.UnknownSNI = or(l.UnknownSNI, UnknownSNIDefault)
	}
	if l.IdleTimeoutSeconds == 0 {
		l.IdleTimeoutSeconds = l.defaultIdleTimeout()
	}
	l.Limits.setDefaults()
	for i := range l.Rules {
		l.Rules[i].Action.setDefaults()
	}
	l.DefaultAction.setDefaults()
}

func (l *Listener) defaultIdleTimeout() int {
	if l.IsTCP() {
		return DefaultTCPIdleTimeoutSeconds
	}
	return DefaultIdleTimeoutSeconds
}

func (lim *Limits) setDefaults() {
	lim.MaxRequestHeaderBytes = or(lim.MaxRequestHeaderBytes, DefaultMaxRequestHeaderBytes)
	lim.MaxURIBytes = or(lim.MaxURIBytes, DefaultMaxURIBytes)
	lim.MaxConnections = or(lim.MaxConnections, DefaultMaxConnections)
	lim.RequestHeaderTimeoutSeconds = or(lim.RequestHeaderTimeoutSeconds, DefaultRequestHeaderTimeoutSeconds)
}

func (a *Action) setDefaults() {
	f := a.Forward
	if f == nil {
		return
	}
	for i := range f.TargetGroups {
		if f.TargetGroups[i].Weight == nil {
			f.TargetGroups[i].Weight = ptr(DefaultWeight)
		}
	}
	if f.Stickiness != nil {
		f.Stickiness.DurationSeconds = or(f.Stickiness.DurationSeconds, DefaultGroupStickinessSeconds)
	}
}

// SetDefaults fills every unset field of the group with its default (TCP groups
// get TCP health checks). It is idempotent and the only place target-group
// defaults are applied.
func (g *TargetGroup) SetDefaults() {
	g.Kind = KindTargetGroup
	g.Protocol = or(g.Protocol, ProtocolHTTP)
	g.Algorithm = or(g.Algorithm, AlgorithmRoundRobin)
	for i := range g.Targets {
		g.Targets[i].Weight = or(g.Targets[i].Weight, DefaultWeight)
	}
	hc := &g.HealthCheck
	if hc.Enabled == nil {
		hc.Enabled = ptr(true)
	}
	if g.Protocol == ProtocolTCP {
		hc.Protocol = or(hc.Protocol, ProtocolTCP)
	}
	hc.Protocol = or(hc.Protocol, ProtocolHTTP)
	if hc.Protocol == ProtocolHTTP {
		hc.Path = or(hc.Path, DefaultHealthCheckPath)
		hc.Matcher = or(hc.Matcher, DefaultMatcher)
	}
	hc.Port = or(hc.Port, DefaultHealthCheckPort)
	hc.IntervalSeconds = or(hc.IntervalSeconds, DefaultIntervalSeconds)
	hc.TimeoutSeconds = or(hc.TimeoutSeconds, DefaultTimeoutSeconds)
	hc.HealthyThresholdCount = or(hc.HealthyThresholdCount, DefaultHealthyThresholdCount)
	hc.UnhealthyThresholdCount = or(hc.UnhealthyThresholdCount, DefaultUnhealthyThresholdCount)
	g.Stickiness.Type = or(g.Stickiness.Type, StickinessLBCookie)
	g.Stickiness.DurationSeconds = or(g.Stickiness.DurationSeconds, DefaultStickinessSeconds)
	if g.DeregistrationDelaySeconds == nil {
		g.DeregistrationDelaySeconds = ptr(DefaultDeregistrationDelaySeconds)
	}
	g.ConnectTimeoutSeconds = or(g.ConnectTimeoutSeconds, DefaultConnectTimeoutSeconds)
	g.ResponseTimeoutSeconds = or(g.ResponseTimeoutSeconds, DefaultResponseTimeoutSeconds)
	od := &g.OutlierDetection
	if od.Enabled == nil {
		od.Enabled = ptr(true)
	}
	od.ConsecutiveFailures = or(od.ConsecutiveFailures, DefaultConsecutiveFailures)
	od.BaseEjectionSeconds = or(od.BaseEjectionSeconds, DefaultBaseEjectionSeconds)
	if od.MaxEjectionPercent == nil {
		od.MaxEjectionPercent = ptr(DefaultMaxEjectionPercent)
	}
}

// or returns v, or def when v is the zero value.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func ptr[T any](v T) *T { return &v }
