package balancer

import (
	"errors"
	"io"
	"net"
	"syscall"
	"unsafe"
)

// copyStream copies src to dst until src ends, an error, or src's read
// deadline. Between two *net.TCPConn it splices through a pipe it holds only
// while bytes are moving: io.Copy (net's splice) keeps a pipe, two file
// descriptors, for as long as it blocks, so every idle flow would cost six
// descriptors instead of two.
func copyStream(dst io.Writer, src io.Reader) (int64, error) {
	d, ok1 := dst.(*net.TCPConn)
	s, ok2 := src.(*net.TCPConn)
	if !ok1 || !ok2 {
		return io.Copy(dst, src)
	}
	return spliceStream(d, s)
}

// splicePipe is a kernel pipe used as splice(2)'s buffer.
type splicePipe struct{ r, w int }

// pipePool keeps a few drained pipes for reuse; the rest are closed.
var pipePool = make(chan *splicePipe, 64)

const pipeSize = 1 << 20 // as net's splice: fewer, larger moves

func getPipe() (*splicePipe, error) {
	select {
	case p := <-pipePool:
		return p, nil
	default:
	}
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, err
	}
	const fSetPipeSz = 1031 // F_SETPIPE_SZ
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[1]), fSetPipeSz, pipeSize)
	return &splicePipe{r: fds[0], w: fds[1]}, nil
}

// putPipe returns an empty pipe to the pool; a pipe that may hold bytes is
// closed instead.
func putPipe(p *splicePipe, empty bool) {
	if empty {
		select {
		case pipePool <- p:
			return
		default:
		}
	}
	_ = syscall.Close(p.r)
	_ = syscall.Close(p.w)
}

const spliceFlags = 0x1 | 0x2 // SPLICE_F_MOVE | SPLICE_F_NONBLOCK

func splice(in, out int, n int) (int, error) {
	m, _, e := syscall.Syscall6(syscall.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), spliceFlags)
	if e != 0 {
		return int(m), e
	}
	return int(m), nil
}

// spliceStream moves src to dst with splice(2). It waits for src to become
// readable without a pipe, takes a pipe, moves what is there until src has
// nothing more (EAGAIN), and gives the pipe back before waiting again.
func spliceStream(dst, src *net.TCPConn) (int64, error) {
	sr, err := src.SyscallConn()
	if err != nil {
		return io.Copy(dst, src)
	}
	dw, err := dst.SyscallConn()
	if err != nil {
		return io.Copy(dst, src)
	}
	var total int64
	for {
		eof, err := waitReadable(sr)
		if err != nil || eof {
			return total, err
		}
		p, err := getPipe()
		if err != nil {
			return total, err
		}
		n, eof, err := spliceBurst(sr, dw, p)
		total += n
		if err != nil || eof {
			return total, err
		}
	}
}

// waitReadable blocks (honouring src's read deadline) until src has bytes or
// has ended; it peeks, consuming nothing.
func waitReadable(sr syscall.RawConn) (eof bool, err error) {
	var opErr error
	var b [1]byte
	err = sr.Read(func(fd uintptr) bool {
		const msgPeekDontwait = syscall.MSG_PEEK | syscall.MSG_DONTWAIT
		n, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, msgPeekDontwait, 0, 0)
		switch {
		case e == syscall.EAGAIN:
			return false
		case e == syscall.EINTR:
			return false
		case e != 0:
			opErr = e
		case n == 0:
			eof = true
		}
		return true
	})
	if err == nil {
		err = opErr
	}
	return eof, err
}

// spliceBurst moves bytes from src to dst through p until src would block
// or ends, then puts p back. The pipe is always drained into dst before it
// is returned, so no byte waits in a pooled pipe.
func spliceBurst(sr, dw syscall.RawConn, p *splicePipe) (int64, bool, error) {
	var total int64
	empty := true
	defer func() { putPipe(p, empty) }()
	for {
		var in int
		var inErr error
		err := sr.Read(func(fd uintptr) bool {
			for {
				in, inErr = splice(int(fd), p.w, pipeSize)
				if inErr != syscall.EINTR {
					return true
				}
			}
		})
		if err != nil {
			return total, false, err
		}
		if errors.Is(inErr, syscall.EAGAIN) {
			return total, false, nil
		}
		if inErr != nil {
			return total, false, &net.OpError{Op: "splice", Net: "tcp", Err: inErr}
		}
		if in == 0 {
			return total, true, nil
		}
		empty = false
		for in > 0 {
			var out int
			var outErr error
			err := dw.Write(func(fd uintptr) bool {
				out, outErr = splice(p.r, int(fd), in)
				return outErr != syscall.EAGAIN && outErr != syscall.EINTR
			})
			if err == nil {
				err = outErr
			}
			if err == nil && out == 0 {
				err = io.ErrShortWrite
			}
			if err != nil {
				return total, false, &net.OpError{Op: "splice", Net: "tcp", Err: err}
			}
			in -= out
			total += int64(out)
		}
		empty = true
	}
}
