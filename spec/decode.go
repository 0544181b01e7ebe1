package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Document is one resource decoded from a file: exactly one of Listener,
// TargetGroup, TaskDefinition and Service is set, as Kind says.
type Document struct {
	// Kind is KindListener, KindTargetGroup, KindTaskDefinition or KindService.
	Kind           string
	Listener       *Listener
	TargetGroup    *TargetGroup
	TaskDefinition *TaskDefinition
	Service        *Service
	// Pos is where the document's mapping starts.
	Pos Position
	// Warnings lists the ECS fields the document holds that Gantry accepts
	// and ignores, each with its position. They never make Decode fail.
	Warnings []Warning
}

// Name returns the name of the document's resource.
func (d Document) Name() string {
	switch {
	case d.Listener != nil:
		return d.Listener.Name
	case d.TargetGroup != nil:
		return d.TargetGroup.Name
	case d.TaskDefinition != nil:
		return d.TaskDefinition.Family
	case d.Service != nil:
		return d.Service.ServiceName
	}
	return ""
}

// resource returns the document's resource as a pointer, nil if none.
func (d Document) resource() any {
	switch {
	case d.Listener != nil:
		return d.Listener
	case d.TargetGroup != nil:
		return d.TargetGroup
	case d.TaskDefinition != nil:
		return d.TaskDefinition
	case d.Service != nil:
		return d.Service
	}
	return nil
}

// Decode reads every resource document in data, which is a YAML stream (several
// documents separated by "---") or JSON (one object, an array of objects, or
// objects one after another). file only labels positions.
//
// Decoding is strict: unknown keys, duplicate keys and values of the wrong type
// are errors. Each resource is then checked with its Validate method. Every
// problem in the file is reported at once, as an ErrorList sorted by position;
// the documents that were decoded are returned with it. Defaults are not
// applied: call SetDefaults. Empty documents are skipped. ECS fields Gantry
// ignores are listed in each Document's Warnings (see Warnings).
func Decode(file string, data []byte) ([]Document, error) {
	docs, _, err := decodeStarts(file, data)
	return docs, err
}

// decodeStarts is Decode that also returns where each resource document
// begins, those that failed to decode (and so are not among the documents)
// included; see LoadStarts.
func decodeStarts(file string, data []byte) ([]Document, []Position, error) {
	var (
		docs   []Document
		starts []Position
		errs   ErrorList
	)
	add := func(n *yaml.Node) {
		d, e := decodeRoot(file, n)
		docs = append(docs, d...)
		errs = append(errs, e...)
		starts = appendStarts(starts, file, n)
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
		return docs, starts, errs.Err()
	}
	loader, err := yaml.NewLoader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, ErrorList{{Pos: Position{File: file}, Msg: "spec: new yaml loader: " + err.Error()}}
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
	return docs, starts, errs.Err()
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
	n, warns, errs := unwrapECS(file, n)
	if errs != nil {
		return nil, errs
	}
	kind, kerr := documentKind(file, n)
	if kerr != nil {
		return nil, ErrorList{kerr}
	}
	d, errs := decodeResource(file, kind, n)
	d.Pos = pos
	d.Warnings = Warnings([]Document{{Warnings: append(warns, d.Warnings...)}})
	return []Document{d}, errs
}

// appendStarts appends where each resource document of root n begins, as
// decodeRoot walks it: nothing for an empty document, each element of a
// list, and any other node (a resource or not) as one document.
func appendStarts(starts []Position, file string, n *yaml.Node) []Position {
	for hops := 0; n.Kind == yaml.AliasNode && n.Alias != nil && hops < 64; hops++ {
		n = n.Alias
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return starts
	case n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Kind == yaml.SequenceNode {
				starts = append(starts, Position{File: file, Line: c.Line, Column: c.Column})
				continue
			}
			starts = appendStarts(starts, file, c)
		}
		return starts
	}
	return append(starts, Position{File: file, Line: n.Line, Column: n.Column})
}

// validator is a decoded resource: it learns where it was written, then checks itself.
type validator interface {
	setPositions(doc Position, positions map[string]Position)
	Validate() ErrorList
}

