package spec

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTargetGroupDefaults(t *testing.T) {
	g := &TargetGroup{Name: "web", Targets: []Target{{Address: "h:1"}}}
	g.SetDefaults()
	want := &TargetGroup{
		Kind: KindTargetGroup, Name: "web", Protocol: ProtocolHTTP, Algorithm: AlgorithmRoundRobin,
		Targets: []Target{{Address: "h:1", Weight: 1}},
		HealthCheck: HealthCheck{Enabled: ptr(true), Protocol: ProtocolHTTP, Path: "/", Port: "traffic-port",
			IntervalSeconds: 30, TimeoutSeconds: 5, HealthyThresholdCount: 5, UnhealthyThresholdCount: 2, Matcher: "200"},
		Stickiness:                 Stickiness{Type: StickinessLBCookie, DurationSeconds: 86400},
		DeregistrationDelaySeconds: ptr(300),
		ConnectTimeoutSeconds:      10,
		ResponseTimeoutSeconds:     60,
		OutlierDetection:           OutlierDetection{Enabled: ptr(true), ConsecutiveFailures: 5, BaseEjectionSeconds: 30, MaxEjectionPercent: ptr(50)},
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("SetDefaults() =\n%+v\nwant\n%+v", g, want)
	}
	again := *g
	again.SetDefaults()
	if !reflect.DeepEqual(&again, g) {
		t.Errorf("SetDefaults is not idempotent: %+v", again)
	}

	tcp := &TargetGroup{Name: "db", Protocol: ProtocolTCP}
	tcp.SetDefaults()
	if hc := tcp.HealthCheck; hc.Protocol != ProtocolTCP || hc.Path != "" || hc.Matcher != "" {
		t.Errorf("TCP group health check = %+v, want TCP without path or matcher", hc)
	}
	if errs := tcp.Validate(); errs != nil {
		t.Errorf("TCP group with defaults: Validate() = %v", errs)
	}
}

func TestListenerDefaults(t *testing.T) {
	l := &Listener{Name: "l", Port: 80, Rules: []Rule{{Priority: 1, Action: Action{Forward: &Forward{
		TargetGroups: []WeightedTargetGroup{{Name: "a"}, {Name: "b", Weight: ptr(0)}},
		Stickiness:   &GroupStickiness{Enabled: true},
	}}}}}
	l.SetDefaults()
	if l.Kind != KindListener || l.Protocol != ProtocolHTTP || l.IdleTimeoutSeconds != 60 {
		t.Errorf("SetDefaults() kind, protocol, idle = %q %q %d, want Listener HTTP 60", l.Kind, l.Protocol, l.IdleTimeoutSeconds)
	}
	if want := (Limits{65536, 16384, 0, 65536, 30}); l.Limits != want {
		t.Errorf("Limits = %+v, want %+v", l.Limits, want)
	}
	f := l.Rules[0].Action.Forward
	if w0, w1 := *f.TargetGroups[0].Weight, *f.TargetGroups[1].Weight; w0 != 1 || w1 != 0 {
		t.Errorf("weights = %d, %d, want 1, 0 (an explicit 0 stays)", w0, w1)
	}
	if f.Stickiness.DurationSeconds != 3600 {
		t.Errorf("group stickiness duration = %d, want 3600", f.Stickiness.DurationSeconds)
	}
	tls := &Listener{Protocol: ProtocolTLS}
	tls.SetDefaults()
	if tls.IdleTimeoutSeconds != 350 {
		t.Errorf("TLS listener idle timeout = %d, want 350", tls.IdleTimeoutSeconds)
	}
}

