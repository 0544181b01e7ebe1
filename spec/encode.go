package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v4"
)

// EncodeYAML writes resources (*Listener, *TargetGroup, *TaskDefinition,
// *Service or Document values) as a
// YAML stream, one document each, in the shape Decode reads back. Positions
// are not written.
func EncodeYAML(w io.Writer, resources ...any) error {
	objs, err := encodable(resources)
	if err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	for _, o := range objs {
		if err := enc.Encode(o); err != nil {
			return fmt.Errorf("spec: encode yaml: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("spec: encode yaml: %w", err)
	}
	return nil
}

// EncodeJSON writes resources as indented JSON: one object for one resource,
// an array otherwise. Decode reads it back.
func EncodeJSON(w io.Writer, resources ...any) error {
	objs, err := encodable(resources)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	var v any = objs
	if len(objs) == 1 {
		v = objs[0]
	}
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("spec: encode json: %w", err)
	}
	return nil
}

// encodable copies each resource with its Kind set, so that a resource built
// in code encodes as a document Decode accepts.
func encodable(resources []any) ([]any, error) {
	out := make([]any, 0, len(resources))
	for _, r := range resources {
		if d, ok := r.(Document); ok {
			if res := d.resource(); res != nil {
				r = res
			}
		}
		switch v := r.(type) {
		case *Listener:
			c := *v
			c.Kind = KindListener
			out = append(out, &c)
		case *TargetGroup:
			c := *v
			c.Kind = KindTargetGroup
			out = append(out, &c)
		case *TaskDefinition:
			c := *v
			c.Kind = KindTaskDefinition
			out = append(out, &c)
		case *Service:
			c := *v
			c.Kind = KindService
			out = append(out, &c)
		default:
			return nil, fmt.Errorf("spec: encode: %T is not a resource", r)
		}
	}
	return out, nil
}

// UnmarshalJSON accepts a target as "host:port" or as {"address", "weight"}.
func (t *Target) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = Target{Address: s}
		return nil
	}
	type plain Target // no methods: avoids recursion
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return errors.New("spec: target: want \"host:port\" or {address, weight}")
	}
	*t = Target(p)
	return nil
}

// UnmarshalYAML accepts a target as "host:port" or as {address, weight}, for
// callers that use yaml.Unmarshal rather than Decode.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*t = Target{Address: n.Value}
		return nil
	}
	type plain Target
	var p plain
	if err := n.Load(&p); err != nil {
		return err
	}
	*t = Target(p)
	return nil
}
