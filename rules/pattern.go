package rules

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// patKind picks the cheapest way to match a pattern.
type patKind uint8

const (
	patExact  patKind = iota // no wildcard: lit == input
	patAny                   // only stars: matches everything
	patPrefix                // lit*: input starts with lit
	patSuffix                // *lit: input ends with lit
	patGlob                  // anything else
)

// pattern is a compiled ALB wildcard pattern: * matches any run of
// characters, ? exactly one. A "character" is one UTF-8 encoded rune, an
// invalid byte counting as one. With fold set the pattern is stored in lower
// case and input bytes are lowered (ASCII only) as they are compared.
type pattern struct {
	src  string // the pattern, lowered when fold
	lit  string // literal part for exact, prefix and suffix kinds
	kind patKind
	fold bool
	esc  bool // glob only: `\*` and `\?` in src are a literal * and ?
}

var (
	errEmptyPattern   = errors.New("empty pattern")
	errInvalidPattern = errors.New("pattern is not valid UTF-8")
)

// compilePattern compiles s; fold makes it case-insensitive.
func compilePattern(s string, fold bool) (pattern, error) {
	if s == "" {
		return pattern{}, errEmptyPattern
	}
	// Byte-wise literal comparison equals rune-wise comparison only when the
	// pattern itself is valid UTF-8 (see globMatch).
	if !utf8.ValidString(s) {
		return pattern{}, errInvalidPattern
	}
	if fold {
		s = lowerASCII(s)
	}
	p := pattern{src: s, fold: fold, kind: patGlob}
	first := strings.IndexAny(s, "*?")
	switch {
	case first < 0:
		p.kind, p.lit = patExact, s
	case strings.Trim(s, "*") == "":
		p.kind = patAny
	case !strings.ContainsRune(s, '?') && strings.Count(s, "*") == 1 && s[len(s)-1] == '*':
		p.kind, p.lit = patPrefix, s[:len(s)-1]
	case !strings.ContainsRune(s, '?') && strings.Count(s, "*") == 1 && s[0] == '*':
		p.kind, p.lit = patSuffix, s[1:]
	}
	return p, nil
}

// compileQueryPattern compiles a query string key or value pattern,
// case-insensitive. As in ALB's query string conditions, `\*` and `\?`
// stand for a literal * and ?; a backslash before anything else is itself.
func compileQueryPattern(s string) (pattern, error) {
	if !strings.Contains(s, `\*`) && !strings.Contains(s, `\?`) {
		return compilePattern(s, true)
	}
	p, err := compilePattern(s, true)
	if err != nil {
		return p, err
	}
	var lit strings.Builder
	wild := false
	for i := 0; i < len(p.src); i++ {
		c := p.src[i]
		switch {
		case c == '\\' && i+1 < len(p.src) && (p.src[i+1] == '*' || p.src[i+1] == '?'):
			i++
			lit.WriteByte(p.src[i])
		case c == '*' || c == '?':
			wild = true
		default:
			lit.WriteByte(c)
		}
	}
	if !wild {
		return pattern{src: lit.String(), lit: lit.String(), kind: patExact, fold: true}, nil
	}
	p.kind, p.lit, p.esc = patGlob, "", true
	return p, nil
}

// literalPrefix is the part of the pattern before its first wildcard.
func (p *pattern) literalPrefix() string {
	if i := strings.IndexAny(p.src, "*?"); i >= 0 {
		return p.src[:i]
	}
	return p.src
}

// literalSuffix is the part of the pattern after its last wildcard.
func (p *pattern) literalSuffix() string {
	return p.src[strings.LastIndexAny(p.src, "*?")+1:]
}

// hasWildcard reports whether the pattern contains * or ?.
func (p *pattern) hasWildcard() bool { return p.kind != patExact }

// match reports whether the whole of b matches the pattern.
func (p *pattern) match(b []byte) bool {
	switch p.kind {
	case patExact:
		return len(b) == len(p.lit) && hasPrefix(b, p.lit, p.fold)
	case patAny:
		return true
	case patPrefix:
		return len(b) >= len(p.lit) && hasPrefix(b, p.lit, p.fold)
	case patSuffix:
		return len(b) >= len(p.lit) && hasPrefix(b[len(b)-len(p.lit):], p.lit, p.fold)
	}
	return globMatch(p.src, b, p.fold, p.esc)
}

// anyMatch reports whether b matches one of ps.
func anyMatch(ps []pattern, b []byte) bool {
	for i := range ps {
		if ps[i].match(b) {
			return true
		}
	}
	return false
}

// hasPrefix reports whether b starts with lit; with fold, lit is lower case
// and b is lowered byte by byte.
func hasPrefix(b []byte, lit string, fold bool) bool {
	if len(b) < len(lit) {
		return false
	}
	if !fold {
		return string(b[:len(lit)]) == lit
	}
	for i := 0; i < len(lit); i++ {
		if lower(b[i]) != lit[i] {
			return false
		}
	}
	return true
}

// globMatch matches s against a pattern with * and ?, using the classic
// iterative algorithm that remembers only the last star: when a literal
// fails, the last star swallows one more character and matching resumes after
// it. Remembering one star suffices because a later star can absorb whatever
// an earlier one would have (invariant: p[:starP] matched s[:starS]).
// Worst case O(len(p)·len(s)), no allocation. With esc, a backslash before
// * or ? makes that character a literal.
//
// Stars and ? advance by whole runes, and literals compare bytes. As the
// pattern is valid UTF-8, a literal rune can only match at a rune boundary of
// s and ends at one, so this equals comparing rune by rune.
func globMatch(p string, s []byte, fold, esc bool) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch c := p[pi]; c {
			case '*':
				pi++
				starP, starS = pi, si
				continue
			case '?':
				pi++
				si += runeLen(s[si:])
				continue
			default:
				b := s[si]
				if fold {
					b = lower(b)
				}
				w := 1
				if esc && c == '\\' && pi+1 < len(p) && (p[pi+1] == '*' || p[pi+1] == '?') {
					c, w = p[pi+1], 2
				}
				if b == c {
					pi += w
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS += runeLen(s[starS:])
		pi, si = starP, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// runeLen is the width of the first character of a non-empty s; an invalid
// byte counts as a character of width 1.
func runeLen(s []byte) int {
	if s[0] < utf8.RuneSelf {
		return 1
	}
	_, n := utf8.DecodeRune(s)
	return n
}

// lower lowers an ASCII letter.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// lowerASCII lowers the ASCII letters of s, leaving other bytes alone.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}
