package spec

// Kinds of resource document.
const (
	KindListener    = "Listener"
	KindTargetGroup = "TargetGroup"
)

// Listener protocols.
const (
	ProtocolHTTP  = "HTTP"
	ProtocolHTTPS = "HTTPS"
	ProtocolTCP   = "TCP"
	ProtocolTLS   = "TLS"
)

// Target-group algorithms (ALB's load_balancing.algorithm.type values).
const (
	AlgorithmRoundRobin               = "round_robin"
	AlgorithmLeastOutstandingRequests = "least_outstanding_requests"
	AlgorithmWeightedRandom           = "weighted_random"
	// AlgorithmFlowHash (TCP groups only) picks a target by hashing the
	// client's address and port, as NLB's flow hash.
	AlgorithmFlowHash = "flow_hash"
)

// UnknownSNI policies.
const (
	UnknownSNIDefault = "default"
	UnknownSNIReject  = "reject"
)

// Stickiness types.
const (
	StickinessLBCookie  = "lb_cookie"
	StickinessAppCookie = "app_cookie"
)

// Position locates a node of a resource document: 1-based line and column.
type Position struct {
	File   string `json:"file,omitempty" yaml:"-"`
	Line   int    `json:"line,omitempty" yaml:"-"`
	Column int    `json:"column,omitempty" yaml:"-"`
}

// Listener accepts client connections on one port and routes each request
// through its rules (lowest priority first) to an action; DefaultAction
// applies when no rule matches. Shape and defaults follow ALB.
type Listener struct {
	Kind string `json:"kind" yaml:"kind"`
	// Name identifies the listener; unique among listeners. Required.
	Name string `json:"name" yaml:"name"`
	// Address is the IP to bind (Gantry extension). Default "" binds every interface.
	Address string `json:"address,omitempty" yaml:"address,omitempty"`
	// Port to listen on, 1..65535. Required.
	Port int `json:"port" yaml:"port"`
	// Protocol is HTTP, HTTPS, TCP or TLS. Default HTTP.
	Protocol string `json:"protocol,omitempty" yaml:"protocol,omitempty"`
	// Certificates for HTTPS and TLS listeners; the first is the default, SNI picks among them.
	Certificates []Certificate `json:"certificates,omitempty" yaml:"certificates,omitempty"`
	// ACME obtains certificates automatically instead of Certificates.
	ACME *ACME `json:"acme,omitempty" yaml:"acme,omitempty"`
	// UnknownSNI says what an HTTPS or TLS listener does with a client hello
	// naming a server none of its certificates covers: "default" serves the
	// first certificate (as ALB), "reject" fails the handshake with an
	// unrecognized_name alert. Default "default" (Gantry extension).
	UnknownSNI string `json:"unknownSni,omitempty" yaml:"unknownSni,omitempty"`
	// IdleTimeoutSeconds closes a client connection idle this long; it also bounds the
	// wait for a target's response unless the group sets its own. 1..4000, default 60
	// (350 for TCP and TLS listeners, as NLB).
	IdleTimeoutSeconds int `json:"idleTimeoutSeconds,omitempty" yaml:"idleTimeoutSeconds,omitempty"`
	// ProxyProtocol accepts PROXY v1/v2 headers from trusted peers.
	ProxyProtocol *ProxyProtocol `json:"proxyProtocol,omitempty" yaml:"proxyProtocol,omitempty"`
	// Limits bound what a client may send (Gantry extension).
	Limits Limits `json:"limits,omitempty" yaml:"limits,omitempty"`
	// Rules are evaluated lowest priority first.
	Rules []Rule `json:"rules,omitempty" yaml:"rules,omitempty"`
	// DefaultAction applies when no rule matches. Required.
	DefaultAction Action `json:"defaultAction" yaml:"defaultAction"`

	// Pos is where the document starts; Positions maps a field path such as
	// "rules[2].priority" to where its value stands. Filled by Decode.
	Pos       Position            `json:"-" yaml:"-"`
	Positions map[string]Position `json:"-" yaml:"-"`
}

