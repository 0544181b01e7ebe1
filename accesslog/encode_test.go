package accesslog

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"
	"unicode/utf8"
)

func fullEntry() *Entry {
	return &Entry{
		Type:                   TypeHTTPS,
		Time:                   time.Date(2026, 11, 22, 5, 7, 48, 186641000, time.FixedZone("CET", 3600)),
		ELB:                    "public",
		Client:                 netip.MustParseAddrPort("192.0.2.10:51234"),
		Target:                 netip.MustParseAddrPort("[2001:db8::1]:9001"),
		RequestProcessingTime:  1500 * time.Microsecond,
		TargetProcessingTime:   2*time.Second + 3*time.Millisecond,
		ResponseProcessingTime: 0,
		ELBStatusCode:          200,
		TargetStatusCode:       200,
		ReceivedBytes:          321,
		SentBytes:              4567,
		Method:                 []byte("GET"),
		Host:                   []byte("shop.example.com:8443"),
		RequestURI:             []byte("/cart?item=42"),
		Protocol:               []byte("HTTP/1.1"),
		UserAgent:              []byte("curl/8.4.0"),
		SSLCipher:              "ECDHE-RSA-AES128-GCM-SHA256",
		SSLProtocol:            "TLSv1.2",
		TargetGroup:            "web",
		DomainName:             []byte("shop.example.com"),
		MatchedRulePriority:    10,
		RequestCreationTime:    time.Date(2026, 11, 22, 4, 7, 48, 183000000, time.UTC),
		ActionsExecuted:        "forward",
		ErrorReason:            "",
		Classification:         "ambiguous",
		ClassificationReason:   "BothTeClPresent",
		RequestID:              []byte("0123456789abcdef"),
		Traceparent:            []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
		Retries:                1,
		StickyHit:              true,
		DrainState:             "draining",
	}
}

func TestAppendJSONFields(t *testing.T) {
	line := AppendJSON(nil, fullEntry())
	if line[len(line)-1] != '\n' || !json.Valid(line) {
		t.Fatalf("AppendJSON = %q, want one valid JSON line", line)
	}
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("unmarshal %q: %v", line, err)
	}
	want := map[string]any{
		"type":                     "https",
		"time":                     "2026-11-22T04:07:48.186641Z",
		"elb":                      "public",
		"client":                   "192.0.2.10:51234",
		"target":                   "[2001:db8::1]:9001",
		"request_processing_time":  0.0015,
		"target_processing_time":   2.003,
		"response_processing_time": 0.0,
		"elb_status_code":          200.0,
		"target_status_code":       "200",
		"received_bytes":           321.0,
		"sent_bytes":               4567.0,
		"request":                  "GET https://shop.example.com:8443/cart?item=42 HTTP/1.1",
		"user_agent":               "curl/8.4.0",
		"ssl_cipher":               "ECDHE-RSA-AES128-GCM-SHA256",
		"ssl_protocol":             "TLSv1.2",
		"target_group":             "web",
		"trace_id":                 "Root=0123456789abcdef",
		"domain_name":              "shop.example.com",
		"matched_rule_priority":    "10",
		"request_creation_time":    "2026-11-22T04:07:48.183Z",
		"actions_executed":         "forward",
		"redirect_url":             "-",
		"error_reason":             "-",
		"classification":           "ambiguous",
		"classification_reason":    "BothTeClPresent",
		"request_id":               "0123456789abcdef",
		"traceparent":              "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"retries":                  1.0,
		"sticky_hit":               true,
		"drain_state":              "draining",
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("AppendJSON field %q = %#v, want %#v", k, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("AppendJSON wrote %d fields, want %d: %s", len(got), len(want), line)
	}
}

