//go:build race

package desync

// raceEnabled is true under -race, whose instrumentation allocates.
const raceEnabled = true
