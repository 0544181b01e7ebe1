// Package accesslog writes ALB-style access log entries as JSON lines, off the
// request path.
//
// It owns the [Entry] record (ALB's access-log fields under their snake_case
// names, plus Gantry's request_id, traceparent, retries, sticky_hit and
// drain_state), its JSON encoding, the bounded queue between request
// goroutines and the single writer goroutine ([Logger]), and opening and
// reopening the destination file ([Open], [Reopen]).
//
// It must never block or allocate on the caller's goroutine in steady state
// (a full queue drops the entry and counts it), never keep a reference to the
// caller's Entry or its byte slices after Log returns, and never decide what is
// logged: the balancer fills the Entry.
//
// Field conventions follow ALB: "-" for an absent string (target, target
// status code, user agent, TLS fields...), -1 for a processing time that does
// not apply, "0" as the matched rule priority of the default action. Times are
// RFC 3339 in UTC with nanoseconds. Strings are escaped for JSON from
// arbitrary bytes: control characters as escapes and every byte that is not
// part of valid UTF-8 as U+FFFD, so each line is valid JSON whatever a client
// sent.
package accesslog
