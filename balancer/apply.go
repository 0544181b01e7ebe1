package balancer

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// ListenerError is a listener that Update could not apply: its TLS
// configuration could not be had, its address could not be bound, or its
// rules did not compile. The rest of the configuration was applied.
type ListenerError struct {
	Listener string
	Err      error
}

func (e *ListenerError) Error() string {
	return fmt.Sprintf("balancer: listener %s: %v", e.Listener, e.Err)
}

func (e *ListenerError) Unwrap() error { return e.Err }

// listenerFailures remembers, per listener, why the latest Update could not
// apply it, and exports it as gantry_listener_config_failed. Guarded by
// Balancer.mu.
type listenerFailures struct {
	errs  map[string]error
	gauge *prometheus.GaugeVec // listener
}

func newListenerFailures(reg prometheus.Registerer) *listenerFailures {
	f := &listenerFailures{
		errs: map[string]error{},
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gantry_listener_config_failed",
			Help: "1 while the listener's latest configuration could not be applied on this node (address in use, TLS configuration unavailable); it is retried on every update.",
		}, []string{"listener"}),
	}
	if reg != nil {
		reg.MustRegister(f.gauge)
	}
	return f
}

// record replaces the failures with those of the latest Update, logging
// each new or changed failure once and each recovery, and returns them as
// one error (nil when every listener was applied), in listener order.
func (f *listenerFailures) record(b *Balancer, failed map[string]error) error {
	for name, old := range f.errs {
		if _, still := failed[name]; !still {
			f.gauge.DeleteLabelValues(name)
			if _, running := b.listeners[name]; running {
				b.log.Info("listener configuration applied after earlier failure", "listener", name, "previous_err", old)
			} else {
				b.log.Info("failing listener removed", "listener", name, "previous_err", old)
			}
		}
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(failed)) {
		err := failed[name]
		if old, ok := f.errs[name]; !ok || old.Error() != err.Error() {
			_, running := b.listeners[name]
			b.log.Error("listener configuration not applied; it is retried on every update",
				"listener", name, "serving_previous", running, "err", err)
		}
		f.gauge.WithLabelValues(name).Set(1)
		errs = append(errs, &ListenerError{Listener: name, Err: err})
	}
	f.errs = failed
	return errors.Join(errs...)
}

// ListenerErrors returns, per listener, why the latest Update could not
// apply it; empty when everything was applied. The map belongs to the
// caller.
func (b *Balancer) ListenerErrors() map[string]error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.failures.errs)
}

// rebase returns a copy of st whose forward actions use groups: the state a
// listener keeps serving when its new configuration cannot be applied, so
// that it follows target-group changes all the same. It fails when a group
// st forwards to no longer exists.
func rebase(st *listenerState, groups map[string]*group) (*listenerState, error) {
	next := *st
	next.forwards = make([]*forwardPlan, len(st.forwards))
	for i, p := range st.forwards {
		if p == nil {
			continue
		}
		np := &forwardPlan{fwd: p.fwd, groupIDs: p.groupIDs}
		for _, wg := range p.fwd.Groups {
			g := groups[wg.Name]
			if g == nil {
				return nil, fmt.Errorf("target group %q of the previous configuration does not exist", wg.Name)
			}
			np.groups = append(np.groups, g)
		}
		next.forwards[i] = np
	}
	return &next, nil
}
