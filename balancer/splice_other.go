//go:build !linux

package balancer

import "io"

// copyStream copies src to dst; splice(2) is Linux only.
func copyStream(dst io.Writer, src io.Reader) (int64, error) { return io.Copy(dst, src) }
