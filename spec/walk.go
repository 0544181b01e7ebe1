package spec

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// maxVisits bounds the nodes one document may expand to through aliases, so a
// small "billion laughs" document cannot keep Decode busy.
const maxVisits = 200_000

// walker decodes a yaml.Node tree into a resource by hand rather than through
// yaml's constructor: it keeps going after an error, rejects unknown and
// duplicate keys, and records where every value stands.
type walker struct {
	file      string
	errs      ErrorList
	warns     []Warning // ECS fields accepted and ignored
	positions map[string]Position
	bad       map[string]bool // paths whose value could not be decoded
	visits    int
	exhausted bool
}

func newWalker(file string) *walker {
	return &walker{file: file, positions: map[string]Position{}, bad: map[string]bool{}}
}

func (w *walker) pos(n *yaml.Node) Position {
	return Position{File: w.file, Line: n.Line, Column: n.Column}
}

// fail records a decoding error at node n for path.
func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	w.bad[path] = true
	w.errs = append(w.errs, &Error{Pos: w.pos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// resolve follows aliases, counting every visit against maxVisits.
func (w *walker) resolve(n *yaml.Node) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode && hops < 64; hops++ {
		n = n.Alias
	}
	w.visits++
	return n
}

var (
	targetType = reflect.TypeFor[Target]()
	tagMerge   = "!!merge"
)

// value decodes n into v (addressable) at path.
func (w *walker) value(n *yaml.Node, v reflect.Value, path string) {
	n = w.resolve(n)
	if n == nil || n.Kind == yaml.AliasNode {
		return
	}
	if w.visits > maxVisits {
		if !w.exhausted {
			w.exhausted = true
			w.fail(n, path, "document expands to more than %d nodes through aliases", maxVisits)
		}
		return
	}
	if path != "" {
		w.positions[path] = w.pos(n)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // null leaves the zero value, which means "default"
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		w.value(n, v.Elem(), path)
	case reflect.Struct:
		if v.Type() == targetType && n.Kind == yaml.ScalarNode {
			v.Addr().Interface().(*Target).Address = n.Value
			return
		}
		w.structure(n, v, path)
	case reflect.Slice:
		w.sequence(n, v, path)
	case reflect.Map:
		w.mapping(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.fail(n, path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			w.fail(n, path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(strings.EqualFold(n.Value, "true"))
	case reflect.Int, reflect.Int64:
		w.integer(n, v, path)
	default:
		w.fail(n, path, "cannot decode into %s", v.Type())
	}
}

func (w *walker) integer(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		w.fail(n, path, "expected an integer, got %s", describe(n))
		return
	}
	s := strings.ReplaceAll(n.Value, "_", "")
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		i, err = strconv.ParseInt(s, 0, 64)
	}
	if err != nil || v.OverflowInt(i) {
		w.fail(n, path, "integer %s is out of range", n.Value)
		return
	}
	v.SetInt(i)
}

// fieldIndex maps each key a struct accepts (its json name) to the field.
func fieldIndex(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || f.Tag.Get("yaml") == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = i
	}
	return m
}

func (w *walker) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := fieldIndex(v.Type())
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := w.resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			w.fail(n.Content[i], path, "mapping keys must be strings")
			continue
		}
		p := joinPath(path, k.Value)
		if k.Tag == tagMerge {
			w.fail(k, path, "merge keys (<<) are not supported")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			w.fail(k, p, "duplicate key %q (first at %d:%d)", k.Value, first.Line, first.Column)
			continue
		}
		seen[k.Value] = k
		idx, ok := fields[k.Value]
		if !ok && w.ignoredECS(v, k, p) {
			continue
		}
		if !ok {
			w.fail(k, p, "unknown field %q%s", k.Value, suggest(k.Value, fields))
			continue
		}
		w.value(val, v.Field(idx), p)
	}
}

// ignoredECS records a warning and reports true when key k of the struct v
// is an ECS field Gantry accepts without using.
func (w *walker) ignoredECS(v reflect.Value, k *yaml.Node, path string) bool {
	if !v.CanAddr() {
		return false
	}
	e, ok := v.Addr().Interface().(ecsShaped)
	if !ok || !e.ecsIgnored(k.Value) {
		return false
	}
	w.warns = append(w.warns, Warning{Pos: w.pos(k), Path: path, Msg: fmt.Sprintf("ECS field %q is ignored by Gantry", k.Value)})
	return true
}

func (w *walker) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		w.fail(n, path, "expected a list, got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		return // an empty list decodes as nil, as it encodes with omitempty
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		w.value(c, s.Index(i), indexPath(path, i))
	}
	v.Set(s)
}

func (w *walker) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		w.fail(n, path, "cannot decode into %s", v.Type())
		return
	}
	if len(n.Content) == 0 {
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := w.resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode || k.Tag == tagMerge {
			w.fail(n.Content[i], path, "mapping keys must be strings")
			continue
		}
		p := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.fail(k, p, "duplicate key %q (first at %d:%d)", k.Value, first.Line, first.Column)
			continue
		}
		seen[k.Value] = k
		elem := reflect.New(v.Type().Elem()).Elem()
		w.value(n.Content[i+1], elem, p)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// describe names what a node holds for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		kind := map[string]string{"!!str": "string", "!!int": "integer", "!!float": "number", "!!bool": "boolean", "!!null": "null"}[n.Tag]
		if kind == "" {
			kind = "scalar"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("%s %q", kind, v)
	}
	return "nothing"
}

// suggest proposes the accepted key closest to an unknown one, ignoring case,
// so that "healthcheck" points at "healthCheck".
func suggest(key string, fields map[string]int) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}