func TestAccessorsWithoutDefaults(t *testing.T) {
	var g TargetGroup
	var l Listener
	tests := []struct {
		name      string
		got, want time.Duration
	}{
		{"DeregistrationDelay", g.DeregistrationDelay(), 300 * time.Second},
		{"ConnectTimeout", g.ConnectTimeout(), 10 * time.Second},
		{"ResponseTimeout", g.ResponseTimeout(), 60 * time.Second},
		{"SlowStart", g.SlowStart(), 0},
		{"Interval", g.HealthCheck.Interval(), 30 * time.Second},
		{"Timeout", g.HealthCheck.Timeout(), 5 * time.Second},
		{"Stickiness", g.Stickiness.Duration(), 24 * time.Hour},
		{"BaseEjection", g.OutlierDetection.BaseEjection(), 30 * time.Second},
		{"IdleTimeout", l.IdleTimeout(), 60 * time.Second},
		{"RequestHeaderTimeout", l.Limits.RequestHeaderTimeout(), 30 * time.Second},
		{"GroupStickiness", GroupStickiness{}.Duration(), time.Hour},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s() = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if !g.HealthCheck.IsEnabled() || !g.OutlierDetection.IsEnabled() || g.OutlierDetection.MaxEjection() != 50 {
		t.Errorf("enabled defaults wrong")
	}
	if p := (HealthCheck{Port: "8081"}).CheckPort(80); p != 8081 {
		t.Errorf("CheckPort(80) = %d, want 8081", p)
	}
	if p := (HealthCheck{}).CheckPort(80); p != 80 {
		t.Errorf("CheckPort(80) = %d, want 80", p)
	}
	if tcp := (&TargetGroup{Protocol: ProtocolTCP}); tcp.HealthCheckProtocol() != ProtocolTCP {
		t.Errorf("HealthCheckProtocol() of TCP group = %q, want TCP", tcp.HealthCheckProtocol())
	}
	f := &Forward{TargetGroup: "web"}
	if got := f.Groups(); len(got) != 1 || got[0].Name != "web" || got[0].EffectiveWeight() != 1 {
		t.Errorf("Groups() = %+v, want [web 1]", got)
	}
	if got := (&Listener{Port: 443, Address: "::1"}).ListenAddress(); got != "[::1]:443" {
		t.Errorf("ListenAddress() = %q, want [::1]:443", got)
	}
}

func TestMatcher(t *testing.T) {
	tests := []struct {
		matcher string
		code    int
		want    bool
	}{
		{"200", 200, true},
		{"200", 204, false},
		{"200,204", 204, true},
		{"200, 302", 302, true},
		{"200-299", 250, true},
		{"200-299", 300, false},
		{"404", 404, true},
	}
	for _, tt := range tests {
		m, err := ParseMatcher(tt.matcher)
		if err != nil {
			t.Fatalf("ParseMatcher(%q): %v", tt.matcher, err)
		}
		if got := m.Match(tt.code); got != tt.want {
			t.Errorf("ParseMatcher(%q).Match(%d) = %v, want %v", tt.matcher, tt.code, got, tt.want)
		}
	}
	for _, bad := range []string{"", "2xx", "100", "500", "200-299,300", "299-200", "2000", "200-"} {
		if _, err := ParseMatcher(bad); err == nil {
			t.Errorf("ParseMatcher(%q) = nil error, want one", bad)
		}
	}
}

func TestMatcherMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m, _ := ParseMatcher("200,204,301-302")
	if n := testing.AllocsPerRun(100, func() { m.Match(302) }); n != 0 {
		t.Errorf("Match allocates %v times, want 0", n)
	}
}

func BenchmarkMatcherMatch(b *testing.B) {
	m, _ := ParseMatcher("200,204,301-302")
	b.ReportAllocs()
	for b.Loop() {
		m.Match(302)
	}
}

// FuzzParseMatcher: ParseMatcher never panics; what it accepts matches only
// codes 200..499, and matches every code and range end it was given.
func FuzzParseMatcher(f *testing.F) {
	for _, s := range []string{"200", "200,204", "200-299", "199", "500", "2xx", "200-", "-200", "299-200", " 200 , 302 ", "200-299,404", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMatcher(s)
		if err != nil {
			return
		}
		for c := 0; c < 700; c++ {
			if m.Match(c) && (c < 200 || c > 499) {
				t.Fatalf("ParseMatcher(%q) matches %d, outside 200..499", s, c)
			}
		}
		for part := range strings.SplitSeq(s, ",") {
			lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
			for _, code := range []string{lo, hi} {
				if code == "" && !isRange {
					continue
				}
				n, err := strconv.Atoi(strings.TrimSpace(code))
				if err != nil || !m.Match(n) {
					t.Fatalf("ParseMatcher(%q) accepted part %q but does not match %q", s, part, code)
				}
				if !isRange {
					break
				}
			}
		}
	})
}
