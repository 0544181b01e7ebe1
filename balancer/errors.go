package balancer

import (
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"
)

// errorKind classifies why a request could not be answered by its target.
type errorKind uint8

const (
	errNone errorKind = iota
	// errConnect: no connection to the target could be had; nothing was sent.
	errConnect
	// errResetBeforeResponse: the connection failed before any response byte.
	errResetBeforeResponse
	// errTimeout: the target did not answer within the response timeout.
	errTimeout
	// errBadResponse: the target answered with something that is not HTTP.
	errBadResponse
	// errClientBody: the client closed or reset while sending its body.
	errClientBody
	// errClientTimeout: the client sent its body too slowly.
	errClientTimeout
	// errBodyTooLarge: the client sent more than the listener allows.
	errBodyTooLarge
	// errMalformedBody: the client's body does not parse (a broken chunk).
	errMalformedBody
	// errDrainCut: the end of the target's deregistration delay closed the
	// connection before the answer: Gantry's doing, not the target's.
	errDrainCut
)

// targetsFault reports whether the failure counts against the target in
// passive outlier detection; the client's own failures never do.
func (k errorKind) targetsFault() bool {
	switch k {
	case errClientBody, errClientTimeout, errBodyTooLarge, errMalformedBody, errDrainCut:
		return false
	}
	return true
}

// statusFor maps a data-plane failure to the status code the client gets, with
// ALB's meanings and ALB's error_reason for the access log. It is the only
// place where errors become status codes.
func statusFor(k errorKind) (code int, reason string) {
	switch k {
	case errConnect:
		return fasthttp.StatusBadGateway, "TargetConnectionError"
	case errResetBeforeResponse:
		return fasthttp.StatusBadGateway, "TargetResponseError"
	case errTimeout:
		return fasthttp.StatusGatewayTimeout, "TargetTimeout"
	case errBadResponse:
		return fasthttp.StatusBadGateway, "TargetResponseError"
	case errClientBody:
		// Logged only: the client is gone and nothing is written to it.
		return 460, "ClientClosed"
	case errClientTimeout:
		return fasthttp.StatusRequestTimeout, "ClientTimeout"
	case errBodyTooLarge:
		return fasthttp.StatusRequestEntityTooLarge, "RequestBodyTooLarge"
	case errMalformedBody:
		return fasthttp.StatusBadRequest, "MalformedRequestBody"
	case errDrainCut:
		return fasthttp.StatusBadGateway, "TargetDeregistrationDelayElapsed"
	}
	return fasthttp.StatusBadGateway, "InternalError"
}

// isTimeout reports whether err is a deadline or timeout error.
func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isConnReset reports whether err says the peer closed or reset the connection.
func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, fasthttp.ErrConnectionClosed)
}
