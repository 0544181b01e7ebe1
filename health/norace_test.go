//go:build !race

package health

// raceEnabled skips allocation assertions: the race detector allocates.
const raceEnabled = false