func (l *Listener) setPositions(p Position, m map[string]Position)    { l.Pos, l.Positions = p, m }
func (g *TargetGroup) setPositions(p Position, m map[string]Position) { g.Pos, g.Positions = p, m }
func (td *TaskDefinition) setPositions(p Position, m map[string]Position) {
	td.Pos, td.Positions = p, m
}
func (s *Service) setPositions(p Position, m map[string]Position) { s.Pos, s.Positions = p, m }

// decodeResource decodes mapping n as a resource of kind and validates it,
// leaving out validation errors that follow from a decoding error.
func decodeResource(file, kind string, n *yaml.Node) (Document, ErrorList) {
	w := newWalker(file)
	d := Document{Kind: kind}
	var res validator
	switch kind {
	case KindListener:
		d.Listener = &Listener{}
		res = d.Listener
	case KindTargetGroup:
		d.TargetGroup = &TargetGroup{}
		res = d.TargetGroup
	case KindTaskDefinition:
		d.TaskDefinition = &TaskDefinition{}
		res = d.TaskDefinition
	case KindService:
		d.Service = &Service{}
		res = d.Service
	}
	w.value(n, reflect.ValueOf(res).Elem(), "")
	// ECS documents recognised by their keys carry no kind: record it, so
	// that they encode as Gantry documents.
	if f := reflect.ValueOf(res).Elem().FieldByName("Kind"); f.String() == "" {
		f.SetString(kind)
	}
	res.setPositions(Position{File: file, Line: n.Line, Column: n.Column}, w.positions)
	errs := w.errs
	for _, e := range res.Validate() {
		if !w.covered(e.Path) {
			errs = append(errs, e)
		}
	}
	d.Warnings = w.warns
	return d, errs
}

// unwrapECS returns the task definition inside the output of "aws ecs
// describe-task-definition" ({"taskDefinition": {...}, "tags": [...]}), with
// a warning for each ignored key beside it; any other mapping is returned as
// it is. A wrapper is a mapping without kind and serviceName whose
// taskDefinition is a mapping.
func unwrapECS(file string, n *yaml.Node) (*yaml.Node, []Warning, ErrorList) {
	var inner *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "kind", "serviceName":
			return n, nil, nil
		case "taskDefinition":
			if v.Kind == yaml.MappingNode {
				inner = v
			}
		}
	}
	if inner == nil {
		return n, nil, nil
	}
	var (
		warns []Warning
		errs  ErrorList
	)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		pos := Position{File: file, Line: k.Line, Column: k.Column}
		switch {
		case k.Value == "taskDefinition":
		case ecsWrapperIgnored[k.Value]:
			warns = append(warns, Warning{Pos: pos, Path: k.Value, Msg: fmt.Sprintf("ECS field %q is ignored by Gantry", k.Value)})
		default:
			errs = append(errs, &Error{Pos: pos, Path: k.Value, Msg: fmt.Sprintf("unknown field %q beside taskDefinition", k.Value)})
		}
	}
	return inner, warns, errs
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
			return KindTaskDefinition, nil
		case keys["serviceName"] != nil && keys["taskDefinition"] != nil:
			return KindService, nil
		}
		return "", &Error{Pos: at(n), Path: "kind", Msg: "kind is required (Listener, TargetGroup, TaskDefinition or Service)"}
	}
	if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
		return "", &Error{Pos: at(k), Path: "kind", Msg: "expected a string, got " + describe(k)}
	}
	kinds := []string{KindListener, KindTargetGroup, KindTaskDefinition, KindService}
	for _, known := range kinds {
		if k.Value == known {
			return known, nil
		}
	}
	for _, known := range kinds {
		if strings.EqualFold(k.Value, known) {
			return "", &Error{Pos: at(k), Path: "kind", Msg: "unknown kind " + quote(k.Value) + " (did you mean " + quote(known) + "?)"}
		}
	}
	return "", &Error{Pos: at(k), Path: "kind", Msg: "unknown kind " + quote(k.Value) + " (Listener, TargetGroup, TaskDefinition or Service)"}
}
