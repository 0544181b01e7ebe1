//go:build !race

package balancer

// raceEnabled is true under -race, whose instrumentation allocates and
// slows bulk transfers down.
const raceEnabled = false
