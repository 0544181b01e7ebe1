package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

// ApplyResponse is the body of a successful POST /v1/apply.
type ApplyResponse struct {
	Results []store.Result `json:"results"`
	// Warnings locate the ECS fields the documents hold that Gantry ignores.
	Warnings []LocatedError `json:"warnings,omitempty"`
	// DataPlaneErrors are the resources that the data plane of the node
	// that took the apply could not put into service once it had taken in
	// the new desired state (Config.DataPlane): a listener whose address is
	// in use, whose certificates cannot be read. The desired state is
	// stored all the same, and the node retries.
	DataPlaneErrors []DataPlaneError `json:"dataPlaneErrors,omitempty"`
	// DataPlanePending names the node that took the apply when its data
	// plane had not taken the new desired state in by the end of the wait
	// (Config.DataPlaneWait): still busy with earlier changes. It will;
	// DataPlaneErrors are then those of the state it had.
	DataPlanePending string `json:"dataPlanePending,omitempty"`
}

// DataPlaneError is a resource that a node's data plane could not apply.
type DataPlaneError struct {
	// Kind is spec.KindListener.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Node is the node whose data plane failed.
	Node    string `json:"node,omitempty"`
	Message string `json:"message"`
}

// ListResponse is the body of GET /v1/{kind}.
type ListResponse[T any] struct {
	Items []T `json:"items"`
}

// TargetsResponse is the body of GET /v1/target-groups/{name}/targets.
type TargetsResponse struct {
	TargetGroup string              `json:"targetGroup"`
	Targets     []spec.TargetHealth `json:"targets"`
}

// TargetsRequest is the body of POST and DELETE on
// /v1/target-groups/{name}/targets; DELETE reads only addresses.
type TargetsRequest struct {
	Targets []spec.Target `json:"targets"`
}

// Node is one node of GET /v1/nodes.
type Node struct {
	NodeInfo
	// State is alive, suspect, dead or left (memberlist's states).
	State string `json:"state"`
	// GossipAddress is where the node gossips (host:port).
	GossipAddress string `json:"gossipAddress,omitempty"`
	// RaftAddress is the node's raft address, on servers.
	RaftAddress string `json:"raftAddress,omitempty"`
	// CPU (ECS units, 1024 a core) and MemoryMiB are the capacity it offers.
	CPU       int64 `json:"cpu,omitempty"`
	MemoryMiB int64 `json:"memoryMiB,omitempty"`
	// Attributes are placement attributes (--attr).
	Attributes map[string]string `json:"attributes,omitempty"`
	// Drivers are the task drivers the node's agent offers (--driver).
	Drivers []string `json:"drivers,omitempty"`
	// Since is when the node entered its state, when known.
	Since *time.Time `json:"since,omitempty"`
	// Draining is set while an operator drains the node (gantry node
	// drain); DrainingSince says since when.
	Draining      bool       `json:"draining,omitempty"`
	DrainingSince *time.Time `json:"drainingSince,omitempty"`
}

// Status is the body of GET /v1/status.
type Status struct {
	Version           string    `json:"version"`
	Node              string    `json:"node"`
	StoreVersion      uint64    `json:"storeVersion"`
	StartedAt         time.Time `json:"startedAt"`
	UptimeSeconds     float64   `json:"uptimeSeconds"`
	Listeners         int       `json:"listeners"`
	TargetGroups      int       `json:"targetGroups"`
	RegisteredTargets int       `json:"registeredTargets"`
	TaskDefinitions   int       `json:"taskDefinitions"`
	Services          int       `json:"services"`
	Tasks             int       `json:"tasks"`
	Extra             any       `json:"extra,omitempty"`
}

// File is one named resource file of an apply.
type File struct {
	Name string
	Data []byte
	// Dir is the absolute directory the file was read from on the client
	// (multipart header Gantry-Dir); relative certificate paths in the
	// documents are resolved against it. Empty: left as written.
	Dir string
}

// dirHeader carries File.Dir in a multipart part.
const dirHeader = "Gantry-Dir"

