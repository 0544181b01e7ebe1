package health

import (
	"context"
	"errors"
	"fmt"
	"github.com/gantrylb/gantry/spec"
	"net"
	"net/http"
	"net/url"
	"time"
)

// checkConfig is a group's check after defaults; comparable, so Set can tell
// an unchanged check from a changed one.
type checkConfig struct {
	enabled      bool
	protocol     string // HTTP or TCP
	path         string
	port         string // "" means the traffic port
	interval     time.Duration
	timeout      time.Duration
	healthyThr   int
	unhealthyThr int
	matcher      string
}

// probe is one (group, address) under check.
type probe struct {
	group, address string
	status         *Status
	conf           checkConfig

	addr    string // where to connect: address, or its host with conf.port
	url     string // HTTP checks
	matcher spec.Matcher
	err     error // a config problem: every check fails with Elb.InternalError

	cancel context.CancelFunc // nil until started and after stop
	done   chan struct{}      // closed when the goroutine returns; nil if never started
}

func newProbe(group, address string, s *Status, conf checkConfig) *probe {
	p := &probe{group: group, address: address, status: s, conf: conf, addr: address}
	var errs []error
	if conf.port != "" {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			errs = append(errs, fmt.Errorf("health: target address %q: %w", address, err))
		}
		p.addr = net.JoinHostPort(host, conf.port)
	}
	switch conf.protocol {
	case "TCP":
	case "HTTP":
		u := "http://" + p.addr + conf.path
		if _, err := url.Parse(u); err != nil {
			errs = append(errs, fmt.Errorf("health: check path %q: %w", conf.path, err))
		}
		p.url = u
		m, err := spec.ParseMatcher(conf.matcher)
		if err != nil {
			errs = append(errs, fmt.Errorf("health: %w", err))
		}
		p.matcher = m
	default:
		errs = append(errs, fmt.Errorf("health: check protocol %q: not HTTP or TCP", conf.protocol))
	}
	p.err = errors.Join(errs...)
	return p
}

func (p *probe) stop() {
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
}

// probe runs one check of p bounded by its timeout.
func (c *Checker) probe(ctx context.Context, p *probe) result {
	if p.err != nil {
		return result{reason: reasonInternalError}
	}
	ctx, cancel := context.WithTimeout(ctx, p.conf.timeout)
	defer cancel()
	if p.conf.protocol == "TCP" {
		conn, err := c.dial(ctx, "tcp", p.addr)
		if err != nil {
			return failure(ctx, err)
		}
		_ = conn.Close()
		return result{ok: true}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return result{reason: reasonInternalError}
	}
	req.Host = p.addr
	req.Header.Set("User-Agent", UserAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return failure(ctx, err)
	}
	// Only the status line matters; closing the unread body closes the
	// connection (keep-alives are off), so no body is ever buffered.
	_ = resp.Body.Close()
	if !p.matcher.Match(resp.StatusCode) {
		return result{reason: reasonResponseCodeMismatch, code: uint16(min(max(resp.StatusCode, 0), 999))}
	}
	return result{ok: true}
}

// failure classifies a probe error: a recovered panic is Elb.InternalError,
// the check's deadline Target.Timeout, anything else (refused, reset, bad response) Target.FailedHealthChecks.
func failure(ctx context.Context, err error) result {
	if errors.Is(err, errProbePanic) {
		return result{reason: reasonInternalError}
	}
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return result{reason: reasonTimeout}
	}
	return result{reason: reasonFailedHealthChecks}
}
