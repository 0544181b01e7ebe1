package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"
)

// maxJSONDepth bounds nesting so hostile input cannot exhaust the stack.
const maxJSONDepth = 64

// looksLikeJSON reports whether data should be read as JSON: a .json file, or
// text that starts with '{' or '[' and is valid JSON. YAML's parser reads most
// JSON, but not all of it (surrogate-pair escapes such as "\ud83d\ude00"), so
// JSON gets its own reader with the same positions.
func looksLikeJSON(file string, data []byte) bool {
	if strings.HasSuffix(strings.ToLower(file), ".json") {
		return true
	}
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			return true
		} else if err != nil {
			return false
		}
	}
}

// jsonReader turns a JSON text (one or more concatenated values) into yaml
// document nodes with 1-based line and column (in characters) of every value.
type jsonReader struct {
	data       []byte
	lineStarts []int
	dec        *json.Decoder
}

func newJSONReader(data []byte) *jsonReader {
	r := &jsonReader{data: data, lineStarts: []int{0}}
	for i, b := range data {
		if b == '\n' {
			r.lineStarts = append(r.lineStarts, i+1)
		}
	}
	r.dec = json.NewDecoder(bytes.NewReader(data))
	r.dec.UseNumber()
	return r
}

// position converts a byte offset into a line and a column counted in characters.
func (r *jsonReader) position(off int) (line, col int) {
	off = min(max(off, 0), len(r.data))
	lo, hi := 0, len(r.lineStarts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if r.lineStarts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo + 1, utf8.RuneCount(r.data[r.lineStarts[lo]:off]) + 1
}

// start is the offset where the next token begins: after whitespace and the
// ',' or ':' separators the decoder has not consumed yet.
func (r *jsonReader) start() int {
	off := int(r.dec.InputOffset())
	for off < len(r.data) && strings.IndexByte(" \t\r\n,:", r.data[off]) >= 0 {
		off++
	}
	return off
}

// errorAt converts a decoder error into a located Error.
func (r *jsonReader) errorAt(file string, err error) *Error {
	off := r.start()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = int(se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		off = len(r.data)
	}
	line, col := r.position(off)
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return &Error{Pos: Position{File: file, Line: line, Column: col}, Msg: "invalid JSON: " + msg}
}

// next returns the next top-level value as a node, io.EOF at the end.
func (r *jsonReader) next() (*yaml.Node, error) {
	return r.node(0)
}

func (r *jsonReader) node(depth int) (*yaml.Node, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("nesting deeper than %d levels", maxJSONDepth)
	}
	off := r.start()
	tok, err := r.dec.Token()
	if err == io.EOF && depth > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	n := &yaml.Node{}
	n.Line, n.Column = r.position(off)
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			n.Kind, n.Tag = yaml.MappingNode, "!!map"
		} else if t == '[' {
			n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
		} else {
			return nil, fmt.Errorf("unexpected %q", rune(t))
		}
		for r.dec.More() {
			if t == '{' {
				k, err := r.node(depth + 1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, k)
			}
			c, err := r.node(depth + 1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		end, err := r.dec.Token() // the closing delimiter
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		if d, ok := end.(json.Delim); !ok || (d != '}' && d != ']') {
			return nil, fmt.Errorf("unexpected %v", end)
		}
	case string:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!str", t
	case json.Number:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!int", t.String()
		if strings.ContainsAny(n.Value, ".eE") {
			n.Tag = "!!float"
		}
	case bool:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!bool", fmt.Sprint(t)
	case nil:
		n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!null", "null"
	}
	return n, nil
}
