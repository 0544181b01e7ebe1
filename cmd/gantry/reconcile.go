package main

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/balancer"
	"github.com/gantrylb/gantry/certs"
	"github.com/gantrylb/gantry/discovery"
	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

// Retry delays of a data plane with failing listeners: the first retry comes
// soon (a port freed by a listener the same apply removed is free by then),
// later ones back off.
const (
	retryFirst = time.Second
	retryMax   = 30 * time.Second
)

// reconciler feeds every new desired state to the balancer. The balancer
// applies it listener by listener; a listener it cannot apply (address in
// use, certificates unreadable) is reported in /v1/status, in the logs, in
// gantry_listener_config_failed and to the apply that caused it, and is
// retried on every later sync and, while any fails, on a backoff timer.
type reconciler struct {
	st      store.Store
	bal     *balancer.Balancer
	certs   *certs.Provider
	cluster *discovery.Cluster
	self    string // this node's name
	log     *slog.Logger

	syncMu sync.Mutex // one sync at a time: store changes and gossip both call it

	mu        sync.Mutex
	version   uint64
	lastErr   string
	listeners map[string]error // listeners the data plane could not apply
	synced    chan struct{}    // closed and replaced by every sync
}

func (r *reconciler) sync(s *store.State) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	publishRegistered(r.cluster, s.Registered, r.log)
	cfg := balancer.Config{Registered: s.Registered, Discovered: discoveredTargets(r.cluster, r.self)}
	for _, l := range s.Listeners {
		cfg.Listeners = append(cfg.Listeners, l)
	}
	for _, g := range s.TargetGroups {
		cfg.TargetGroups = append(cfg.TargetGroups, g)
	}
	err := r.bal.Update(cfg)
	if err == nil {
		// Certificates of listeners no longer configured are forgotten
		// only once an update has applied every listener: one that failed
		// may still serve its previous certificates.
		var tlsListeners []string
		for _, l := range cfg.Listeners {
			if l.TerminatesTLS() {
				tlsListeners = append(tlsListeners, l.Name)
			}
		}
		r.certs.Retain(tlsListeners)
	}
	failed := r.bal.ListenerErrors()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.version = s.Version
	r.lastErr = ""
	r.listeners = failed
	if err != nil {
		r.lastErr = err.Error()
		var le *balancer.ListenerError
		if !errors.As(err, &le) {
			r.log.Error("configuration not applied to the data plane; the previous one keeps serving", "version", s.Version, "err", err)
		}
	}
	if r.synced != nil {
		close(r.synced)
	}
	r.synced = make(chan struct{})
	return err
}

// failing reports whether the latest sync left listeners unapplied.
func (r *reconciler) failing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.listeners) > 0
}

func (r *reconciler) run(ctx context.Context) error {
	delay := retryFirst
	for {
		r.mu.Lock()
		v := r.version
		r.mu.Unlock()
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if r.failing() {
			wctx, cancel = context.WithTimeout(ctx, delay)
		}
		s, err := r.st.Watch(wctx, v)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && wctx.Err() != nil:
			// Nothing changed, but listeners are failing: retry them.
			s, delay = r.st.Snapshot(), min(2*delay, retryMax)
		case err != nil:
			return err
		default:
			delay = retryFirst
		}
		_ = r.sync(s)
	}
}

// runGossip re-syncs the data plane whenever the cluster's registrations
// or its members' states change (coalesced).
func (r *reconciler) runGossip(ctx context.Context) error {
	changed, cancel := r.cluster.WatchTargets()
	defer cancel()
	members, cancelMembers := r.cluster.WatchMembers()
	defer cancelMembers()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-members:
		}
		_ = r.sync(r.st.Snapshot())
	}
}

// dataPlane is the apiserver's Config.DataPlane: it waits until the data
// plane has synced the store version v (or ctx ends) and returns the
// listeners it could not apply.
func (r *reconciler) dataPlane(ctx context.Context, v uint64) ([]apiserver.DataPlaneError, bool) {
	for {
		r.mu.Lock()
		reached, synced := r.version >= v, r.synced
		r.mu.Unlock()
		if reached || synced == nil {
			break
		}
		select {
		case <-synced:
			continue
		case <-ctx.Done():
		}
		break
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []apiserver.DataPlaneError
	for _, name := range slices.Sorted(maps.Keys(r.listeners)) {
		out = append(out, apiserver.DataPlaneError{Kind: spec.KindListener, Name: name, Node: r.self, Message: r.listeners[name].Error()})
	}
	return out, r.version >= v || r.synced == nil
}

// status is shown under "extra" in /v1/status.
func (r *reconciler) status() any {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]any{"dataPlaneVersion": r.version, "dataPlaneError": r.lastErr}
	if len(r.listeners) > 0 {
		failed := make(map[string]string, len(r.listeners))
		for name, err := range r.listeners {
			failed[name] = err.Error()
		}
		out["failedListeners"] = failed
	}
	return out
}
