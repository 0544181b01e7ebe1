package echoserver

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzReadFrameHeader checks that any bytes decode to a header or an error,
// never a panic, and that an accepted header is re-encoded to the same length.
func FuzzReadFrameHeader(f *testing.F) {
	for _, seed := range [][]byte{
		{0x81, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'},
		{0x82, 0xFE, 0x01, 0x00, 0, 0, 0, 0},
		{0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0},
		{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8},
		{0x89, 0x80, 0, 0, 0, 0},
		{0x81, 0x01, 'a'},
		{0xF1, 0x80},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fh, err := readFrameHeader(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		if fh.length>>63 != 0 {
			t.Fatalf("readFrameHeader(% x) length %d overflows", data, fh.length)
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if err := writeFrameHeader(w, fh.fin, fh.opcode, fh.length); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		back, err := readFrameHeader(bufio.NewReader(bytes.NewReader(append(setMask(out.Bytes()), 0, 0, 0, 0))))
		if err != nil || back.length != fh.length || back.opcode != fh.opcode || back.fin != fh.fin {
			t.Fatalf("round trip of %+v = %+v, %v", fh, back, err)
		}
	})
}

// setMask sets the mask bit of an encoded server header so it reads as a client's.
func setMask(h []byte) []byte {
	h[1] |= 0x80
	return h
}
