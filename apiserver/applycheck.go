package apiserver

import (
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

// applyProblems is every problem of a rejected apply, as "gantry validate"
// reports them for the same files, plus those only the stored state shows:
// decodeErrs (which hold each document's own checks, minus those that follow
// from a field that failed to decode), then the set checked against st.
// With decode errors the documents are partial, their failed fields zero:
// checking each resource again would report those zeros, so only what spans
// resources is kept of store.Check's answer.
func applyProblems(st *store.State, docs []spec.Document, decodeErrs spec.ErrorList) spec.ErrorList {
	var set spec.ErrorList
	if err := store.Check(st, docs); err != nil && !errors.As(err, &set) {
		set = spec.ErrorList{{Msg: err.Error()}}
	}
	own := map[string]bool{}
	for _, e := range resourceErrors(docs) { // after store.Check's defaults, as it validated them
		own[e.Error()] = true
	}
	errs := slices.Clone(decodeErrs)
	for _, e := range set {
		if !own[e.Error()] {
			errs = append(errs, e)
		}
	}
	return dedupErrors(append(errs, groupErrors(st, docs)...))
}

// withSetProblems completes the problems the store rejected a fully decoded
// apply with: those it could not see once it stopped at a service's first
// unresolved reference.
func withSetProblems(err error, st *store.State, docs []spec.Document) error {
	var el spec.ErrorList
	if !errors.As(err, &el) {
		return err
	}
	return dedupErrors(append(slices.Clone(el), groupErrors(st, docs)...)).Err()
}

// resourceErrors checks each document on its own, as Validate does after
// SetDefaults.
func resourceErrors(docs []spec.Document) spec.ErrorList {
	var errs spec.ErrorList
	for _, d := range docs {
		switch {
		case d.Listener != nil:
			errs = append(errs, d.Listener.Validate()...)
		case d.TargetGroup != nil:
			errs = append(errs, d.TargetGroup.Validate()...)
		case d.TaskDefinition != nil:
			errs = append(errs, d.TaskDefinition.Validate()...)
		case d.Service != nil:
			errs = append(errs, d.Service.Validate()...)
		}
	}
	return errs
}

// groupErrors reports each service document's load balancers naming a
// target group neither stored nor applied. The store checks them only once
// the service's task definition resolves; "gantry validate" always does.
func groupErrors(st *store.State, docs []spec.Document) spec.ErrorList {
	groups := maps.Clone(st.TargetGroups)
	if groups == nil {
		groups = map[string]*spec.TargetGroup{}
	}
	var services []*spec.Service
	for _, d := range docs {
		switch {
		case d.TargetGroup != nil:
			groups[d.TargetGroup.Name] = d.TargetGroup
		case d.Service != nil:
			services = append(services, d.Service)
		}
	}
	list := slices.Collect(maps.Values(groups))
	var errs spec.ErrorList
	for _, s := range services {
		// No task definitions: only the groups' existence is checked
		// (and the family's, which the store reports in its own words).
		for _, e := range spec.ValidateServices([]*spec.Service{s}, nil, list) {
			if strings.HasPrefix(e.Path, "loadBalancers") {
				errs = append(errs, e)
			}
		}
	}
	return errs
}

// dedupErrors drops repeated problems, keeping the first, and sorts.
func dedupErrors(errs spec.ErrorList) spec.ErrorList {
	seen := map[string]bool{}
	out := errs[:0]
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	out.Sort()
	return out
}
