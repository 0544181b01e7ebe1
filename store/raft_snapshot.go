package store

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"time"

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

	// Optional since the control plane's resources were added.
	TaskDefinitions map[string][]*wireRevision `json:"taskDefinitions,omitempty"`
	Services        map[string]*wireSvcState   `json:"services,omitempty"`
	Tasks           map[string]*Task           `json:"tasks,omitempty"`
	Deployments     map[string]*Deployment     `json:"deployments,omitempty"`
	Events          map[string][]Event         `json:"events,omitempty"`
	// Optional since node drains were added.
	DrainingNodes map[string]time.Time `json:"drainingNodes,omitempty"`
}

// wireRevision is a TaskDefinitionRevision with its document's positions.
type wireRevision struct {
	Family   string       `json:"family"`
	Revision int          `json:"revision"`
	Status   string       `json:"status"`
	Spec     *wireTaskDef `json:"taskDefinition"`
}

// wireSvcState is a Service with its document's positions.
type wireSvcState struct {
	Spec           *wireService `json:"spec"`
	TaskDefinition string       `json:"taskDefinition"`
	Status         string       `json:"status"`
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
	encodeWorkloads(&ws, s)
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
	decodeWorkloads(s, &ws)
	return s, nil
}

func encodeWorkloads(ws *wireState, s *State) {
	ws.TaskDefinitions = make(map[string][]*wireRevision, len(s.TaskDefinitions))
	for family, revs := range s.TaskDefinitions {
		list := make([]*wireRevision, len(revs))
		for i, r := range revs {
			list[i] = &wireRevision{Family: r.Family, Revision: r.Revision, Status: r.Status, Spec: toWireTaskDef(r.Spec)}
		}
		ws.TaskDefinitions[family] = list
	}
	ws.Services = make(map[string]*wireSvcState, len(s.Services))
	for name, svc := range s.Services {
		ws.Services[name] = &wireSvcState{Spec: toWireService(svc.Spec), TaskDefinition: svc.TaskDefinition, Status: svc.Status}
	}
	ws.Tasks, ws.Deployments, ws.Events = s.Tasks, s.Deployments, s.Events
	ws.DrainingNodes = s.DrainingNodes
}

func decodeWorkloads(s *State, ws *wireState) {
	for family, list := range ws.TaskDefinitions {
		revs := make([]*TaskDefinitionRevision, len(list))
		for i, r := range list {
			if r.Spec == nil {
				r.Spec = &wireTaskDef{}
			}
			revs[i] = &TaskDefinitionRevision{Family: r.Family, Revision: r.Revision, Status: r.Status, Spec: r.Spec.taskDef()}
		}
		s.TaskDefinitions[family] = revs
	}
	for name, svc := range ws.Services {
		if svc.Spec == nil {
			svc.Spec = &wireService{}
		}
		s.Services[name] = &Service{Spec: svc.Spec.service(), TaskDefinition: svc.TaskDefinition, Status: svc.Status}
	}
	maps.Copy(s.Tasks, ws.Tasks)
	maps.Copy(s.Deployments, ws.Deployments)
	maps.Copy(s.Events, ws.Events)
	maps.Copy(s.DrainingNodes, ws.DrainingNodes)
}