// Limits bounds client requests on a listener. Zero fields take the defaults.
type Limits struct {
	// MaxRequestHeaderBytes bounds the request line plus headers; larger gets 431.
	// 1024..1048576, default 65536.
	MaxRequestHeaderBytes int `json:"maxRequestHeaderBytes,omitempty" yaml:"maxRequestHeaderBytes,omitempty"`
	// MaxURIBytes bounds the request target; longer gets 414. 256..1048576, default 16384.
	MaxURIBytes int `json:"maxUriBytes,omitempty" yaml:"maxUriBytes,omitempty"`
	// MaxRequestBodyBytes bounds a request body; larger gets 413. Default 0: no limit (as ALB).
	MaxRequestBodyBytes int64 `json:"maxRequestBodyBytes,omitempty" yaml:"maxRequestBodyBytes,omitempty"`
	// MaxConnections bounds concurrent client connections; more are refused and counted.
	// Default 65536.
	MaxConnections int `json:"maxConnections,omitempty" yaml:"maxConnections,omitempty"`
	// RequestHeaderTimeoutSeconds bounds reading a request's headers; slower gets 408.
	// 1..3600, default 30.
	RequestHeaderTimeoutSeconds int `json:"requestHeaderTimeoutSeconds,omitempty" yaml:"requestHeaderTimeoutSeconds,omitempty"`
}

// Certificate names a PEM certificate chain and its key.
type Certificate struct {
	CertFile string `json:"certFile" yaml:"certFile"`
	KeyFile  string `json:"keyFile" yaml:"keyFile"`
}

// ACME configures automatic certificates.
type ACME struct {
	Domains      []string `json:"domains" yaml:"domains"`
	Email        string   `json:"email,omitempty" yaml:"email,omitempty"`
	DirectoryURL string   `json:"directoryUrl,omitempty" yaml:"directoryUrl,omitempty"`
}

// ProxyProtocol lists the peers whose PROXY headers are believed.
type ProxyProtocol struct {
	TrustedCIDRs []string `json:"trustedCidrs" yaml:"trustedCidrs"`
}

// Rule routes requests matching all its conditions to its action.
type Rule struct {
	// Priority orders rules, lowest first; 1..50000, unique per listener. Required.
	Priority   int        `json:"priority" yaml:"priority"`
	Conditions Conditions `json:"conditions" yaml:"conditions"`
	Action     Action     `json:"action" yaml:"action"`
}

// Conditions are ANDed across fields and ORed within a list. Patterns use
// ALB's wildcards: * matches any run of characters, ? exactly one.
type Conditions struct {
	// HostHeader patterns, compared case-insensitively, port ignored.
	HostHeader []string `json:"hostHeader,omitempty" yaml:"hostHeader,omitempty"`
	// PathPattern patterns, case-sensitive, against the path as forwarded.
	PathPattern []string `json:"pathPattern,omitempty" yaml:"pathPattern,omitempty"`
	// HTTPRequestMethod names, case-sensitive as ALB.
	HTTPRequestMethod []string `json:"httpRequestMethod,omitempty" yaml:"httpRequestMethod,omitempty"`
	// HTTPHeader maps a header name (case-insensitive) to value patterns (case-insensitive).
	HTTPHeader map[string][]string `json:"httpHeader,omitempty" yaml:"httpHeader,omitempty"`
	// QueryString pairs; an empty key matches any key with that value.
	QueryString []KeyValue `json:"queryString,omitempty" yaml:"queryString,omitempty"`
	// SourceIP CIDR blocks (or single addresses) of the client.
	SourceIP []string `json:"sourceIp,omitempty" yaml:"sourceIp,omitempty"`
	// SNI patterns; TCP listeners only.
	SNI []string `json:"sni,omitempty" yaml:"sni,omitempty"`
}

// KeyValue is one queryString condition; patterns are case-insensitive.
type KeyValue struct {
	Key   string `json:"key,omitempty" yaml:"key,omitempty"`
	Value string `json:"value" yaml:"value"`
}

// Action is exactly one of Forward, Redirect or FixedResponse.
type Action struct {
	Forward       *Forward       `json:"forward,omitempty" yaml:"forward,omitempty"`
	Redirect      *Redirect      `json:"redirect,omitempty" yaml:"redirect,omitempty"`
	FixedResponse *FixedResponse `json:"fixedResponse,omitempty" yaml:"fixedResponse,omitempty"`
}

// Forward sends requests to one target group (TargetGroup) or spreads them over
// several by weight (TargetGroups); exactly one of the two is set.
type Forward struct {
	TargetGroup  string                `json:"targetGroup,omitempty" yaml:"targetGroup,omitempty"`
	TargetGroups []WeightedTargetGroup `json:"targetGroups,omitempty" yaml:"targetGroups,omitempty"`
	// Stickiness pins a client to the group it first got (cookie GANTRYLBTG).
	Stickiness *GroupStickiness `json:"stickiness,omitempty" yaml:"stickiness,omitempty"`
}

