package rules

import (
	"fmt"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// ActionKind says which of an Action's fields is set.
type ActionKind uint8

// Action kinds.
const (
	// ActionForward sends the request to a target group (Action.Forward).
	ActionForward ActionKind = iota + 1
	// ActionRedirect answers with a redirect (Action.Redirect).
	ActionRedirect
	// ActionFixed answers with a fixed response (Action.Fixed).
	ActionFixed
)

// String returns the ALB name of the kind, as access logs print it.
func (k ActionKind) String() string {
	switch k {
	case ActionForward:
		return "forward"
	case ActionRedirect:
		return "redirect"
	case ActionFixed:
		return "fixed-response"
	}
	return fmt.Sprintf("ActionKind(%d)", uint8(k))
}

// Action is what a rule (or the default action) does with a matched request.
// Actions belong to their Table and are immutable.
type Action struct {
	// ID is the action's index in Table.Actions; rule actions come in
	// priority order and the default action is last.
	ID int
	// Priority is the rule's priority, 0 for the default action.
	Priority int
	// Kind says which of Forward, Redirect and Fixed is set.
	Kind ActionKind
	// Forward is set for ActionForward.
	Forward *Forward
	// Redirect is set for ActionRedirect.
	Redirect *Redirect
	// Fixed is set for ActionFixed.
	Fixed *Fixed
}

// Forward sends requests to one target group or spreads them over several by
// weight. The caller draws n in [0, TotalWeight) and calls Pick.
type Forward struct {
	// Groups in the order written; a group of weight 0 is never picked.
	Groups []WeightedGroup
	// TotalWeight is the sum of the weights; always > 0.
	TotalWeight int
	// Stickiness pins a client to the group it first got (cookie GANTRYLBTG).
	Stickiness bool
	// StickinessDuration is the pin's lifetime when Stickiness is set.
	StickinessDuration time.Duration
}

// WeightedGroup is one target group of a forward.
type WeightedGroup struct {
	// Name is the target group's name.
	Name string
	// Weight is the group's share, 0..999.
	Weight int
}

// Pick returns the group owning n on the cumulative weight line, for n in
// [0, TotalWeight); n outside is clamped. It never returns a group of weight 0.
func (f *Forward) Pick(n int) *WeightedGroup {
	if n < 0 {
		n = 0
	}
	last := -1
	for i := range f.Groups {
		w := f.Groups[i].Weight
		if w <= 0 {
			continue
		}
		if n < w {
			return &f.Groups[i]
		}
		n -= w
		last = i
	}
	return &f.Groups[last]
}

// Fixed answers a request directly.
type Fixed struct {
	// StatusCode is the response status, 200..599.
	StatusCode int
	// ContentType is the Content-Type header; empty when not configured.
	ContentType []byte
	// Body is the response body.
	Body []byte
}

// defaultStickiness is ALB's target-group stickiness duration.
const defaultStickiness = 3600 * time.Second

// compileAction compiles one spec action; id and priority are stored as given.
func compileAction(a *spec.Action, id, priority int) (*Action, error) {
	n := 0
	out := &Action{ID: id, Priority: priority}
	if a.Forward != nil {
		n++
		f, err := compileForward(a.Forward)
		if err != nil {
			return nil, err
		}
		out.Kind, out.Forward = ActionForward, f
	}
	if a.Redirect != nil {
		n++
		r, err := compileRedirect(a.Redirect)
		if err != nil {
			return nil, fmt.Errorf("redirect: %w", err)
		}
		out.Kind, out.Redirect = ActionRedirect, r
	}
	if a.FixedResponse != nil {
		n++
		fr := a.FixedResponse
		if fr.StatusCode < 200 || fr.StatusCode > 599 {
			return nil, fmt.Errorf("fixedResponse: status code %d out of 200..599", fr.StatusCode)
		}
		out.Kind = ActionFixed
		out.Fixed = &Fixed{StatusCode: fr.StatusCode, ContentType: []byte(fr.ContentType), Body: []byte(fr.MessageBody)}
	}
	if n != 1 {
		return nil, fmt.Errorf("want exactly one of forward, redirect, fixedResponse, have %d", n)
	}
	return out, nil
}

func compileForward(sf *spec.Forward) (*Forward, error) {
	f := &Forward{}
	switch {
	case sf.TargetGroup != "" && len(sf.TargetGroups) > 0:
		return nil, fmt.Errorf("forward: both targetGroup and targetGroups")
	case sf.TargetGroup != "":
		f.Groups = []WeightedGroup{{Name: sf.TargetGroup, Weight: 1}}
	case len(sf.TargetGroups) > 0:
		for i, g := range sf.TargetGroups {
			w := 1
			if g.Weight != nil {
				w = *g.Weight
			}
			if g.Name == "" {
				return nil, fmt.Errorf("forward: targetGroups[%d]: empty name", i)
			}
			if w < 0 || w > 999 {
				return nil, fmt.Errorf("forward: targetGroups[%d]: weight %d out of 0..999", i, w)
			}
			f.Groups = append(f.Groups, WeightedGroup{Name: g.Name, Weight: w})
		}
	default:
		return nil, fmt.Errorf("forward: no target group")
	}
	for _, g := range f.Groups {
		f.TotalWeight += g.Weight
	}
	if f.TotalWeight == 0 {
		return nil, fmt.Errorf("forward: every target group has weight 0")
	}
	if s := sf.Stickiness; s != nil && s.Enabled {
		f.Stickiness = true
		f.StickinessDuration = defaultStickiness
		if s.DurationSeconds > 0 {
			f.StickinessDuration = time.Duration(s.DurationSeconds) * time.Second
		}
	}
	return f, nil
}
