// Package driver is the contract between the agent and the task drivers
// (driver/process, driver/docker): what to run (Task), what the agent learns
// back (Status), and the Driver interface both drivers implement.
//
// A driver starts and stops one container definition of one task on this
// host. It knows nothing about the cluster, the scheduler or target groups:
// the agent resolves a task definition into a Task, calls Start, registers the
// host ports of the returned Status in its target groups, watches Wait, and
// calls Stop (after draining) and Remove.
//
// The package must never import a driver implementation nor the control plane;
// it does not depend on spec either, so the agent converts spec's
// TaskDefinition into a Task.
package driver