// WeightedTargetGroup is one group of a weighted forward; weight 0..999, default 1.
type WeightedTargetGroup struct {
	Name   string `json:"name" yaml:"name"`
	Weight *int   `json:"weight,omitempty" yaml:"weight,omitempty"`
}

// GroupStickiness is target-group stickiness on a weighted forward.
type GroupStickiness struct {
	Enabled bool `json:"enabled" yaml:"enabled"`
	// DurationSeconds 1..604800, default 3600.
	DurationSeconds int `json:"durationSeconds,omitempty" yaml:"durationSeconds,omitempty"`
}

// Redirect answers with a redirect built from the request. Each component may
// use #{protocol}, #{host}, #{port}, #{path} and #{query}; unset components keep
// the request's value. Path must start with /.
type Redirect struct {
	Protocol string `json:"protocol,omitempty" yaml:"protocol,omitempty"`
	Port     string `json:"port,omitempty" yaml:"port,omitempty"`
	Host     string `json:"host,omitempty" yaml:"host,omitempty"`
	Path     string `json:"path,omitempty" yaml:"path,omitempty"`
	Query    string `json:"query,omitempty" yaml:"query,omitempty"`
	// StatusCode is HTTP_301 or HTTP_302. Required.
	StatusCode string `json:"statusCode" yaml:"statusCode"`
}

// FixedResponse answers directly.
type FixedResponse struct {
	// StatusCode 2XX, 4XX or 5XX, as ALB (3XX is a redirect). Required.
	StatusCode  int    `json:"statusCode" yaml:"statusCode"`
	ContentType string `json:"contentType,omitempty" yaml:"contentType,omitempty"`
	// MessageBody up to 1024 bytes.
	MessageBody string `json:"messageBody,omitempty" yaml:"messageBody,omitempty"`
}

// TargetGroup is a set of targets behind one balancing algorithm and health check.
type TargetGroup struct {
	Kind string `json:"kind" yaml:"kind"`
	// Name identifies the group; 1..32 characters of [A-Za-z0-9-], as ALB. Required.
	Name string `json:"name" yaml:"name"`
	// Protocol is HTTP or TCP. Default HTTP.
	Protocol string `json:"protocol,omitempty" yaml:"protocol,omitempty"`
	// Algorithm: round_robin (default), least_outstanding_requests or weighted_random;
	// TCP groups may also use flow_hash.
	Algorithm string `json:"algorithm,omitempty" yaml:"algorithm,omitempty"`
	// Targets are static registrations: "host:port" strings or {address, weight} maps.
	Targets []Target `json:"targets,omitempty" yaml:"targets,omitempty"`
	// HealthCheck; ALB defaults.
	HealthCheck HealthCheck `json:"healthCheck,omitempty" yaml:"healthCheck,omitempty"`
	// Stickiness of clients to targets.
	Stickiness Stickiness `json:"stickiness,omitempty" yaml:"stickiness,omitempty"`
	// DeregistrationDelaySeconds bounds draining; 0..3600, default 300.
	DeregistrationDelaySeconds *int `json:"deregistrationDelaySeconds,omitempty" yaml:"deregistrationDelaySeconds,omitempty"`
	// SlowStartSeconds ramps a new target's share linearly; 0 (off) or 30..900.
	SlowStartSeconds int `json:"slowStartSeconds,omitempty" yaml:"slowStartSeconds,omitempty"`
	// ProxyProtocolV2 sends a PROXY v2 header to targets (TCP groups).
	ProxyProtocolV2 bool `json:"proxyProtocolV2,omitempty" yaml:"proxyProtocolV2,omitempty"`
	// ConnectTimeoutSeconds bounds connecting to a target; 1..60, default 10 (Gantry extension).
	ConnectTimeoutSeconds int `json:"connectTimeoutSeconds,omitempty" yaml:"connectTimeoutSeconds,omitempty"`
	// ResponseTimeoutSeconds bounds the wait for a target's response headers; expiry gets 504.
	// 1..4000, default 60 (ALB's idle timeout) (Gantry extension).
	ResponseTimeoutSeconds int `json:"responseTimeoutSeconds,omitempty" yaml:"responseTimeoutSeconds,omitempty"`
	// OutlierDetection ejects targets whose real traffic fails (Gantry extension).
	OutlierDetection OutlierDetection `json:"outlierDetection,omitempty" yaml:"outlierDetection,omitempty"`

	Pos       Position            `json:"-" yaml:"-"`
	Positions map[string]Position `json:"-" yaml:"-"`
}

