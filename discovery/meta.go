package discovery

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/hashicorp/memberlist"
)

// NodeMeta is what a node tells the cluster about itself in memberlist's node
// metadata. Encoded it must fit memberlist.MetaMaxSize (512 bytes).
type NodeMeta struct {
	// Roles such as "server" and "agent".
	Roles []string
	// APIAddr is the admin API address (host:port); RaftAddr the raft address
	// of a server node.
	APIAddr  string
	RaftAddr string
	// CPU is the capacity offered to tasks in CPU units (1024 per core, as ECS);
	// MemoryMiB the memory offered in MiB.
	CPU       int64
	MemoryMiB int64
	// Attributes are placement attributes such as zone=a.
	Attributes map[string]string
	// Drivers are the task drivers the node's agent offers ("process",
	// "docker"); none on a node that runs no tasks.
	Drivers []string
	// Boot identifies the process: New sets it at random (any value in
	// Config.Meta is replaced). A member that comes back with the same Boot
	// was wrongly declared dead or partitioned away; with another, it
	// restarted.
	Boot uint64
}

const metaVersion = 1

// ErrMetaTooLarge is returned (wrapped) when NodeMeta does not fit memberlist's limit.
var ErrMetaTooLarge = fmt.Errorf("discovery: node metadata larger than %d bytes", memberlist.MetaMaxSize)

// encodeMeta lays out: version, roles (count, strings), api, raft, cpu, memory,
// attributes (count, sorted key/value strings), boot; strings as length + bytes.
func encodeMeta(m NodeMeta) ([]byte, error) {
	b := []byte{metaVersion}
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Roles)))
	for _, r := range m.Roles {
		str(r)
	}
	str(m.APIAddr)
	str(m.RaftAddr)
	if m.CPU < 0 || m.MemoryMiB < 0 {
		return nil, errors.New("discovery: node metadata: negative capacity")
	}
	b = binary.AppendUvarint(b, uint64(m.CPU))
	b = binary.AppendUvarint(b, uint64(m.MemoryMiB))
	keys := make([]string, 0, len(m.Attributes))
	for k := range m.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		str(k)
		str(m.Attributes[k])
	}
	b = binary.AppendUvarint(b, m.Boot)
	// Drivers come last: metadata without them (an older node) decodes.
	b = binary.AppendUvarint(b, uint64(len(m.Drivers)))
	for _, d := range m.Drivers {
		str(d)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes encoded; shorten attributes, roles or addresses", ErrMetaTooLarge, len(b))
	}
	return b, nil
}

func decodeMeta(b []byte) (NodeMeta, error) {
	var m NodeMeta
	if len(b) == 0 {
		return m, nil
	}
	if b[0] != metaVersion {
		return m, fmt.Errorf("discovery: node metadata: version %d", b[0])
	}
	d := decoder{b: b[1:]}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return m, errors.New("discovery: node metadata: malformed roles")
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		m.Roles = append(m.Roles, d.str(memberlist.MetaMaxSize))
	}
	m.APIAddr = d.str(memberlist.MetaMaxSize)
	m.RaftAddr = d.str(memberlist.MetaMaxSize)
	m.CPU = int64(d.uvarint() & (1<<62 - 1))
	m.MemoryMiB = int64(d.uvarint() & (1<<62 - 1))
	n = d.uvarint()
	if n > uint64(len(d.b)) {
		return NodeMeta{}, errors.New("discovery: node metadata: malformed attributes")
	}
	if n > 0 {
		m.Attributes = make(map[string]string, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.str(memberlist.MetaMaxSize)
		m.Attributes[k] = d.str(memberlist.MetaMaxSize)
	}
	m.Boot = d.uvarint()
	if d.err == nil && len(d.b) > 0 {
		n = d.uvarint()
		if n > uint64(len(d.b)) {
			return NodeMeta{}, errors.New("discovery: node metadata: malformed drivers")
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			m.Drivers = append(m.Drivers, d.str(memberlist.MetaMaxSize))
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return NodeMeta{}, fmt.Errorf("discovery: node metadata: %w", d.err)
	}
	return m, nil
}
