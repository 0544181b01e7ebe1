package wsframe

import (
	"encoding/binary"
	"testing"
)

// refBoundaries is the reference parser: it walks a whole stream frame by
// frame and returns the offset after each complete frame, and whether the
// stream broke (a forbidden 64-bit length).
func refBoundaries(s []byte) (ends []int, closes []bool, broken bool) {
	off := 0
	for {
		if len(s)-off < 2 {
			return ends, closes, false
		}
		op := s[off] & 0x0f
		masked := s[off+1]&0x80 != 0
		l := uint64(s[off+1] & 0x7f)
		h := 2
		switch l {
		case 126:
			if len(s)-off < 4 {
				return ends, closes, false
			}
			l = uint64(binary.BigEndian.Uint16(s[off+2:]))
			h = 4
		case 127:
			// The tracker judges a header once it has all of it.
			if len(s)-off < 10 || (masked && len(s)-off < 14) {
				return ends, closes, false
			}
			l = binary.BigEndian.Uint64(s[off+2:])
			if l>>63 != 0 {
				return ends, closes, true
			}
			h = 10
		}
		if masked {
			h += 4
		}
		if uint64(len(s)-off-h) < l {
			return ends, closes, false
		}
		off += h + int(l)
		ends = append(ends, off)
		closes = append(closes, op == 8)
	}
}

func frame(op byte, masked bool, n int) []byte {
	b := []byte{0x80 | op}
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if masked {
		b = append(b, 1, 2, 3, 4)
	}
	return append(b, make([]byte, n)...)
}

// check feeds s to a Tracker in pieces whose sizes come from splits and
// compares every boundary with the reference.
func check(t *testing.T, s []byte, splits []byte) {
	ends, closes, broken := refBoundaries(s)
	isEnd := map[int]bool{0: true}
	for _, e := range ends {
		isEnd[e] = true
	}
	var tr Tracker
	off, si := 0, 0
	for off < len(s) {
		n := 1
		if si < len(splits) {
			n = int(splits[si]) + 1
			si++
		}
		n = min(n, len(s)-off)
		if want, got := nextEnd(ends, off, off+n), tr.NextBoundary(s[off:off+n]); !tr.Broken() && got != want {
			t.Fatalf("NextBoundary at %d over %d bytes = %d, want %d", off, n, got, want)
		}
		tr.Feed(s[off : off+n])
		off += n
		if tr.Broken() {
			break
		}
		if got := tr.AtBoundary(); got != isEnd[off] {
			t.Fatalf("AtBoundary after %d bytes = %v, want %v (ends %v)", off, got, isEnd[off], ends)
		}
		sawClose := false
		for i, e := range ends {
			if e <= off && closes[i] {
				sawClose = true
			}
		}
		if tr.SawClose() != sawClose {
			t.Fatalf("SawClose after %d bytes = %v, want %v", off, tr.SawClose(), sawClose)
		}
	}
	if tr.Broken() != broken {
		t.Fatalf("Broken = %v, want %v", tr.Broken(), broken)
	}
}

// nextEnd is the first boundary in (from, to] relative to from, or -1.
func nextEnd(ends []int, from, to int) int {
	for _, e := range ends {
		if e > from && e <= to {
			return e - from
		}
	}
	return -1
}

func TestTracker(t *testing.T) {
	big := 70000
	cases := []struct {
		name string
		s    []byte
	}{
		{"empty", nil},
		{"small unmasked", frame(1, false, 5)},
		{"zero length", append(frame(9, false, 0), frame(10, false, 0)...)},
		{"16-bit length", frame(2, false, 300)},
		{"64-bit length", frame(2, false, big)},
		{"masked", append(frame(1, true, 3), frame(2, true, 200)...)},
		{"close", append(frame(1, false, 1), frame(8, false, 2)...)},
		{"partial tail", append(frame(1, false, 3), 0x81, 126, 1)},
		{"forbidden length", append(frame(1, false, 1), 0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0)},
	}
	for _, c := range cases {
		for _, split := range []byte{0, 1, 2, 6, 13, 255} {
			t.Run(c.name, func(t *testing.T) {
				splits := make([]byte, len(c.s))
				for i := range splits {
					splits[i] = split
				}
				check(t, c.s, splits)
			})
		}
	}
}

func TestAppendClose(t *testing.T) {
	got := AppendClose(nil, CloseGoingAway, "bye")
	want := []byte{0x88, 5, 0x03, 0xe9, 'b', 'y', 'e'}
	if string(got) != string(want) {
		t.Fatalf("AppendClose = %x, want %x", got, want)
	}
	var tr Tracker
	tr.Feed(got)
	if !tr.AtBoundary() || !tr.SawClose() {
		t.Fatalf("after a close frame: AtBoundary %v SawClose %v, want true true", tr.AtBoundary(), tr.SawClose())
	}
}

func FuzzTracker(f *testing.F) {
	f.Add(frame(1, false, 5), []byte{0, 3})
	f.Add(append(frame(2, true, 300), frame(8, false, 2)...), []byte{1, 2, 13})
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, []byte{4})
	f.Add([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, []byte{})
	f.Fuzz(func(t *testing.T, s, splits []byte) {
		check(t, s, splits)
	})
}

func BenchmarkFeed(b *testing.B) {
	s := append(frame(2, false, 100), frame(2, false, 4000)...)
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	var tr Tracker
	for b.Loop() {
		tr.Feed(s)
	}
}
