// Package rules owns the compilation of one listener's rules (spec.Listener)
// into a Table, and Table.Match, which the data plane calls once per request to
// find the action of the lowest-priority rule whose conditions all hold (the
// listener's default action when none does). It also renders redirect
// Locations and exposes forward weights; choosing a group by weight is left to
// the caller.
//
// Semantics follow ALB listener rules: conditions are ANDed across types and
// ORed within a list; host patterns are case-insensitive with the port and
// a trailing dot ignored, path patterns are case-sensitive and matched
// against the whole path; * matches any run of characters and ? exactly one
// (one UTF-8 character, an invalid byte counting as one). In query string
// keys and values, \* and \? stand for a literal * and ?, as in ALB.
//
// Match is on the hot path: it must never allocate, block, log or keep the
// Request past the call, and its cost must not grow with the number of rules.
// The package must never do I/O, start goroutines or import the control plane.
package rules
