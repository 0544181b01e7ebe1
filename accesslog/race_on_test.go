//go:build race

package accesslog

// raceEnabled is true under -race, whose instrumentation allocates.
const raceEnabled = true
