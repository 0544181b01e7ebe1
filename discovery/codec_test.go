package discovery

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sampleReg() Registration {
	return Registration{
		TargetGroup: "web", Address: "10.0.0.1:8080", Weight: 3, Node: "n1", Source: SourceDocker,
		Task: "web-1", State: StateDraining, Health: HealthUnhealthy, Reason: "Target.Timeout",
		HealthCheckPath: "/health", Version: 1234567,
	}
}

func TestCodecRoundTrip(t *testing.T) {
	r := sampleReg()
	m, err := decodeMessage(encodeRegistration(r))
	if err != nil || m.Type != msgRegistration || len(m.Regs) != 1 || m.Regs[0] != r {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", r, m, err)
	}
	regs := []Registration{r, {TargetGroup: "api", Address: "[::1]:1", Weight: 1, Node: "n2", Source: SourceStatic, State: StateRegistered, Health: HealthInitial, Version: 1}}
	m, err = decodeMessage(encodeState(regs))
	if err != nil || m.Type != msgState || !reflect.DeepEqual(m.Regs, regs) {
		t.Fatalf("state round trip = %+v, %v", m, err)
	}
	m, err = decodeMessage(encodeLeave("n3"))
	if err != nil || m.Type != msgLeave || m.Node != "n3" {
		t.Fatalf("leave round trip = %+v, %v", m, err)
	}
	if m, err := decodeMessage(encodeState(nil)); err != nil || len(m.Regs) != 0 {
		t.Fatalf("empty state = %+v, %v", m, err)
	}
}

func TestCodecDrops(t *testing.T) {
	good := encodeRegistration(sampleReg())
	bad := func(mut func(r *Registration)) []byte {
		r := sampleReg()
		mut(&r)
		return encodeRegistration(r)
	}
	big := make([]byte, maxMessageBytes+1)
	copy(big, good)
	for _, tc := range []struct {
		name   string
		msg    []byte
		reason string
	}{
		{"empty", nil, dropMalformed},
		{"one byte", []byte{1}, dropMalformed},
		{"codec version", append([]byte{9}, good[1:]...), dropVersion},
		{"unknown type", []byte{codecVersion, 77, 0}, dropUnknownType},
		{"truncated", good[:len(good)-1], dropMalformed},
		{"trailing", append(bytes.Clone(good), 0), dropMalformed},
		{"oversized", big, dropOversized},
		{"zero version", bad(func(r *Registration) { r.Version = 0 }), dropMalformed},
		{"bad address", bad(func(r *Registration) { r.Address = "nope" }), dropMalformed},
		{"empty group", bad(func(r *Registration) { r.TargetGroup = "" }), dropMalformed},
		{"long group", bad(func(r *Registration) { r.TargetGroup = strings.Repeat("g", maxGroupLen+1) }), dropMalformed},
		{"weight", bad(func(r *Registration) { r.Weight = 5000 }), dropMalformed},
		{"source", bad(func(r *Registration) { r.Source = "elsewhere" }), dropMalformed},
		{"huge count", []byte{codecVersion, msgState, 0xff, 0xff, 0xff, 0xff, 0x0f}, dropMalformed},
		{"empty leave", []byte{codecVersion, msgLeave, 0}, dropMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeMessage(tc.msg)
			var de *decodeError
			if !errors.As(err, &de) || de.Reason != tc.reason {
				t.Fatalf("decodeMessage = %v, want reason %s", err, tc.reason)
			}
		})
	}
}

func TestCodecBroadcastFitsPacket(t *testing.T) {
	r := sampleReg()
	long, name := strings.Repeat("x", maxAddrLen), strings.Repeat("n", maxNameLen)
	r.TargetGroup, r.Address, r.Node, r.Task, r.Reason, r.HealthCheckPath = strings.Repeat("g", maxGroupLen), long[:250]+":8080", name, name, name, long
	if n := len(encodeRegistration(r)); n > 1400-100 || n > maxMessageBytes {
		t.Errorf("largest registration encodes to %d bytes, more than a UDP gossip packet can carry", n)
	}
}

// FuzzDecodeMessage: no input crashes the decoder; what decodes re-encodes
// to the same bytes (the encoding is canonical) and is valid.
func FuzzDecodeMessage(f *testing.F) {
	for _, seed := range [][]byte{
		encodeRegistration(sampleReg()),
		encodeState([]Registration{sampleReg(), sampleReg()}),
		encodeLeave("n1"),
		{}, {1}, {1, 2, 0},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			var de *decodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a decodeError", err)
			}
			return
		}
		var again []byte
		switch m.Type {
		case msgRegistration:
			again = encodeRegistration(m.Regs[0])
		case msgState:
			again = encodeState(m.Regs)
		case msgLeave:
			again = encodeLeave(m.Node)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %x gave %x", b, again)
		}
		for _, r := range m.Regs {
			if err := r.validate(); err != nil || r.Version == 0 {
				t.Fatalf("decoded invalid registration %+v: %v", r, err)
			}
		}
	})
}

// TestFuzzSeedsCommitted keeps the seed corpus in testdata/fuzz in step.
func TestFuzzSeedsCommitted(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeMessage")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("no seed corpus in %s: %v", dir, err)
	}
}

func TestMetaRoundTripAndLimit(t *testing.T) {
	m := NodeMeta{Roles: []string{"server", "agent"}, APIAddr: "10.0.0.1:7070", RaftAddr: "10.0.0.1:7947",
		CPU: 4096, MemoryMiB: 8192, Attributes: map[string]string{"zone": "a", "rack": "r1"}, Boot: 1<<63 | 77,
		Drivers: []string{"process", "docker"}}
	b, err := encodeMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMeta(b)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("decodeMeta = %+v, %v; want %+v", got, err, m)
	}
	t.Logf("metadata with 2 roles, 2 addresses, 2 attributes and 2 drivers: %d bytes", len(b))
	// A node of an older build sends no drivers: its metadata still decodes.
	old := m
	old.Drivers = nil
	ob, _ := encodeMeta(old)
	if got, err := decodeMeta(ob[:len(ob)-1]); err != nil || got.Drivers != nil || got.Boot != m.Boot {
		t.Errorf("decodeMeta(without drivers) = %+v, %v", got, err)
	}
	m.Attributes["big"] = strings.Repeat("v", 500)
	if _, err := encodeMeta(m); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("encodeMeta(600 bytes) = %v, want ErrMetaTooLarge", err)
	}
	if err := (Config{NodeName: "n", Meta: m}).Validate(); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("Validate = %v, want ErrMetaTooLarge", err)
	}
	for _, bad := range [][]byte{{2}, {1, 5}, append(bytes.Clone(b), 1)} {
		if _, err := decodeMeta(bad); err == nil {
			t.Errorf("decodeMeta(%x) accepted", bad)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	b, _ := encodeMeta(NodeMeta{Roles: []string{"agent"}, APIAddr: "a:1", Attributes: map[string]string{"k": "v"}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err == nil && len(b) > 0 {
			if _, err := encodeMeta(m); err != nil && len(b) <= 512 {
				t.Fatalf("decoded meta does not re-encode: %v", err)
			}
		}
	})
}
