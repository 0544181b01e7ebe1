package apiserver

import (
	"context"
	"slices"
	"testing"

	"github.com/gantrylb/gantry/spec"
)

// TestApplyReportsDataPlaneErrors: an apply answers what the node's data
// plane could not put into service once it took in the applied version.
func TestApplyReportsDataPlaneErrors(t *testing.T) {
	tests := []struct {
		name   string
		failed []DataPlaneError
	}{
		{"all applied", nil},
		{"listener failed", []DataPlaneError{{Kind: spec.KindListener, Name: "public", Node: "node-1", Message: "listen tcp 127.0.0.1:8080: bind: address already in use"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []uint64
			f := newFixture(t, func(c *Config) {
				c.DataPlane = func(ctx context.Context, v uint64) ([]DataPlaneError, bool) {
					if _, ok := ctx.Deadline(); !ok {
						t.Error("DataPlane called without a deadline")
					}
					asked = append(asked, v)
					return tt.failed, true
				}
			})
			resp, err := f.client.ApplyReport(testCtx(t), []File{{Name: "a.yaml", Data: []byte(resources)}})
			if err != nil {
				t.Fatalf("ApplyReport() = %v", err)
			}
			if !slices.Equal(resp.DataPlaneErrors, tt.failed) {
				t.Errorf("DataPlaneErrors = %+v, want %+v", resp.DataPlaneErrors, tt.failed)
			}
			if v := f.store.Snapshot().Version; !slices.Equal(asked, []uint64{v}) {
				t.Errorf("DataPlane asked for versions %v, want [%d] (the applied one)", asked, v)
			}
		})
	}
}

// TestTargetChangesWaitForDataPlane: register and deregister answer with the
// targets once this node's data plane has taken in the change, so the answer
// shows it.
func TestTargetChangesWaitForDataPlane(t *testing.T) {
	var asked []uint64
	f := newFixture(t, func(c *Config) {
		c.DataPlane = func(ctx context.Context, v uint64) ([]DataPlaneError, bool) {
			asked = append(asked, v)
			return nil, true
		}
	})
	if _, err := f.client.ApplyReport(testCtx(t), []File{{Name: "a.yaml", Data: []byte(resources)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Register(testCtx(t), "api", []spec.Target{{Address: "127.0.0.1:9101"}}); err != nil {
		t.Fatal(err)
	}
	afterRegister := f.store.Snapshot().Version
	if _, err := f.client.Deregister(testCtx(t), "api", []string{"127.0.0.1:9101"}); err != nil {
		t.Fatal(err)
	}
	afterDeregister := f.store.Snapshot().Version
	if n := len(asked); n != 3 || asked[1] != afterRegister || asked[2] != afterDeregister {
		t.Errorf("DataPlane asked for versions %v, want [apply %d %d]", asked, afterRegister, afterDeregister)
	}
}

// TestApplyReportsDataPlanePending: an apply whose node's data plane had not
// taken it in by the end of the wait says so, naming the node, instead of
// reporting success as if the change were in service.
func TestApplyReportsDataPlanePending(t *testing.T) {
	for _, caughtUp := range []bool{true, false} {
		f := newFixture(t, func(c *Config) {
			c.DataPlane = func(context.Context, uint64) ([]DataPlaneError, bool) { return nil, caughtUp }
		})
		resp, err := f.client.ApplyReport(testCtx(t), []File{{Name: "a.yaml", Data: []byte(resources)}})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{true: "", false: "node-1"}[caughtUp]; resp.DataPlanePending != want {
			t.Errorf("caught up %v: DataPlanePending = %q, want %q", caughtUp, resp.DataPlanePending, want)
		}
	}
}
