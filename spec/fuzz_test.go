package spec

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics, that its errors are always a
// located ErrorList, and that whatever it accepts survives a YAML round trip.
// Seeds live in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(roundTripSrc))
	f.Add([]byte(workloadSrc))
	f.Add([]byte(describeTaskDefinitionJSON))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := Decode("f.yaml", data)
		if err != nil {
			var el ErrorList
			if !errors.As(err, &el) || len(el) == 0 {
				t.Fatalf("Decode error %T %v, want a non-empty ErrorList", err, err)
			}
			for _, e := range el {
				if e.Pos.File != "f.yaml" {
					t.Fatalf("error %q has no file", e.Error())
				}
			}
			return
		}
		for _, d := range docs {
			set := 0
			for _, r := range []bool{d.Listener != nil, d.TargetGroup != nil, d.TaskDefinition != nil, d.Service != nil} {
				if r {
					set++
				}
			}
			if set != 1 {
				t.Fatalf("document %+v holds %s but not exactly one resource", d, d.Kind)
			}
		}
		if len(docs) == 0 {
			return
		}
		stripPositions(docs)
		var buf bytes.Buffer
		if err := EncodeYAML(&buf, toAny(docs)...); err != nil {
			t.Fatalf("EncodeYAML: %v", err)
		}
		again, err := Decode("again.yaml", buf.Bytes())
		if err != nil {
			t.Fatalf("Decode(EncodeYAML(docs)): %v\n%s", err, buf.String())
		}
		stripPositions(again)
		if !reflect.DeepEqual(again, docs) {
			t.Fatalf("YAML round trip changed the documents:\n%s", buf.String())
		}
	})
}

func toAny(docs []Document) []any {
	out := make([]any, len(docs))
	for i, d := range docs {
		out[i] = d
	}
	return out
}
