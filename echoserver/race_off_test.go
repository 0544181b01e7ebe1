//go:build !race

package echoserver

// raceEnabled: the race detector allocates, so allocation assertions are skipped.
const raceEnabled = false
