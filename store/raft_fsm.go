package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gantrylb/gantry/spec"
	"github.com/hashicorp/raft"
)

// Commands travel through the raft log as two bytes, the command format and
// the operation, followed by a JSON body. A new operation or a new optional
// body field keeps the format; a change that older servers must not apply
// half-understood bumps it, and older servers then refuse the command (every
// server must be upgraded before the new command is used).
const commandFormat byte = 1

// Operations of the raft log.
const (
	opApply byte = iota + 1
	opDelete
	opRegister
	opDeregister
	opCommitPlan
	opTaskStatus
	opDrainNode
)

// command is the body of one raft log entry; op says which fields are set.
type command struct {
	op byte

	Docs    []wireDoc     `json:"docs,omitempty"`    // opApply
	Kind    string        `json:"kind,omitempty"`    // opDelete
	Name    string        `json:"name,omitempty"`    // opDelete
	Group   string        `json:"group,omitempty"`   // opRegister, opDeregister
	Targets []spec.Target `json:"targets,omitempty"` // opRegister
	Addrs   []string      `json:"addrs,omitempty"`   // opDeregister
	Plan    *Plan         `json:"plan,omitempty"`    // opCommitPlan
	TaskID  string        `json:"taskId,omitempty"`  // opTaskStatus
	Status  *TaskStatus   `json:"status,omitempty"`  // opTaskStatus
	Drain   bool          `json:"drain,omitempty"`   // opDrainNode (Name is the node)
	At      time.Time     `json:"at,omitzero"`       // opDrainNode
}

// wireDoc is a spec.Document with the positions its JSON form leaves out:
// located errors and "first at" messages must read the same on every replica.
type wireDoc struct {
	Kind        string         `json:"kind"`
	Pos         spec.Position  `json:"pos"`
	Listener    *wireListener  `json:"listener,omitempty"`
	TargetGroup *wireTargetGrp `json:"targetGroup,omitempty"`
	TaskDef     *wireTaskDef   `json:"taskDefinition,omitempty"`
	Service     *wireService   `json:"service,omitempty"`
}

type wireTaskDef struct {
	Spec      *spec.TaskDefinition     `json:"spec"`
	Pos       spec.Position            `json:"pos"`
	Positions map[string]spec.Position `json:"positions"`
}

type wireService struct {
	Spec      *spec.Service            `json:"spec"`
	Pos       spec.Position            `json:"pos"`
	Positions map[string]spec.Position `json:"positions"`
}

func toWireTaskDef(td *spec.TaskDefinition) *wireTaskDef {
	return &wireTaskDef{Spec: td, Pos: td.Pos, Positions: td.Positions}
}

func (w *wireTaskDef) taskDef() *spec.TaskDefinition {
	if w.Spec == nil {
		w.Spec = &spec.TaskDefinition{}
	}
	w.Spec.Pos, w.Spec.Positions = w.Pos, w.Positions
	return w.Spec
}

func toWireService(s *spec.Service) *wireService {
	return &wireService{Spec: s, Pos: s.Pos, Positions: s.Positions}
}

func (w *wireService) service() *spec.Service {
	if w.Spec == nil {
		w.Spec = &spec.Service{}
	}
	w.Spec.Pos, w.Spec.Positions = w.Pos, w.Positions
	return w.Spec
}

type wireListener struct {
	Spec      *spec.Listener           `json:"spec"`
	Pos       spec.Position            `json:"pos"`
	Positions map[string]spec.Position `json:"positions"`
}

type wireTargetGrp struct {
	Spec      *spec.TargetGroup        `json:"spec"`
	Pos       spec.Position            `json:"pos"`
	Positions map[string]spec.Position `json:"positions"`
}

func toWireListener(l *spec.Listener) *wireListener {
	return &wireListener{Spec: l, Pos: l.Pos, Positions: l.Positions}
}

func (w *wireListener) listener() *spec.Listener {
	if w.Spec == nil {
		w.Spec = &spec.Listener{}
	}
	w.Spec.Pos, w.Spec.Positions = w.Pos, w.Positions
	return w.Spec
}

func toWireGroup(g *spec.TargetGroup) *wireTargetGrp {
	return &wireTargetGrp{Spec: g, Pos: g.Pos, Positions: g.Positions}
}

func (w *wireTargetGrp) group() *spec.TargetGroup {
	if w.Spec == nil {
		w.Spec = &spec.TargetGroup{}
	}
	w.Spec.Pos, w.Spec.Positions = w.Pos, w.Positions
	return w.Spec
}

func toWireDocs(docs []spec.Document) []wireDoc {
	out := make([]wireDoc, len(docs))
	for i, d := range docs {
		out[i] = wireDoc{Kind: d.Kind, Pos: d.Pos}
		switch {
		case d.Listener != nil:
			out[i].Listener = toWireListener(d.Listener)
		case d.TargetGroup != nil:
			out[i].TargetGroup = toWireGroup(d.TargetGroup)
		case d.TaskDefinition != nil:
			out[i].TaskDef = toWireTaskDef(d.TaskDefinition)
		case d.Service != nil:
			out[i].Service = toWireService(d.Service)
		}
	}
	return out
}