// readFiles returns the files of an apply body: each part of a
// multipart/form-data body (named by its file name), otherwise the whole body
// named by the "file" query parameter (default "request").
func readFiles(r *http.Request) ([]File, error) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, fmt.Errorf("apiserver: read body: %w", err)
		}
		name := r.URL.Query().Get("file")
		if name == "" {
			name = "request"
		}
		return []File{{Name: name, Data: data}}, nil
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var files []File
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("apiserver: read multipart body: %w", err)
		}
		name := partFileName(part)
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("apiserver: read multipart body: %w", err)
		}
		files = append(files, File{Name: name, Data: data, Dir: part.Header.Get(dirHeader)})
	}
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	files, err := readFiles(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeErr(w, tooBig)
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var (
		docs []spec.Document
		errs spec.ErrorList
	)
	for _, f := range files {
		d, err := spec.Decode(f.Name, f.Data)
		if filepath.IsAbs(f.Dir) {
			spec.ResolvePaths(d, f.Dir)
		}
		docs = append(docs, d...)
		var el spec.ErrorList
		switch {
		case errors.As(err, &el):
			errs = append(errs, el...)
		case err != nil:
			errs = append(errs, &spec.Error{Pos: spec.Position{File: f.Name}, Msg: err.Error()})
		}
	}
	if len(errs) > 0 {
		// Every error at once: also what only the whole set shows (a
		// duplicate name, a forward to a missing group), for the documents
		// that could be decoded.
		writeErr(w, applyProblems(s.cfg.Store.Snapshot(), docs, errs).Err())
		return
	}
	if len(docs) == 0 {
		writeError(w, http.StatusBadRequest, "no resource documents in the request")
		return
	}
	results, err := s.cfg.Store.Apply(r.Context(), docs)
	if err != nil {
		writeErr(w, err)
		return
	}
	for _, res := range results {
		if res.Action != store.ActionUnchanged {
			s.log.Info("resource applied", "kind", res.Kind, "name", res.Name, "action", res.Action)
		}
	}
	resp := ApplyResponse{Results: results, Warnings: warnings(docs)}
	if s.cfg.DataPlane != nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.DataPlaneWait)
		var caughtUp bool
		resp.DataPlaneErrors, caughtUp = s.cfg.DataPlane(ctx, s.cfg.Store.Snapshot().Version)
		if !caughtUp {
			resp.DataPlanePending = s.cfg.Node.Name
		}
		cancel()
	}
	writeJSON(w, http.StatusOK, resp)
}

// kind resolves the {kind} path value: a canonical store kind, "nodes", or
// an answered 404.
func (s *Server) kind(w http.ResponseWriter, r *http.Request) (string, bool) {
	k := r.PathValue("kind")
	if c, ok := store.ParseKind(k); ok {
		return c, true
	}
	if k == "nodes" {
		return k, true
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("unknown kind %q: want listeners, target-groups, task-definitions, services, tasks or nodes", k))
	return "", false
}

