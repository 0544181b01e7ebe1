//go:build linux && race

package balancer

import "syscall"

// Under the race detector reads and writes go through package syscall,
// whose Read and Write tell the detector that a write happens before the
// read that gets its bytes (the ordering tests rely on); raw system calls
// would hide it and report races that are not.

func sysRead(fd uintptr, b []byte) (uintptr, syscall.Errno) {
	return errnoResult(syscall.Read(int(fd), b))
}

func sysWrite(fd uintptr, b []byte) (uintptr, syscall.Errno) {
	return errnoResult(syscall.Write(int(fd), b))
}

// sysRecvmsg is not used under the race detector (inqReads): its reads would
// not carry package syscall's ordering annotations.
func sysRecvmsg(uintptr, *syscall.Msghdr) (uintptr, syscall.Errno) { return 0, syscall.ENOSYS }

const inqReads = false

func errnoResult(n int, err error) (uintptr, syscall.Errno) {
	if err != nil {
		return 0, err.(syscall.Errno)
	}
	return uintptr(n), 0
}
