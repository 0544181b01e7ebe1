package store

import (
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestSnakeArgsRendersFormat: an hclog.Format value (raft logs its server
// list as one) is rendered as hclog would, not printed as its raw parts.
func TestSnakeArgsRendersFormat(t *testing.T) {
	got := snakeArgs([]any{"servers", hclog.Fmt("%+v", []int{1, 2}), "leader-address", "a"})
	want := []any{"servers", "[1 2]", "leader_address", "a"}
	if len(got) != len(want) {
		t.Fatalf("snakeArgs = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("snakeArgs[%d] = %#v, want %#v", i, got[i], want[i])
		}
	}
}
