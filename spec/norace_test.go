//go:build !race

package spec

// raceEnabled skips allocation assertions: the race detector allocates.
const raceEnabled = false
