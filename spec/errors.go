package spec

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// String formats the position as file:line:col, leaving out what is unknown.
func (p Position) String() string {
	switch {
	case p.Line == 0 && p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.File == "":
		return fmt.Sprintf("%d:%d", p.Line, p.Column)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// compare orders positions by file, line, then column.
func (p Position) compare(q Position) int {
	return cmp.Or(cmp.Compare(p.File, q.File), cmp.Compare(p.Line, q.Line), cmp.Compare(p.Column, q.Column))
}

// Error is one located problem in a resource document.
type Error struct {
	// Pos is where the offending value (or key) stands.
	Pos Position `json:"pos"`
	// Path is the field path, such as "rules[2].priority"; empty for the whole document.
	Path string `json:"path,omitempty"`
	// Msg says what is wrong.
	Msg string `json:"message"`
}

// Error formats the error as "file:line:col: path: msg".
func (e *Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a set of documents. It implements error,
// one problem per line, sorted by position.
type ErrorList []*Error

// Error prints one error per line in position order.
func (l ErrorList) Error() string {
	s := slices.Clone(l)
	s.Sort()
	lines := make([]string, len(s))
	for i, e := range s {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders the list by position, then path and message, in place.
func (l ErrorList) Sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(a.Pos.compare(b.Pos), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Msg, b.Msg))
	})
}

// Err returns the sorted list as an error, or nil when it is empty. Use it
// instead of converting an ErrorList to error directly, which is never nil.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}

// Documents counts the documents holding at least one of the problems, given
// where each document begins (as LoadStarts returns them, each file's in
// order): a problem belongs to the last document of its file beginning at or
// before it. Problems of no document (a file that cannot be read) count none.
func (l ErrorList) Documents(starts []Position) int {
	with := map[int]bool{}
	for _, e := range l {
		if e.Pos.Line == 0 {
			continue
		}
		in := -1
		for i, s := range starts {
			if s.File == e.Pos.File && s.compare(e.Pos) <= 0 {
				in = i
			}
		}
		if in >= 0 {
			with[in] = true
		}
	}
	return len(with)
}

// checker collects the errors of one resource, locating each by its field path.
type checker struct {
	doc       Position
	positions map[string]Position
	errs      ErrorList
}

// add records a problem at path, formatted with fmt.Sprintf.
func (c *checker) add(path, format string, args ...any) {
	c.errs = append(c.errs, &Error{Pos: locate(c.positions, c.doc, path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// locate finds the position of path in positions, falling back to its nearest
// recorded ancestor ("rules[2].action" for "rules[2].action.forward") and
// finally to the document's position.
func locate(positions map[string]Position, doc Position, path string) Position {
	for path != "" {
		if p, ok := positions[path]; ok {
			return p
		}
		path = parentPath(path)
	}
	return doc
}

// parentPath drops the last component of a field path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// joinPath appends a field name to a path.
func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// indexPath appends a sequence index to a path.
func indexPath(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
