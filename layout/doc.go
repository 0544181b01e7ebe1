// Package layout holds no code: its tests check the package structure that
// DESIGN.md section 2 lays down, so that a wrong import fails the build's
// tests instead of eroding the architecture.
package layout
