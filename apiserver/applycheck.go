package apiserver

import (
	"errors"
	"slices"

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
	return dedupErrors(errs)
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