func fromWireDocs(docs []wireDoc) []spec.Document {
	out := make([]spec.Document, len(docs))
	for i, d := range docs {
		out[i] = spec.Document{Kind: d.Kind, Pos: d.Pos}
		switch {
		case d.Listener != nil:
			out[i].Listener = d.Listener.listener()
		case d.TargetGroup != nil:
			out[i].TargetGroup = d.TargetGroup.group()
		case d.TaskDef != nil:
			out[i].TaskDefinition = d.TaskDef.taskDef()
		case d.Service != nil:
			out[i].Service = d.Service.service()
		}
	}
	return out
}

// encode frames c for the raft log.
func (c *command) encode() ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("store: encode command: %w", err)
	}
	return append([]byte{commandFormat, c.op}, body...), nil
}

// decodeCommand parses a raft log entry written by encode.
func decodeCommand(b []byte) (*command, error) {
	if len(b) < 2 {
		return nil, errors.New("store: decode command: entry too short")
	}
	if b[0] != commandFormat {
		return nil, fmt.Errorf("store: decode command: format %d, this build reads %d: upgrade this server", b[0], commandFormat)
	}
	c := &command{op: b[1]}
	if err := json.Unmarshal(b[2:], c); err != nil {
		return nil, fmt.Errorf("store: decode command: %w", err)
	}
	return c, nil
}

// transition runs the pure state transition the command names.
func (c *command) transition(cur *State) (*State, []Result, error) {
	switch c.op {
	case opApply:
		return applyDocs(cur, fromWireDocs(c.Docs))
	case opDelete:
		next, err := deleteResource(cur, c.Kind, c.Name)
		return next, nil, err
	case opRegister:
		next, err := registerTargets(cur, c.Group, c.Targets)
		return next, nil, err
	case opDeregister:
		next, err := deregisterTargets(cur, c.Group, c.Addrs)
		return next, nil, err
	case opCommitPlan:
		if c.Plan == nil {
			return nil, nil, fmt.Errorf("store: commit plan: no plan: %w", ErrInvalid)
		}
		return commitPlan(cur, c.Plan)
	case opTaskStatus:
		if c.Status == nil {
			return nil, nil, fmt.Errorf("store: update task status: no status: %w", ErrInvalid)
		}
		next, err := updateTaskStatus(cur, c.TaskID, *c.Status)
		return next, nil, err
	case opDrainNode:
		next, err := drainNode(cur, c.Name, c.Drain, c.At)
		return next, nil, err
	}
	return nil, nil, fmt.Errorf("store: apply command: unknown operation %d: upgrade this server", c.op)
}

// opName labels metrics and logs.
func opName(op byte) string {
	switch op {
	case opApply:
		return "apply"
	case opDelete:
		return "delete"
	case opRegister:
		return "register_targets"
	case opDeregister:
		return "deregister_targets"
	case opCommitPlan:
		return "commit_plan"
	case opTaskStatus:
		return "task_status"
	case opDrainNode:
		return "drain_node"
	}
	return "unknown"
}

// fsmResponse is what fsm.Apply returns to the raft.Apply caller on the leader.
type fsmResponse struct {
	results []Result
	err     error
}

// fsm is the raft.FSM over State. raft calls Apply, Snapshot and Restore from
// one goroutine; readers load the published state concurrently.
type fsm struct {
	pub      *published
	log      *slog.Logger
	onCommit func(op string) // counts commands; never nil
}

var _ raft.FSM = (*fsm)(nil)

// Apply runs one committed command. It is deterministic: the same log gives
// the same state on every replica. A command that the transition rejects
// changes nothing here, as it changed nothing on the leader.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	c, err := decodeCommand(l.Data)
	if err != nil {
		f.log.Error("store: skipping a raft log entry", "index", l.Index, "error", err)
		return fsmResponse{err: err}
	}
	next, results, err := c.transition(f.pub.load())
	if next != nil {
		f.pub.publish(next)
	}
	f.onCommit(opName(c.op))
	return fsmResponse{results: results, err: err}
}

// Snapshot captures the current state. State is immutable, so Persist may
// encode it later on another goroutine without copying.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{state: f.pub.load()}, nil
}

// Restore replaces the state with a snapshot written by Persist.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := decodeSnapshot(rc)
	if err != nil {
		return err
	}
	f.pub.publish(s)
	f.log.Info("store: restored a snapshot", "version", s.Version)
	return nil
}

type fsmSnapshot struct{ state *State }

// Persist writes the snapshot to sink, cancelling it on failure.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := encodeSnapshot(sink, s.state); err != nil {
		_ = sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("store: persist snapshot: %w", err)
	}
	return nil
}

func (s *fsmSnapshot) Release() {}
