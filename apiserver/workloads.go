package apiserver

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

// Service is a service as GET /v1/services shows it (ECS DescribeServices):
// the applied document, the revision it resolved to, task counts and
// deployments, newest first.
type Service struct {
	ServiceName string `json:"serviceName"`
	// Status is ACTIVE, or DRAINING after a delete until its tasks are gone.
	Status string `json:"status"`
	// TaskDefinition is the revision in force, "family:revision": the one
	// the service resolved to, or after a circuit-breaker rollback the one
	// the PRIMARY deployment rolled back to.
	TaskDefinition string `json:"taskDefinition"`
	DesiredCount   int    `json:"desiredCount"`
	// RunningCount counts tasks whose last status is RUNNING.
	RunningCount int `json:"runningCount"`
	// PendingCount counts tasks desired RUNNING that are not running yet.
	PendingCount int                `json:"pendingCount"`
	Deployments  []DeploymentStatus `json:"deployments"`
	Spec         *spec.Service      `json:"spec"`
}

// DeploymentStatus is one deployment of a service with its task counts.
type DeploymentStatus struct {
	store.Deployment
	RunningCount int `json:"runningCount"`
	PendingCount int `json:"pendingCount"`
}

// TaskDefinitionRevisions is the body of GET /v1/task-definitions/{family}.
type TaskDefinitionRevisions struct {
	Family    string                          `json:"family"`
	Revisions []*store.TaskDefinitionRevision `json:"revisions"`
}

// running and pending classify a task for the counts.
func running(t *store.Task) bool { return t.LastStatus == store.TaskRunning }
func pending(t *store.Task) bool {
	return t.DesiredStatus == store.TaskRunning && t.LastStatus != store.TaskRunning && t.Live()
}

// serviceStatus builds the view of one service.
//
// After a circuit-breaker rollback the service keeps the revision it was
// applied with (svc.TaskDefinition), which is what the PRIMARY deployment
// rolled back from; the revision in force is that deployment's. The tasks a
// rollback keeps still name the deployment that started them, retired since:
// a task counts for its own deployment while that is listed, otherwise for
// the newest listed deployment of its revision, so that the PRIMARY counts
// the tasks it runs. (Not by revision first: a forced new deployment of the
// same revision replaces tasks its older deployment still counts.)
func serviceStatus(st *store.State, svc *store.Service) Service {
	name := svc.Spec.ServiceName
	out := Service{
		ServiceName: name, Status: svc.Status, TaskDefinition: svc.TaskDefinition,
		DesiredCount: svc.Spec.Desired(), Spec: svc.Spec, Deployments: []DeploymentStatus{},
	}
	byDeployment := map[string]*DeploymentStatus{}
	byRevision := map[string]*DeploymentStatus{}
	for _, d := range st.Deployments {
		if d.Service == name {
			out.Deployments = append(out.Deployments, DeploymentStatus{Deployment: *d})
		}
	}
	slices.SortFunc(out.Deployments, func(a, b DeploymentStatus) int { return cmp.Compare(b.Seq, a.Seq) })
	for i := range out.Deployments {
		d := &out.Deployments[i]
		byDeployment[d.ID] = d
		if byRevision[d.TaskDefinition] == nil {
			byRevision[d.TaskDefinition] = d
		}
		if d.Status == store.DeploymentPrimary && d.RollbackOf != "" && d.RollbackOf == svc.TaskDefinition {
			out.TaskDefinition = d.TaskDefinition
		}
	}
	for _, t := range st.ServiceTasks(name) {
		d := cmp.Or(byDeployment[t.Deployment], byRevision[t.TaskDefinition])
		switch {
		case running(t):
			out.RunningCount++
			if d != nil {
				d.RunningCount++
			}
		case pending(t):
			out.PendingCount++
			if d != nil {
				d.PendingCount++
			}
		}
	}
	return out
}

func (s *Server) listServices(w http.ResponseWriter, st *store.State) {
	items := make([]Service, 0, len(st.Services))
	for _, name := range slices.Sorted(maps.Keys(st.Services)) {
		items = append(items, serviceStatus(st, st.Services[name]))
	}
	writeJSON(w, http.StatusOK, ListResponse[Service]{Items: items})
}

