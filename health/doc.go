// Package health owns the health of targets: the ALB target state machine
// (initial, healthy, unhealthy, draining), active HTTP and TCP health checks run
// by a Checker, and passive outlier detection from real traffic (Outlier).
//
// Per-target state lives in a Status made only of atomics. The balancer embeds
// one *Status in each long-lived target object, so a health flap or an ejection
// changes routing without rebuilding the RouteTable, and the state of an
// unchanged target survives configuration reloads.
//
// Policy choices, where ALB leaves room:
//   - A new target is not Available until its first passing check (DESIGN.md:
//     "a new target gets traffic after its first passing check").
//   - A group whose health check is disabled reports its targets healthy with
//     reason Target.HealthCheckDisabled (ALB would say "unused"), so traffic flows.
//   - Draining is set by the consumer and sticks: check results no longer move
//     the state until Reset.
//   - Failing open (routing to every target when none is Available) is the
//     balancer's decision; this package only reports.
//
// The package must never import balancer (its consumer) nor the control plane;
// it depends on spec only. Its hot paths (Status.Available, Outlier.Observe) do
// not allocate.
package health
