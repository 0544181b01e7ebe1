package accesslog

import (
	"net/netip"
	"time"
)

// Type is the kind of request or connection an Entry records.
type Type uint8

// Entry types, as ALB's "type" field.
const (
	TypeHTTP  Type = iota // plain HTTP/1.x
	TypeHTTPS             // HTTP over TLS
	TypeWS                // WebSocket
	TypeWSS               // WebSocket over TLS
	TypeTCP               // a TCP or TLS listener's connection
)

var typeNames = [...]string{"http", "https", "ws", "wss", "tcp"}

// String returns ALB's name for t.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "-"
}

// scheme is the URL scheme written in the request field.
func (t Type) scheme() string {
	switch t {
	case TypeHTTPS:
		return "https"
	case TypeWS:
		return "ws"
	case TypeWSS:
		return "wss"
	}
	return "http"
}

// Entry is one access-log record. Every field is a fixed-size value, a string
// the caller already holds (listener and group names, constants) or a byte
// slice viewing the request, so filling one allocates nothing. Log encodes it
// before returning: the caller may reuse the Entry and the memory its slices
// point to right after. The zero value of a field means "absent" unless its
// comment says otherwise.
type Entry struct {
	// Type is http, https, ws, wss or tcp.
	Type Type
	// Time is when the response was sent (ALB: time). Zero: now.
	Time time.Time
	// ELB is the listener name.
	ELB string
	// Client is the client's address.
	Client netip.AddrPort
	// Target is the target's address; the zero value logs "-".
	Target netip.AddrPort

	// RequestProcessingTime is from receiving the request to sending it to a
	// target; TargetProcessingTime from sending it to the target's response
	// headers; ResponseProcessingTime from then to the response being sent.
	// A negative value logs -1 (not applicable, as ALB: e.g. no target).
	RequestProcessingTime  time.Duration
	TargetProcessingTime   time.Duration
	ResponseProcessingTime time.Duration

	// ELBStatusCode is the status sent to the client.
	ELBStatusCode int
	// TargetStatusCode is the target's status; 0 logs "-".
	TargetStatusCode int
	// ReceivedBytes and SentBytes count the request and response bytes.
	ReceivedBytes int64
	SentBytes     int64

	// Method, Host (host[:port] as the client named it), RequestURI (path and
	// query as received) and Protocol ("HTTP/1.1") make up ALB's request
	// field, "METHOD scheme://host/uri PROTOCOL". An empty Method logs
	// "- - - " as ALB does for a request it could not parse.
	Method     []byte
	Host       []byte
	RequestURI []byte
	Protocol   []byte
	// UserAgent is the User-Agent header.
	UserAgent []byte

	// SSLCipher and SSLProtocol describe the client's TLS session.
	SSLCipher   string
	SSLProtocol string
	// TargetGroup is the name of the group the request was forwarded to.
	TargetGroup string
	// TraceID is the trace_id field; empty logs "Root=" followed by RequestID.
	TraceID []byte
	// DomainName is the SNI server name the client sent.
	DomainName []byte
	// MatchedRulePriority is the priority of the rule that matched, 0 for the
	// default action; a negative value logs "-" (no rule was evaluated).
	MatchedRulePriority int
	// RequestCreationTime is when the request was received. Zero logs "-".
	RequestCreationTime time.Time
	// ActionsExecuted lists the actions taken, comma separated:
	// "forward", "redirect", "fixed-response", "waf"...
	ActionsExecuted string
	// RedirectURL is the Location of a redirect action.
	RedirectURL []byte
	// ErrorReason is ALB's error_reason: TargetConnectionError,
	// TargetResponseError, TargetTimeout, ...
	ErrorReason string
	// Classification and ClassificationReason are the desync verdict
	// ("acceptable", "ambiguous", "severe" and the reason name).
	Classification       string
	ClassificationReason string

	// RequestID is Gantry's request id (X-Request-Id).
	RequestID []byte
	// Traceparent is the W3C traceparent header passed through.
	Traceparent []byte
	// Retries counts the times the request was retried on another target.
	Retries int
	// StickyHit reports that a sticky cookie chose the target.
	StickyHit bool
	// DrainState is "draining" when the target was draining, else empty.
	DrainState string
}
