package rules

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		fold    bool
		input   string
		want    bool
	}{
		{"example.com", true, "example.com", true},
		{"example.com", true, "EXAMPLE.com", true},
		{"Example.COM", true, "example.com", true},
		{"example.com", true, "example.co", false},
		{"*.example.com", true, "a.example.com", true},
		{"*.example.com", true, "a.b.example.com", true},
		{"*.example.com", true, "example.com", false},
		{"*.example.com", true, ".example.com", true},
		{"api-?.example.com", true, "API-1.example.com", true},
		{"api-?.example.com", true, "api-12.example.com", false},
		{"*", true, "", true},
		{"**", false, "anything", true},
		{"/api/*", false, "/api/", true},
		{"/api/*", false, "/api", false},
		{"/api/*", false, "/API/x", false},
		{"/api/*/users", false, "/api/v1/users", true},
		{"/api/*/users", false, "/api/v1/v2/users", true},
		{"/api/*/users", false, "/api/v1/users/1", false},
		{"/img/*.png", false, "/img/a.b.png", true},
		{"/img/*.png", false, "/img/a.png.jpg", false},
		{"/caf?", false, "/café", true},
		{"/caf??", false, "/café", false},
		{"/caf?", false, "/caf\xff", true},
		{"*ab*ab*", false, "xxabyyab", true},
		{"*ab*ab*", false, "xxabyya", false},
		{"a*b?c", false, "aXXbYc", true},
		{"a*b?c", false, "abc", false},
		{"?", false, "", false},
		{"GET", false, "get", false},
		{"on", true, "ON", true},
		{"é*", true, "É", false}, // folding is ASCII only
	}
	for _, tt := range tests {
		p, err := compilePattern(tt.pattern, tt.fold)
		if err != nil {
			t.Fatalf("compilePattern(%q): %v", tt.pattern, err)
		}
		if got := p.match([]byte(tt.input)); got != tt.want {
			t.Errorf("pattern %q (fold %v): match(%q) = %v, want %v", tt.pattern, tt.fold, tt.input, got, tt.want)
		}
		if got := refGlob(tt.pattern, tt.input, tt.fold); got != tt.want {
			t.Errorf("refGlob(%q, %q, %v) = %v, want %v", tt.pattern, tt.input, tt.fold, got, tt.want)
		}
	}
}

func TestCompilePatternErrors(t *testing.T) {
	for _, s := range []string{"", "a\xffb"} {
		if _, err := compilePattern(s, false); err == nil {
			t.Errorf("compilePattern(%q) = nil error, want one", s)
		}
	}
}

// refGlob is the reference matcher: it splits both strings into characters
// (runes, an invalid byte being one) and matches them with a memoised
// recursion that follows the definition of * and ? literally.
func refGlob(pattern, input string, fold bool) bool {
	if fold {
		pattern, input = refLowerASCII(pattern), refLowerASCII(input)
	}
	p, s := refChars(pattern), refChars(input)
	memo := map[[2]int]bool{}
	var m func(i, j int) bool
	m = func(i, j int) bool {
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var r bool
		switch {
		case i == len(p):
			r = j == len(s)
		case p[i] == "*":
			r = m(i+1, j) || (j < len(s) && m(i, j+1))
		case j == len(s):
			r = false
		case p[i] == "?":
			r = m(i+1, j+1)
		default:
			r = p[i] == s[j] && m(i+1, j+1)
		}
		memo[key] = r
		return r
	}
	return m(0, 0)
}

func refChars(s string) []string {
	var out []string
	for len(s) > 0 {
		_, n := utf8.DecodeRuneInString(s)
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

func refLowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// refRegexp builds the second reference, a regular expression; Go's regexp
// also reads an invalid byte as one character.
func refRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for _, c := range refChars(pattern) {
		switch c {
		case "*":
			b.WriteString(`.*`)
		case "?":
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(c))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

func FuzzPattern(f *testing.F) {
	f.Add("*.example.com", "a.b.Example.com", true)
	f.Add("/api/*/users?", "/api/v1/users1", false)
	f.Add("a*b*c", "aXbYbZc", false)
	f.Add("?", "é", false)
	f.Add("*?*?", "\xff", true)
	f.Fuzz(func(t *testing.T, pattern, input string, fold bool) {
		if len(pattern) > 64 || len(input) > 256 {
			return
		}
		p, err := compilePattern(pattern, fold)
		if err != nil {
			if pattern != "" && utf8.ValidString(pattern) {
				t.Fatalf("compilePattern(%q): %v", pattern, err)
			}
			return
		}
		got := p.match([]byte(input))
		if want := refGlob(pattern, input, fold); got != want {
			t.Fatalf("pattern %q (fold %v): match(%q) = %v, want %v", pattern, fold, input, got, want)
		}
		if !fold {
			if want := refRegexp(pattern).MatchString(input); got != want {
				t.Fatalf("pattern %q: match(%q) = %v, regexp says %v", pattern, input, got, want)
			}
		}
	})
}