// Target is one static registration.
type Target struct {
	// Address is host:port.
	Address string `json:"address" yaml:"address"`
	// Weight for weighted_random, 1..1000, default 1.
	Weight int `json:"weight,omitempty" yaml:"weight,omitempty"`
}

// HealthCheck configures active checks; zero fields take ALB's defaults.
type HealthCheck struct {
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	// Protocol HTTP (default) or TCP.
	Protocol string `json:"protocol,omitempty" yaml:"protocol,omitempty"`
	// Path for HTTP checks; default "/".
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// Port: "traffic-port" (default) or a number.
	Port string `json:"port,omitempty" yaml:"port,omitempty"`
	// IntervalSeconds 5..300, default 30.
	IntervalSeconds int `json:"intervalSeconds,omitempty" yaml:"intervalSeconds,omitempty"`
	// TimeoutSeconds 2..120, default 5, less than the interval.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty" yaml:"timeoutSeconds,omitempty"`
	// HealthyThresholdCount 2..10, default 5.
	HealthyThresholdCount int `json:"healthyThresholdCount,omitempty" yaml:"healthyThresholdCount,omitempty"`
	// UnhealthyThresholdCount 2..10, default 2.
	UnhealthyThresholdCount int `json:"unhealthyThresholdCount,omitempty" yaml:"unhealthyThresholdCount,omitempty"`
	// Matcher: HTTP codes such as "200", "200,204", "200-299"; default "200".
	Matcher string `json:"matcher,omitempty" yaml:"matcher,omitempty"`
}

// Stickiness pins a client to a target by cookie.
type Stickiness struct {
	Enabled bool `json:"enabled" yaml:"enabled"`
	// Type lb_cookie (default) or app_cookie.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// DurationSeconds 1..604800, default 86400.
	DurationSeconds int `json:"durationSeconds,omitempty" yaml:"durationSeconds,omitempty"`
	// CookieName is the application's cookie for app_cookie.
	CookieName string `json:"cookieName,omitempty" yaml:"cookieName,omitempty"`
}

// OutlierDetection ejects a target after consecutive failures of real traffic.
type OutlierDetection struct {
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	// ConsecutiveFailures (connection errors, timeouts, 5xx from the target) before
	// ejection; 1..1000, default 5.
	ConsecutiveFailures int `json:"consecutiveFailures,omitempty" yaml:"consecutiveFailures,omitempty"`
	// BaseEjectionSeconds, multiplied by the number of times the target was ejected
	// (up to 10x, decaying while it stays in); 1..3600, default 30.
	BaseEjectionSeconds int `json:"baseEjectionSeconds,omitempty" yaml:"baseEjectionSeconds,omitempty"`
	// MaxEjectionPercent of a group's targets that may be ejected at once; 0..100, default 50.
	MaxEjectionPercent *int `json:"maxEjectionPercent,omitempty" yaml:"maxEjectionPercent,omitempty"`
}

// Target health states (ALB DescribeTargetHealth).
const (
	TargetInitial   = "initial"
	TargetHealthy   = "healthy"
	TargetUnhealthy = "unhealthy"
	TargetDraining  = "draining"
	TargetUnused    = "unused"
)

// TargetHealth is one target of a group as the API reports it.
type TargetHealth struct {
	Address string `json:"address"`
	Weight  int    `json:"weight,omitempty"`
	// State is initial, healthy, unhealthy, draining or unused.
	State string `json:"state"`
	// Reason is ALB's reason code, such as Target.ResponseCodeMismatch.
	Reason      string `json:"reason,omitempty"`
	Description string `json:"description,omitempty"`
	// Source is static (in the group document), registered (register-targets), docker or task.
	Source string `json:"source"`
	Node   string `json:"node,omitempty"`
	Task   string `json:"task,omitempty"`
	// InFlight is the number of requests in flight to the target on this node.
	InFlight int64 `json:"inFlight"`
	// Ejected is true while passive outlier detection keeps the target out.
	Ejected bool `json:"ejected,omitempty"`
}
