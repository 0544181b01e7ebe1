//go:build linux

package process

import (
	"os/exec"
	"runtime"
	"sync"
)

// spawner starts processes from one goroutine locked to its OS thread.
//
// Pdeathsig fires when the *thread* that forked the child exits, not the
// process (see golang/go#27505). Go terminates a thread when a goroutine
// locked to it exits, so a task started from an arbitrary goroutine could be
// killed because some unrelated locked goroutine ended on that thread. The
// spawner's thread lives as long as the Driver: it exits only in Close, after
// every task has stopped.
type spawner struct {
	reqs chan spawnReq
	wg   sync.WaitGroup
}

type spawnReq struct {
	cmd   *exec.Cmd
	reply chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq)}
	s.wg.Go(func() {
		// Never unlocked: when this goroutine ends, its thread ends with it,
		// which is harmless once no task is left.
		runtime.LockOSThread()
		for r := range s.reqs {
			r.reply <- r.cmd.Start()
		}
	})
	return s
}

// start starts cmd on the spawner's thread. It must not be called after stop.
func (s *spawner) start(cmd *exec.Cmd) error {
	reply := make(chan error, 1)
	s.reqs <- spawnReq{cmd: cmd, reply: reply}
	return <-reply
}

// stop ends the spawner and waits for it.
func (s *spawner) stop() {
	close(s.reqs)
	s.wg.Wait()
}
