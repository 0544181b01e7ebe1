//go:build race

package rules

// raceEnabled reports whether the race detector is on; it makes allocations.
const raceEnabled = true