func sorted[T any](m map[string]*T) []*T {
	out := make([]*T, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	kind, ok := s.kind(w, r)
	if !ok {
		return
	}
	st := s.cfg.Store.Snapshot()
	switch kind {
	case store.KindListeners:
		writeJSON(w, http.StatusOK, ListResponse[*spec.Listener]{Items: sorted(st.Listeners)})
	case store.KindTargetGroups:
		writeJSON(w, http.StatusOK, ListResponse[*spec.TargetGroup]{Items: sorted(st.TargetGroups)})
	case store.KindTaskDefinitions:
		s.listTaskDefinitions(w, st)
	case store.KindServices:
		s.listServices(w, st)
	case store.KindTasks:
		s.listTasks(w, r, st)
	default:
		writeJSON(w, http.StatusOK, ListResponse[Node]{Items: s.nodes()})
	}
}

// nodes lists the cluster's members, or this node alone without a cluster.
func (s *Server) nodes() []Node {
	ns := []Node{{NodeInfo: s.cfg.Node, State: "alive"}}
	if s.cfg.Nodes != nil {
		ns = s.cfg.Nodes()
	}
	drains := s.cfg.Store.Snapshot().DrainingNodes
	for i := range ns {
		if since, ok := drains[ns[i].Name]; ok {
			ns[i].Draining, ns[i].DrainingSince = true, &since
		}
	}
	return ns
}

// drainNode starts (POST) or ends (DELETE) the drain of a node; it answers
// the node as GET /v1/nodes/{name} shows it, or just the name and the drain
// for a drained node that has left the cluster. A name that is neither a
// member nor draining is a 404, as GET answers it: a typo must not record
// a drain of nothing.
func (s *Server) drainNode(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	_, draining := s.cfg.Store.Snapshot().DrainingNodes[name]
	if !draining && !slices.ContainsFunc(s.nodes(), func(n Node) bool { return n.Name == name }) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("nodes %q not found: gantry get nodes lists the cluster's members", name))
		return
	}
	if err := s.cfg.Store.DrainNode(r.Context(), name, r.Method == http.MethodPost, time.Now()); err != nil {
		writeErr(w, err)
		return
	}
	for _, n := range s.nodes() {
		if n.Name == name {
			writeJSON(w, http.StatusOK, n)
			return
		}
	}
	writeJSON(w, http.StatusOK, Node{NodeInfo: NodeInfo{Name: name}, State: "unknown", Draining: r.Method == http.MethodPost})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	kind, ok := s.kind(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	st := s.cfg.Store.Snapshot()
	var v any
	switch kind {
	case store.KindTaskDefinitions, store.KindServices, store.KindTasks:
		s.getWorkload(w, st, kind, name)
		return
	case store.KindListeners:
		if l := st.Listeners[name]; l != nil {
			v = l
		}
	case store.KindTargetGroups:
		if g := st.TargetGroups[name]; g != nil {
			v = g
		}
	default:
		for _, n := range s.nodes() {
			if n.Name == name {
				v = n
			}
		}
	}
	if v == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s %q not found", kind, name))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	kind, ok := s.kind(w, r)
	if !ok {
		return
	}
	if kind == "nodes" {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "nodes cannot be deleted: they leave the cluster")
		return
	}
	name := r.PathValue("name")
	if err := s.cfg.Store.Delete(r.Context(), kind, name); err != nil {
		writeErr(w, err)
		return
	}
	s.log.Info("resource deleted", "kind", kind, "name", name)
	deleted(w, s.cfg.Store.Snapshot(), kind, name)
}

// targetHealth reports a group's targets: the balancer's view when it has
// built the group, otherwise the store's targets as initial.
func (s *Server) targetHealth(st *store.State, group string) ([]spec.TargetHealth, bool) {
	if s.cfg.Targets != nil {
		if th, ok := s.cfg.Targets.TargetHealth(group); ok {
			for i := range th {
				if th[i].Node == "" { // static or registered here
					th[i].Node = s.cfg.Node.Name
				}
			}
			return th, true
		}
	}
	g := st.TargetGroups[group]
	if g == nil {
		return nil, false
	}
	static := make(map[string]bool, len(g.Targets))
	for _, t := range g.Targets {
		static[t.Address] = true
	}
	all := st.AllTargets(group)
	out := make([]spec.TargetHealth, len(all))
	for i, t := range all {
		src := "registered"
		if static[t.Address] {
			src = "static"
		}
		out[i] = spec.TargetHealth{
			Address: t.Address, Weight: t.Weight, State: spec.TargetInitial,
			Reason: "Elb.RegistrationInProgress", Description: "Target registration is in progress",
			Source: src, Node: s.cfg.Node.Name,
		}
	}
	return out, true
}

func (s *Server) targets(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	th, ok := s.targetHealth(s.cfg.Store.Snapshot(), name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("target group %q not found", name))
		return
	}
	if th == nil {
		th = []spec.TargetHealth{}
	}
	writeJSON(w, http.StatusOK, TargetsResponse{TargetGroup: name, Targets: th})
}

