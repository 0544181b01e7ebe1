package main

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gantrylb/gantry/discovery"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

// memberStore is the desired state of a node that is neither --dev nor a
// --server: its own listeners and target groups (from its files and its
// API), as a standalone balancer's. Services, task definitions and node
// drains belong to the scheduler, which runs only on --dev nodes and the
// servers' leader: here they would be stored and never acted on, so they
// are refused, naming a server to send them to.
type memberStore struct {
	store.Store
	node    string
	cluster *atomic.Pointer[discovery.Cluster]
}

// refusal says why a scheduler resource or a drain is refused here.
func (s *memberStore) refusal(what string) string {
	msg := fmt.Sprintf("%s belong to the scheduler, which runs on --dev nodes and on the servers of a cluster; node %s is neither", what, s.node)
	if c := s.cluster.Load(); c != nil {
		for _, m := range c.Members() {
			if m.State == discovery.MemberAlive && slices.Contains(m.Meta.Roles, "server") && m.Meta.APIAddr != "" {
				return msg + fmt.Sprintf(": send it to a server (--api http://%s)", m.Meta.APIAddr)
			}
		}
	}
	return msg
}

func (s *memberStore) Apply(ctx context.Context, docs []spec.Document) ([]store.Result, error) {
	var errs spec.ErrorList
	for _, d := range docs {
		if d.Kind == spec.KindService || d.Kind == spec.KindTaskDefinition {
			errs = append(errs, &spec.Error{Pos: d.Pos, Msg: s.refusal("services and task definitions")})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s.Store.Apply(ctx, docs)
}

func (s *memberStore) DrainNode(ctx context.Context, node string, drain bool, at time.Time) error {
	return fmt.Errorf("%w: %s", store.ErrInvalid, s.refusal("node drains"))
}
