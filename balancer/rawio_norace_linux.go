//go:build linux && !race

package balancer

import (
	"syscall"
	"unsafe"
)

// sysRead and sysWrite are recv(2) and send(2) as raw system calls. On a
// socket they do what read(2) and write(2) do, without the file layer's
// position lock, permission and notification hooks (nginx uses them for
// the same reason); send's MSG_NOSIGNAL makes a write to a reset peer fail
// with EPIPE without raising SIGPIPE first.
func sysRead(fd uintptr, b []byte) (uintptr, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
	return r, e
}

func sysWrite(fd uintptr, b []byte) (uintptr, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_NOSIGNAL, 0, 0)
	return r, e
}

// sysRecvmsg is recvmsg(2) as a raw system call.
func sysRecvmsg(fd uintptr, m *syscall.Msghdr) (uintptr, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(m)), 0)
	return r, e
}

// inqReads: client connections may read with TCP_INQ (rawio_linux.go).
const inqReads = true