func readTargets(w http.ResponseWriter, r *http.Request) ([]spec.Target, bool) {
	// Each target strictly: "host:port" or {address, weight}. A field
	// spelt wrong ("wieght") or a weight of 0 would otherwise register a
	// target with weight 1, and documents refuse both (DESIGN 3.2).
	var req struct {
		Targets []json.RawMessage `json:"targets"`
	}
	bad := func(msg string) ([]spec.Target, bool) {
		writeError(w, http.StatusBadRequest, "targets: bad body: "+msg+`: want {"targets":[{"address":"host:port","weight":1}]}`)
		return nil, false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeErr(w, tooBig)
			return nil, false
		}
		return bad(err.Error())
	}
	if len(req.Targets) == 0 {
		writeError(w, http.StatusBadRequest, "targets: no targets given")
		return nil, false
	}
	out := make([]spec.Target, 0, len(req.Targets))
	seen := make(map[string]int, len(req.Targets))
	for i, raw := range req.Targets {
		var t spec.Target
		if err := json.Unmarshal(raw, &t.Address); err != nil {
			var obj struct {
				Address string `json:"address"`
				Weight  *int   `json:"weight"`
			}
			d := json.NewDecoder(bytes.NewReader(raw))
			d.DisallowUnknownFields()
			if err := d.Decode(&obj); err != nil {
				return bad(fmt.Sprintf("targets[%d]: %v", i, err))
			}
			if obj.Weight != nil && *obj.Weight == 0 {
				return bad(fmt.Sprintf("targets[%d]: weight 0 is out of range 1..1000", i))
			}
			t.Address = obj.Address
			if obj.Weight != nil {
				t.Weight = *obj.Weight
			}
		}
		if j, dup := seen[t.Address]; dup {
			return bad(fmt.Sprintf("targets[%d]: %s is already listed at targets[%d]", i, t.Address, j))
		}
		seen[t.Address] = i
		out = append(out, t)
	}
	return out, true
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	targets, ok := readTargets(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := s.cfg.Store.RegisterTargets(r.Context(), name, targets); err != nil {
		writeErr(w, err)
		return
	}
	s.waitDataPlane(r.Context())
	s.targets(w, r)
}

// waitDataPlane waits (bounded) until this node's data plane has taken in
// the store's current version, so that an answer listing targets shows the
// change just made.
func (s *Server) waitDataPlane(ctx context.Context) {
	if s.cfg.DataPlane == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DataPlaneWait)
	defer cancel()
	s.cfg.DataPlane(ctx, s.cfg.Store.Snapshot().Version)
}

func (s *Server) deregister(w http.ResponseWriter, r *http.Request) {
	targets, ok := readTargets(w, r)
	if !ok {
		return
	}
	addrs := make([]string, len(targets))
	for i, t := range targets {
		addrs[i] = t.Address
	}
	if err := s.cfg.Store.DeregisterTargets(r.Context(), r.PathValue("name"), addrs); err != nil {
		writeErr(w, err)
		return
	}
	s.waitDataPlane(r.Context())
	s.targets(w, r)
}

func (s *Server) statusReport() Status {
	st := s.cfg.Store.Snapshot()
	n := 0
	for _, ts := range st.Registered {
		n += len(ts)
	}
	out := Status{
		Version: s.cfg.Version, Node: s.cfg.Node.Name, StoreVersion: st.Version,
		StartedAt: s.started.UTC(), UptimeSeconds: time.Since(s.started).Seconds(),
		Listeners: len(st.Listeners), TargetGroups: len(st.TargetGroups), RegisteredTargets: n,
		TaskDefinitions: len(st.TaskDefinitions), Services: len(st.Services), Tasks: len(st.Tasks),
	}
	if s.cfg.Status != nil {
		out.Extra = s.cfg.Status()
	}
	return out
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.statusReport())
}

// partFileName returns the file name a part was sent with, whole: unlike
// Part.FileName it keeps directories, because errors are located by the path
// the operator gave.
func partFileName(p *multipart.Part) string {
	if _, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		return params["filename"]
	}
	if n := p.FileName(); n != "" {
		return n
	}
	return p.FormName()
}
