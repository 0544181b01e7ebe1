package accesslog

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// AppendJSON appends e as one JSON object and a newline to dst. It allocates
// only when dst must grow.
func AppendJSON(dst []byte, e *Entry) []byte {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	dst = append(dst, `{"type":"`...)
	dst = append(dst, e.Type.String()...)
	dst = append(dst, `","time":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","elb":`...)
	dst = appendString(dst, e.ELB)
	dst = append(dst, `,"client":`...)
	dst = appendAddr(dst, e.Client)
	dst = append(dst, `,"target":`...)
	dst = appendAddr(dst, e.Target)
	dst = append(dst, `,"request_processing_time":`...)
	dst = appendSeconds(dst, e.RequestProcessingTime)
	dst = append(dst, `,"target_processing_time":`...)
	dst = appendSeconds(dst, e.TargetProcessingTime)
	dst = append(dst, `,"response_processing_time":`...)
	dst = appendSeconds(dst, e.ResponseProcessingTime)
	dst = append(dst, `,"elb_status_code":`...)
	dst = strconv.AppendInt(dst, int64(e.ELBStatusCode), 10)
	dst = append(dst, `,"target_status_code":"`...)
	if e.TargetStatusCode > 0 {
		dst = strconv.AppendInt(dst, int64(e.TargetStatusCode), 10)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, `","received_bytes":`...)
	dst = strconv.AppendInt(dst, e.ReceivedBytes, 10)
	dst = append(dst, `,"sent_bytes":`...)
	dst = strconv.AppendInt(dst, e.SentBytes, 10)
	dst = append(dst, `,"request":`...)
	dst = appendRequest(dst, e)
	dst = append(dst, `,"user_agent":`...)
	dst = appendBytes(dst, e.UserAgent)
	dst = append(dst, `,"ssl_cipher":`...)
	dst = appendString(dst, e.SSLCipher)
	dst = append(dst, `,"ssl_protocol":`...)
	dst = appendString(dst, e.SSLProtocol)
	dst = append(dst, `,"target_group":`...)
	dst = appendString(dst, e.TargetGroup)
	dst = append(dst, `,"trace_id":`...)
	dst = appendTraceID(dst, e)
	dst = append(dst, `,"domain_name":`...)
	dst = appendBytes(dst, e.DomainName)
	dst = append(dst, `,"matched_rule_priority":"`...)
	if e.MatchedRulePriority >= 0 {
		dst = strconv.AppendInt(dst, int64(e.MatchedRulePriority), 10)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, `","request_creation_time":"`...)
	if e.RequestCreationTime.IsZero() {
		dst = append(dst, '-')
	} else {
		dst = e.RequestCreationTime.UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	dst = append(dst, `","actions_executed":`...)
	dst = appendString(dst, e.ActionsExecuted)
	dst = append(dst, `,"redirect_url":`...)
	dst = appendBytes(dst, e.RedirectURL)
	dst = append(dst, `,"error_reason":`...)
	dst = appendString(dst, e.ErrorReason)
	dst = append(dst, `,"classification":`...)
	dst = appendString(dst, e.Classification)
	dst = append(dst, `,"classification_reason":`...)
	dst = appendString(dst, e.ClassificationReason)
	dst = append(dst, `,"request_id":`...)
	dst = appendBytes(dst, e.RequestID)
	dst = append(dst, `,"traceparent":`...)
	dst = appendBytes(dst, e.Traceparent)
	dst = append(dst, `,"retries":`...)
	dst = strconv.AppendInt(dst, int64(e.Retries), 10)
	dst = append(dst, `,"sticky_hit":`...)
	dst = strconv.AppendBool(dst, e.StickyHit)
	dst = append(dst, `,"drain_state":`...)
	dst = appendString(dst, e.DrainState)
	return append(dst, "}\n"...)
}

// appendRequest writes ALB's request field: "GET http://host/path?q HTTP/1.1".
func appendRequest(dst []byte, e *Entry) []byte {
	if len(e.Method) == 0 {
		return append(dst, `"- - - "`...)
	}
	dst = append(dst, '"')
	dst = appendEscaped(dst, e.Method)
	dst = append(dst, ' ')
	dst = append(dst, e.Type.scheme()...)
	dst = append(dst, "://"...)
	dst = appendEscaped(dst, e.Host)
	dst = appendEscaped(dst, e.RequestURI)
	dst = append(dst, ' ')
	dst = appendEscaped(dst, e.Protocol)
	return append(dst, '"')
}

func appendTraceID(dst []byte, e *Entry) []byte {
	switch {
	case len(e.TraceID) > 0:
		return appendBytes(dst, e.TraceID)
	case len(e.RequestID) > 0:
		dst = append(dst, `"Root=`...)
		dst = appendEscaped(dst, e.RequestID)
		return append(dst, '"')
	}
	return append(dst, `"-"`...)
}

func appendAddr(dst []byte, a netip.AddrPort) []byte {
	if !a.IsValid() {
		return append(dst, `"-"`...)
	}
	dst = append(dst, '"')
	dst = a.AppendTo(dst)
	return append(dst, '"')
}

// appendSeconds writes d in seconds with microsecond precision, -1 when d is
// negative.
func appendSeconds(dst []byte, d time.Duration) []byte {
	if d < 0 {
		return append(dst, "-1"...)
	}
	us := int64(d / time.Microsecond)
	dst = strconv.AppendInt(dst, us/1e6, 10)
	frac := us % 1e6
	dst = append(dst, '.')
	for div := int64(1e5); div > 0; div /= 10 {
		dst = append(dst, byte('0'+frac/div%10))
	}
	return dst
}

// appendString writes s as a JSON string, "-" when empty.
func appendString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, `"-"`...)
	}
	dst = append(dst, '"')
	dst = appendEscapedString(dst, s)
	return append(dst, '"')
}

// appendBytes writes b as a JSON string, "-" when empty.
func appendBytes(dst []byte, b []byte) []byte {
	if len(b) == 0 {
		return append(dst, `"-"`...)
	}
	dst = append(dst, '"')
	dst = appendEscaped(dst, b)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendEscaped escapes b for the inside of a JSON string: quote, backslash
// and control characters as escapes, U+2028 and U+2029 as \u escapes (for
// JavaScript consumers, as encoding/json does), and each byte that is not part
// of a valid UTF-8 sequence as U+FFFD.
func appendEscaped(dst []byte, b []byte) []byte {
	start := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, b[start:i]...)
			dst = appendControl(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, b[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, b[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, b[start:]...)
}

// appendEscapedString is appendEscaped for a string, viewed without a copy
// (appendEscaped only reads it).
func appendEscapedString(dst []byte, s string) []byte {
	return appendEscaped(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// appendControl escapes an ASCII byte that cannot appear raw in a JSON string.
func appendControl(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
