package discovery

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Gossip messages of this package travel inside memberlist's user messages
// (broadcasts) and push/pull state. Layout, all integers unsigned varints:
//
//	byte 0: codec version (1)
//	byte 1: message type (1 registration, 2 full state)
//	registration: group, address, node, task, reason, health check path
//	  (each: length, bytes), source, state, health (one byte each), weight, version
//	state: count, then count registrations
//	leave: node name (length, bytes): the sender is about to leave
//
// Decoding checks every length against the limits of Registration.validate
// and rejects trailing bytes, so a message either decodes to valid
// registrations or is dropped with one of the reasons below.
const (
	codecVersion = 1

	msgRegistration = 1
	msgState        = 2
	msgLeave        = 3

	// maxMessageBytes caps one broadcast; maxStateBytes one push/pull state
	// (memberlist itself refuses states over 20 MB).
	maxMessageBytes = 2 << 10
	maxStateBytes   = 16 << 20
	maxStateEntries = 1 << 20
)

// Drop reasons, the values of gantry_gossip_dropped_messages_total{reason}.
const (
	dropMalformed   = "malformed"
	dropOversized   = "oversized"
	dropVersion     = "unsupported_version"
	dropUnknownType = "unknown_type"
	dropDecrypt     = "decrypt"
)

// decodeError is a dropped message: Reason is one of the drop reasons.
type decodeError struct {
	Reason string
	Err    error
}

func (e *decodeError) Error() string {
	return "discovery: decode message: " + e.Reason + ": " + e.Err.Error()
}
func (e *decodeError) Unwrap() error { return e.Err }

func dropped(reason, format string, args ...any) error {
	return &decodeError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// message is a decoded gossip message.
type message struct {
	Type uint8
	// Regs holds one registration for msgRegistration, all for msgState.
	Regs []Registration
	// Node is the leaving node of msgLeave.
	Node string
}

func encodeLeave(node string) []byte {
	b := []byte{codecVersion, msgLeave}
	b = binary.AppendUvarint(b, uint64(len(node)))
	return append(b, node...)
}

func encodeRegistration(r Registration) []byte {
	b := make([]byte, 0, 64+len(r.TargetGroup)+len(r.Address)+len(r.Node)+len(r.Task)+len(r.Reason))
	b = append(b, codecVersion, msgRegistration)
	return appendRegistration(b, r)
}

func encodeState(regs []Registration) []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen64+len(regs)*64)
	b = append(b, codecVersion, msgState)
	b = binary.AppendUvarint(b, uint64(len(regs)))
	for _, r := range regs {
		b = appendRegistration(b, r)
	}
	return b
}

func appendRegistration(b []byte, r Registration) []byte {
	for _, s := range [...]string{r.TargetGroup, r.Address, r.Node, r.Task, r.Reason, r.HealthCheckPath} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, sourceCode(r.Source), stateCode(r.State), healthCode(r.Health))
	b = binary.AppendUvarint(b, uint64(r.Weight))
	return binary.AppendUvarint(b, r.Version)
}

// decodeMessage decodes one message; errors are *decodeError.
func decodeMessage(b []byte) (message, error) {
	if len(b) < 2 {
		return message{}, dropped(dropMalformed, "%d bytes, too short", len(b))
	}
	if b[0] != codecVersion {
		return message{}, dropped(dropVersion, "codec version %d", b[0])
	}
	m := message{Type: b[1]}
	d := decoder{b: b[2:]}
	switch m.Type {
	case msgRegistration:
		if len(b) > maxMessageBytes {
			return message{}, dropped(dropOversized, "registration of %d bytes", len(b))
		}
		m.Regs = []Registration{d.registration()}
	case msgState:
		if len(b) > maxStateBytes {
			return message{}, dropped(dropOversized, "state of %d bytes", len(b))
		}
		n := d.uvarint()
		// Each registration takes at least 13 bytes: a cheap bound against
		// a huge count in a small message.
		if n > maxStateEntries || n > uint64(len(d.b))/13 {
			return message{}, dropped(dropMalformed, "state claims %d registrations in %d bytes", n, len(b))
		}
		m.Regs = make([]Registration, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			m.Regs = append(m.Regs, d.registration())
		}
	case msgLeave:
		if len(b) > maxMessageBytes {
			return message{}, dropped(dropOversized, "leave of %d bytes", len(b))
		}
		if m.Node = d.str(maxNameLen); d.err == nil && m.Node == "" {
			d.err = errors.New("empty node name")
		}
	default:
		return message{}, dropped(dropUnknownType, "message type %d", m.Type)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return message{}, dropped(dropMalformed, "%v", d.err)
	}
	return m, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) { // overflow, truncated or not minimal
		d.fail(errors.New("bad varint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str(limit int) string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(limit) || n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("string of %d bytes (limit %d, %d left)", n, limit, len(d.b)))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(errors.New("truncated"))
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) registration() Registration {
	var r Registration
	r.TargetGroup = d.str(maxGroupLen)
	r.Address = d.str(maxAddrLen)
	r.Node = d.str(maxNameLen)
	r.Task = d.str(maxNameLen)
	r.Reason = d.str(maxNameLen)
	r.HealthCheckPath = d.str(maxAddrLen)
	src, st, h := d.byte(), d.byte(), d.byte()
	w := d.uvarint()
	r.Version = d.uvarint()
	if d.err != nil {
		return Registration{}
	}
	if int(src) < len(sources) {
		r.Source = sources[src]
	}
	if int(st) < len(states) {
		r.State = states[st]
	}
	if int(h) < len(healths) {
		r.Health = healths[h]
	}
	if w > maxWeight {
		d.fail(fmt.Errorf("weight %d", w))
		return Registration{}
	}
	r.Weight = int(w)
	if r.Version == 0 {
		d.fail(errors.New("version 0"))
		return Registration{}
	}
	if err := r.validate(); err != nil {
		d.fail(err)
		return Registration{}
	}
	return r
}
