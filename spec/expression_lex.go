package spec

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokWord
	tokQuoted
	tokOp // == != =~ !~
	tokOpen
	tokClose
	tokLBracket
	tokRBracket
	tokComma
)

type token struct {
	kind tokenKind
	text string
	col  int // 1-based, in characters
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokQuoted:
		return "string " + quote(t.text)
	}
	return quote(t.text)
}

// lexExpression splits a memberOf expression into tokens. Words run until
// whitespace, a bracket, a comma, a quote, '=' or an operator "!=" / "!~", so
// "attribute:zone==a" lexes as three tokens.
func lexExpression(src string) ([]token, error) {
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("spec: parse expression: not valid UTF-8")
	}
	var toks []token
	col := func(i int) int { return utf8.RuneCountInString(src[:i]) + 1 }
	single := map[byte]tokenKind{'(': tokOpen, ')': tokClose, '[': tokLBracket, ']': tokRBracket, ',': tokComma}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case single[c] != 0:
			toks = append(toks, token{single[c], src[i : i+1], col(i)})
			i++
		case isOperator(src[i:]):
			toks = append(toks, token{tokOp, src[i : i+2], col(i)})
			i += 2
		case c == '=':
			return nil, fmt.Errorf("spec: parse expression: column %d: unexpected '=' (use ==)", col(i))
		case c == '\'' || c == '"':
			end := strings.IndexByte(src[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("spec: parse expression: column %d: unterminated string", col(i))
			}
			toks = append(toks, token{tokQuoted, src[i+1 : i+1+end], col(i)})
			i += end + 2
		default:
			j := i
			for j < len(src) && !endsWord(src[j:]) {
				j++
			}
			toks = append(toks, token{tokWord, src[i:j], col(i)})
			i = j
		}
	}
	return append(toks, token{kind: tokEOF, col: col(len(src))}), nil
}

func isOperator(s string) bool {
	return len(s) >= 2 && (s[0] == '=' || s[0] == '!') && (s[1] == '=' || s[1] == '~')
}

func endsWord(s string) bool {
	return strings.IndexByte(" \t\r\n()[],'\"=", s[0]) >= 0 || isOperator(s)
}