func TestAppendJSONAbsentFields(t *testing.T) {
	e := &Entry{
		Type:                   TypeTCP,
		Time:                   time.Unix(0, 0),
		Client:                 netip.MustParseAddrPort("127.0.0.1:1"),
		RequestProcessingTime:  -1,
		TargetProcessingTime:   -1,
		ResponseProcessingTime: -1,
		ELBStatusCode:          503,
		MatchedRulePriority:    -1,
	}
	var got map[string]any
	if err := json.Unmarshal(AppendJSON(nil, e), &got); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	want := map[string]any{
		"type": "tcp", "target": "-", "target_status_code": "-", "request": "- - - ",
		"request_processing_time": -1.0, "target_processing_time": -1.0, "response_processing_time": -1.0,
		"user_agent": "-", "trace_id": "-", "matched_rule_priority": "-", "request_creation_time": "-",
		"sticky_hit": false, "retries": 0.0, "drain_state": "-", "time": "1970-01-01T00:00:00Z",
	}
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("AppendJSON field %q = %#v, want %#v", k, g, w)
		}
	}
}

func TestAppendEscaped(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"plain", "plain"},
		{`a"b\c`, `a\"b\\c`},
		{"\n\r\t", `\n\r\t`},
		{"\x00\x01\x1f", `\u0000\u0001\u001f`},
		{"\x7f", "\x7f"},
		{"café €", "café €"},
		{"\xff", `\ufffd`},
		{"a\xe2\x82", `a\ufffd\ufffd`},
		{"\xc0\xaf", `\ufffd\ufffd`},
		{"\u2028\u2029", `\u2028\u2029`},
		{"\U0001F600", "\U0001F600"},
	}
	for _, tc := range tests {
		if got := string(appendEscaped(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("appendEscaped(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := string(appendEscapedString(nil, tc.in)); got != tc.want {
			t.Errorf("appendEscapedString(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAppendSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0.000000"}, {time.Microsecond, "0.000001"}, {1500 * time.Millisecond, "1.500000"},
		{-time.Second, "-1"}, {999 * time.Nanosecond, "0.000000"}, {90 * time.Second, "90.000000"},
	}
	for _, tc := range tests {
		if got := string(appendSeconds(nil, tc.d)); got != tc.want {
			t.Errorf("appendSeconds(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// validUTF8 is the reference for what a decoded string field must hold: the
// input with each byte outside valid UTF-8 replaced by U+FFFD.
func validUTF8(b []byte) string {
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		out = append(out, r) // RuneError for an invalid byte, with size 1
		b = b[size:]
	}
	return string(out)
}

func FuzzAppendJSON(f *testing.F) {
	f.Add([]byte("GET"), []byte("host:80"), []byte("/p?q=1"), []byte("curl"), "web", []byte("id"))
	f.Add([]byte("G\"T"), []byte("\xff\xfe"), []byte("/\x00\n"), []byte("\u2028"), "\x01\\", []byte("\xe2\x82"))
	f.Fuzz(func(t *testing.T, method, host, uri, ua []byte, group string, id []byte) {
		e := fullEntry()
		e.Method, e.Host, e.RequestURI, e.UserAgent, e.TargetGroup, e.RequestID = method, host, uri, ua, group, id
		e.TraceID = nil
		line := AppendJSON(nil, e)
		if !json.Valid(line) {
			t.Fatalf("AppendJSON wrote invalid JSON: %q", line)
		}
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("unmarshal %q: %v", line, err)
		}
		check := func(key string, raw []byte) {
			want := "-"
			if len(raw) > 0 {
				want = validUTF8(raw)
			}
			if got[key] != want {
				t.Errorf("field %q = %q, want %q", key, got[key], want)
			}
		}
		check("user_agent", ua)
		check("target_group", []byte(group))
		check("request_id", id)
		if len(method) > 0 {
			want := validUTF8(method) + " https://" + validUTF8(host) + validUTF8(uri) + " HTTP/1.1"
			if got["request"] != want {
				t.Errorf("request = %q, want %q", got["request"], want)
			}
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	e := fullEntry()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], e)
	}
}
