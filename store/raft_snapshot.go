package store

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/gantrylb/gantry/spec"
)

// snapshotFormat versions the snapshot document. New resource kinds (task
// definitions and their revisions, services, placed tasks) are added as new
// optional fields: a snapshot without them restores them empty, so older
// snapshots stay readable without a bump. Bump the format only when older
// builds must refuse a snapshot they would misread; they then fail to restore
// it instead of dropping what they do not know.
const snapshotFormat = 1

// wireState is the snapshot document: the whole State with the positions its
// resources were written at.
type wireState struct {
	Format       int                       `json:"format"`
	Version      uint64                    `json:"version"`
	Listeners    map[string]*wireListener  `json:"listeners,omitempty"`
	TargetGroups map[string]*wireTargetGrp `json:"targetGroups,omitempty"`
	Registered   map[string][]spec.Target  `json:"registered,omitempty"`
}

// encodeSnapshot writes s as one JSON document.
func encodeSnapshot(w io.Writer, s *State) error {
	ws := wireState{
		Format:       snapshotFormat,
		Version:      s.Version,
		Listeners:    make(map[string]*wireListener, len(s.Listeners)),
		TargetGroups: make(map[string]*wireTargetGrp, len(s.TargetGroups)),
		Registered:   s.Registered,
	}
	for name, l := range s.Listeners {
		ws.Listeners[name] = toWireListener(l)
	}
	for name, g := range s.TargetGroups {
		ws.TargetGroups[name] = toWireGroup(g)
	}
	if err := json.NewEncoder(w).Encode(&ws); err != nil {
		return fmt.Errorf("store: encode snapshot: %w", err)
	}
	return nil
}

// decodeSnapshot reads a document written by encodeSnapshot.
func decodeSnapshot(r io.Reader) (*State, error) {
	var ws wireState
	if err := json.NewDecoder(r).Decode(&ws); err != nil {
		return nil, fmt.Errorf("store: decode snapshot: %w", err)
	}
	if ws.Format < 1 || ws.Format > snapshotFormat {
		return nil, fmt.Errorf("store: decode snapshot: format %d, this build reads 1..%d: upgrade this server", ws.Format, snapshotFormat)
	}
	s := emptyState()
	s.Version = ws.Version
	for name, l := range ws.Listeners {
		s.Listeners[name] = l.listener()
	}
	for name, g := range ws.TargetGroups {
		s.TargetGroups[name] = g.group()
	}
	for group, list := range ws.Registered {
		s.Registered[group] = list
	}
	return s, nil
}
