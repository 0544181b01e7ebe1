// Package process is the process driver: it runs a task's command directly on
// the host (Linux), with a dynamic host port per port mapping, a minimal
// environment, per-task output files of bounded size, ECS-style health checks,
// and one process group per task so that stopping a task stops everything it
// started.
//
// What a task sees:
//   - argv: the task's EntryPoint followed by its Command; the first element is
//     the program, looked up in the task's PATH when it has no slash.
//   - environment: PATH and HOME (the agent's, unless the task sets them), the
//     task's Env, $PORT (the first mapping's host port), GANTRY_PORT_<containerPort>
//     for each mapping, GANTRY_HOST_IP (Config.HostIP: the address the ports
//     were picked on and where the node registers them) and GANTRY_TASK_ID. Nothing else of the agent's
//     environment reaches the task, so the agent's secrets stay with it.
//   - working directory: the task's directory under Config.DataDir, which also
//     holds stdout.log and stderr.log (rotated to *.log.1 at Config.MaxLogBytes).
//
// Free host ports are picked by binding port 0 on Config.HostIP and releasing
// the port before the task starts: another program can take the port in
// between. The window is short, and a task that cannot bind exits and is
// reported stopped, so the agent starts a new one.
//
// CPU and memory are not enforced: the scheduler accounts for them.
//
// Processes cannot outlive the agent: each task's main process gets SIGKILL
// when the agent dies (Pdeathsig), and Recover kills any member of a recorded
// task's process group that a crashed agent left behind, then reports no task.
//
// The package must never know about the cluster: it starts and stops tasks.
package process
