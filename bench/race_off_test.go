//go:build !race

package main

// raceEnabled is true when built with -race, which makes allocation counts meaningless.
const raceEnabled = false
