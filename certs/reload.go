package certs

import (
	"os"
	"slices"
	"time"
)

// fileStamp is what a poll compares before reading a file. A missing or
// unreadable file has a stamp too, so that it is reported once, not on
// every poll.
type fileStamp struct {
	modTime int64 // Unix nanoseconds
	size    int64
	missing bool
}

// statSources stamps every file of srcs: the certificate, then the key.
func statSources(srcs []source) []fileStamp {
	out := make([]fileStamp, 0, 2*len(srcs))
	for _, s := range srcs {
		out = append(out, stat(s.certPath), stat(s.keyPath))
	}
	return out
}

func stat(path string) fileStamp {
	fi, err := os.Stat(path) // follows symlinks, so a swapped link target counts
	if err != nil {
		return fileStamp{missing: true}
	}
	return fileStamp{modTime: fi.ModTime().UnixNano(), size: fi.Size()}
}

// reloadAll polls the files of every file listener the Provider knows.
func (p *Provider) reloadAll(now time.Time) {
	p.mu.Lock()
	var files []*fileState
	for _, e := range p.listeners {
		for _, st := range e.byKey {
			if st.files != nil {
				files = append(files, st.files)
			}
		}
	}
	p.mu.Unlock()
	for _, f := range files {
		p.poll(f, now)
	}
}

// poll reloads f's certificates if its files changed: cheap stamps first,
// then a content hash, then a parse of every file of the listener. The new
// set replaces the old one in one atomic store; a set that fails to load
// never replaces a working one.
func (p *Provider) poll(f *fileState, now time.Time) {
	stamps := statSources(f.srcs)
	if slices.Equal(stamps, f.stamps) {
		return
	}
	f.stamps = stamps
	pairs, err := readPairs(f.listener, f.srcs)
	if err != nil {
		p.reloadFailed(f.listener, err)
		return
	}
	h := hashPairs(pairs)
	if h == f.servingHash || h == f.failedHash {
		return // touched, restored, or already reported
	}
	set, err := parsePairs(p.log, f.listener, f.srcs, pairs, now)
	if err != nil {
		f.failedHash = h
		p.reloadFailed(f.listener, err)
		return
	}
	f.set.Store(set)
	f.servingHash = h
	f.failedHash = [len(h)]byte{}
	p.metrics.reloads.WithLabelValues(f.listener, resultSuccess).Inc()
	p.metrics.setExpiry(f.listener, set)
	p.log.Info("certificates reloaded", "listener", f.listener, "certificates", len(set.certs))
}

func (p *Provider) reloadFailed(listener string, err error) {
	p.metrics.reloads.WithLabelValues(listener, resultError).Inc()
	p.log.Error("certificate reload failed; the previous certificates keep serving",
		"listener", listener, "error", err)
}
