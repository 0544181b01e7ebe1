package spec

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Document is one resource decoded from a file: exactly one of Listener and
// TargetGroup is set, as Kind says.
type Document struct {
	// Kind is KindListener or KindTargetGroup.
	Kind        string
	Listener    *Listener
	TargetGroup *TargetGroup
	// Pos is where the document's mapping starts.
	Pos Position
}

// Name returns the name of the document's resource.
func (d Document) Name() string {
	switch {
	case d.Listener != nil:
		return d.Listener.Name
	case d.TargetGroup != nil:
		return d.TargetGroup.Name
	}
	return ""
}

// Decode reads every resource document in data, which is a YAML stream (several
// documents separated by "---") or JSON (one object, an array of objects, or
// objects one after another). file only labels positions.
//
// Decoding is strict: unknown keys, duplicate keys and values of the wrong type
// are errors. Each resource is then checked with its Validate method. Every
// problem in the file is reported at once, as an ErrorList sorted by position;
// the documents that were decoded are returned with it. Defaults are not
// applied: call SetDefaults. Empty documents are skipped.
func Decode(file string, data []byte) ([]Document, error) {
	var (
		docs []Document
		errs ErrorList
	)
	add := func(n *yaml.Node) {
		d, e := decodeRoot(file, n)
		docs = append(docs, d...)
		errs = append(errs, e...)
	}
	if looksLikeJSON(file, data) {
		r := newJSONReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
		for {
			n, err := r.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				errs = append(errs, r.errorAt(file, err))
				break
			}
			add(n)
		}
		return docs, errs.Err()
	}
	loader, err := yaml.NewLoader(bytes.NewReader(data))
	if err != nil {
		return nil, ErrorList{{Pos: Position{File: file}, Msg: "spec: new yaml loader: " + err.Error()}}
	}
	for {
		var n yaml.Node
		err := loader.Load(&n)
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, yamlError(file, err))
			break // the parser cannot resynchronise after a syntax error
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			add(n.Content[0])
		}
	}
	return docs, errs.Err()
}

// yamlError locates a parser error.
func yamlError(file string, err error) *Error {
	var le *yaml.LoadError
	if errors.As(err, &le) {
		msg := le.Message
		if le.ContextMsg != "" {
			msg = le.ContextMsg + ": " + msg
		}
		return &Error{Pos: Position{File: file, Line: le.Mark.Line, Column: le.Mark.Column}, Msg: "invalid YAML: " + msg}
	}
	return &Error{Pos: Position{File: file}, Msg: "invalid YAML: " + err.Error()}
}

// decodeRoot decodes the root of one document: a resource mapping, a list of
// them (as JSON arrays hold), or null (an empty document).
func decodeRoot(file string, n *yaml.Node) ([]Document, ErrorList) {
	for hops := 0; n.Kind == yaml.AliasNode && n.Alias != nil && hops < 64; hops++ {
		n = n.Alias
	}
	pos := Position{File: file, Line: n.Line, Column: n.Column}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil, nil
	case n.Kind == yaml.SequenceNode:
		var (
			docs []Document
			errs ErrorList
		)
		for _, c := range n.Content {
			if c.Kind == yaml.SequenceNode {
				errs = append(errs, &Error{Pos: Position{File: file, Line: c.Line, Column: c.Column}, Msg: "expected a resource mapping, got a list"})
				continue
			}
			d, e := decodeRoot(file, c)
			docs = append(docs, d...)
			errs = append(errs, e...)
		}
		return docs, errs
	case n.Kind != yaml.MappingNode:
		return nil, ErrorList{{Pos: pos, Msg: "expected a resource mapping with a kind, got " + describe(n)}}
	}
	kind, kerr := documentKind(file, n)
	if kerr != nil {
		return nil, ErrorList{kerr}
	}
	w := newWalker(file)
	d := Document{Kind: kind, Pos: pos}
	var res any
	switch kind {
	case KindListener:
		d.Listener = &Listener{}
		res = d.Listener
	case KindTargetGroup:
		d.TargetGroup = &TargetGroup{}
		res = d.TargetGroup
	}
	w.value(n, reflect.ValueOf(res).Elem(), "")
	var verrs ErrorList
	switch kind {
	case KindListener:
		d.Listener.Pos, d.Listener.Positions = pos, w.positions
		verrs = d.Listener.Validate()
	case KindTargetGroup:
		d.TargetGroup.Pos, d.TargetGroup.Positions = pos, w.positions
		verrs = d.TargetGroup.Validate()
	}
	errs := w.errs
	for _, e := range verrs {
		if !w.covered(e.Path) {
			errs = append(errs, e)
		}
	}
	return []Document{d}, errs
}

// covered reports whether a validation error at path is a consequence of a
// decoding error already reported: one at path, above it or below it.
func (w *walker) covered(path string) bool {
	for p := path; p != ""; p = parentPath(p) {
		if w.bad[p] {
			return true
		}
	}
	if path == "" {
		return false
	}
	for b := range w.bad {
		if strings.HasPrefix(b, path) && len(b) > len(path) && (b[len(path)] == '.' || b[len(path)] == '[') {
			return true
		}
	}
	return false
}

// documentKind finds the kind of a resource mapping. ECS task definitions and
// services are recognised by their keys even without a kind.
func documentKind(file string, n *yaml.Node) (string, *Error) {
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode {
			if _, dup := keys[k.Value]; !dup {
				keys[k.Value] = n.Content[i+1]
			}
		}
	}
	at := func(n *yaml.Node) Position { return Position{File: file, Line: n.Line, Column: n.Column} }
	k, ok := keys["kind"]
	if !ok {
		switch {
		case keys["family"] != nil && keys["containerDefinitions"] != nil:
			return "", &Error{Pos: at(n), Msg: "kind TaskDefinition is not supported yet"}
		case keys["serviceName"] != nil && keys["taskDefinition"] != nil:
			return "", &Error{Pos: at(n), Msg: "kind Service is not supported yet"}
		}
		return "", &Error{Pos: at(n), Path: "kind", Msg: "kind is required (Listener or TargetGroup)"}
	}
	if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
		return "", &Error{Pos: at(k), Path: "kind", Msg: "expected a string, got " + describe(k)}
	}
	switch k.Value {
	case KindListener, KindTargetGroup:
		return k.Value, nil
	}
	for _, known := range []string{KindListener, KindTargetGroup} {
		if strings.EqualFold(k.Value, known) {
			return "", &Error{Pos: at(k), Path: "kind", Msg: "unknown kind " + quote(k.Value) + " (did you mean " + quote(known) + "?)"}
		}
	}
	return "", &Error{Pos: at(k), Path: "kind", Msg: "kind " + k.Value + " is not supported yet"}
}
