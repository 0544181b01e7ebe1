// Package docker is the Docker driver: it runs each task as one container of
// the local Docker Engine, created from the task with labels that tie it to
// the task (gantry.managed=true, gantry.task, gantry.family, gantry.revision,
// gantry.container), its port mappings published on the host (HostPort 0
// gets a port from Docker, read back from the container), its memory and cpu
// limits, and its health check as the container's Docker health check.
//
// The Engine API is reached through Engine, a small interface declared here
// and implemented over github.com/moby/moby/client by Moby. The moby client is
// v0.x and changes between minor versions: only moby.go knows it.
//
// Images are never pulled unless Config.Pull is set: hosts here have no
// registry, and a task whose image is missing fails to start with a
// CannotPullContainerError stop reason instead of hanging on a pull.
//
// Containers outlive the agent. Recover lists the containers labelled
// gantry.managed=true and adopts them, so a restarted agent does not start
// duplicates. Stop stops then removes the container; its final status stays
// in memory until Remove.
//
// The package must never know about the cluster: it starts and stops tasks.
package docker