// listTaskDefinitions answers each family's latest revision, by family.
func (s *Server) listTaskDefinitions(w http.ResponseWriter, st *store.State) {
	items := make([]*store.TaskDefinitionRevision, 0, len(st.TaskDefinitions))
	for _, family := range slices.Sorted(maps.Keys(st.TaskDefinitions)) {
		items = append(items, st.LatestRevision(family))
	}
	writeJSON(w, http.StatusOK, ListResponse[*store.TaskDefinitionRevision]{Items: items})
}

// getTaskDefinition answers one revision for "family:revision" and every
// revision of a family for "family".
func (s *Server) getTaskDefinition(w http.ResponseWriter, st *store.State, name string) {
	family, rev, ok := spec.ParseTaskDefinitionRef(name)
	revs := st.TaskDefinitions[family]
	switch {
	case !ok:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("task definition %q: want family or family:revision", name))
	case len(revs) == 0:
		writeError(w, http.StatusNotFound, fmt.Sprintf("task definition family %q not found", family))
	case rev == 0:
		writeJSON(w, http.StatusOK, TaskDefinitionRevisions{Family: family, Revisions: revs})
	case rev > len(revs):
		writeError(w, http.StatusNotFound, fmt.Sprintf("task definition %q not found: the latest revision is %d", name, len(revs)))
	default:
		writeJSON(w, http.StatusOK, revs[rev-1])
	}
}

// listTasks answers the tasks, filtered by ?service= and ?node=, by
// service, creation time and ID.
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request, st *store.State) {
	service, node := r.URL.Query().Get("service"), r.URL.Query().Get("node")
	items := make([]*store.Task, 0, len(st.Tasks))
	for _, t := range st.Tasks {
		if (service == "" || t.Service == service) && (node == "" || t.Node == node) {
			items = append(items, t)
		}
	}
	slices.SortFunc(items, func(a, b *store.Task) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	writeJSON(w, http.StatusOK, ListResponse[*store.Task]{Items: items})
}

// serviceEvents answers GET /v1/services/{name}/events, newest first as ECS.
func (s *Server) serviceEvents(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st := s.cfg.Store.Snapshot()
	if st.Services[name] == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("service %q not found", name))
		return
	}
	events := slices.Clone(st.Events[name])
	slices.Reverse(events)
	if events == nil {
		events = []store.Event{}
	}
	writeJSON(w, http.StatusOK, ListResponse[store.Event]{Items: events})
}

// getWorkload answers GET /v1/{kind}/{name} for the scheduler's kinds.
func (s *Server) getWorkload(w http.ResponseWriter, st *store.State, kind, name string) {
	switch kind {
	case store.KindTaskDefinitions:
		s.getTaskDefinition(w, st, name)
	case store.KindServices:
		if svc := st.Services[name]; svc != nil {
			writeJSON(w, http.StatusOK, serviceStatus(st, svc))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("service %q not found", name))
	case store.KindTasks:
		if t := st.Tasks[name]; t != nil {
			writeJSON(w, http.StatusOK, t)
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("task %q not found", name))
	}
}

// deleted answers a successful DELETE: what the resource became when it
// stays (a deregistered revision, a draining service), else what went.
func deleted(w http.ResponseWriter, st *store.State, kind, name string) {
	switch kind {
	case store.KindTaskDefinitions:
		if r := st.Revision(name); r != nil && strings.Contains(name, ":") {
			writeJSON(w, http.StatusOK, r)
			return
		}
	case store.KindServices:
		if svc := st.Services[name]; svc != nil {
			writeJSON(w, http.StatusOK, serviceStatus(st, svc))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": kind + "/" + name})
}

// warnings turns the documents' ignored-field warnings into located notes.
func warnings(docs []spec.Document) []LocatedError {
	ws := spec.Warnings(docs)
	out := make([]LocatedError, len(ws))
	for i, w := range ws {
		out[i] = LocatedError{File: w.Pos.File, Line: w.Pos.Line, Column: w.Pos.Column, Path: w.Path, Message: w.Msg}
	}
	return out
}
