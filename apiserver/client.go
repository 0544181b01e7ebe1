package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gantrylb/gantry/spec"
	"github.com/gantrylb/gantry/store"
)

// APIError is an error answer of the admin API.
type APIError struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Message is the server's summary.
	Message string
	// Errors are the located problems of a rejected apply.
	Errors []LocatedError
}

// Error returns the message followed by one located problem per line.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for _, le := range e.Errors {
		b.WriteString("\n")
		b.WriteString(le.String())
	}
	return b.String()
}

// Client talks to the admin API. It is safe for concurrent use.
type Client struct {
	base string
	// HTTPClient sends the requests. Default: a client with a 60 second timeout.
	HTTPClient *http.Client
}

// NewClient returns a client for the API at baseURL, such as
// "http://127.0.0.1:7070"; a URL without a scheme gets http://.
func NewClient(baseURL string) *Client {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), HTTPClient: &http.Client{Timeout: 60 * time.Second}}
}

// do sends a request and decodes a 2xx JSON answer into out (when not nil);
// other answers become *APIError.
func (c *Client) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	return c.doWith(ctx, c.HTTPClient, method, path, contentType, body, out)
}

// doWith is do through hc.
func (c *Client) doWith(ctx context.Context, hc *http.Client, method, path, contentType string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("apiserver: client: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("apiserver: client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.Header.Get(APIHeader) == "" {
		return notAPIAnswer(method, path)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("apiserver: client: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
		}
		return &APIError{StatusCode: resp.StatusCode, Message: eb.Error, Errors: eb.Errors}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("apiserver: client: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Apply sends one file of resource documents, labelled "request" in errors.
func (c *Client) Apply(ctx context.Context, body []byte) ([]store.Result, error) {
	var out ApplyResponse
	err := c.do(ctx, http.MethodPost, "/v1/apply", "application/yaml", bytes.NewReader(body), &out)
	if err == nil && out.Results == nil {
		return nil, notAPIAnswer(http.MethodPost, "/v1/apply")
	}
	return out.Results, err
}

// ApplyFiles sends several files in one all-or-nothing apply; errors are
// located by file name.
func (c *Client) ApplyFiles(ctx context.Context, files []File) ([]store.Result, error) {
	out, err := c.ApplyReport(ctx, files)
	return out.Results, err
}

// ApplyReport is ApplyFiles that also returns the warnings: the ECS fields
// the documents hold that Gantry ignores.
func (c *Client) ApplyReport(ctx context.Context, files []File) (ApplyResponse, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range files {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": f.Name}))
		h.Set("Content-Type", "application/octet-stream")
		if f.Dir != "" {
			h.Set(dirHeader, f.Dir)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			return ApplyResponse{}, fmt.Errorf("apiserver: client: apply: %w", err)
		}
		w.Write(f.Data)
	}
	if err := mw.Close(); err != nil {
		return ApplyResponse{}, fmt.Errorf("apiserver: client: apply: %w", err)
	}
	var out ApplyResponse
	err := c.do(ctx, http.MethodPost, "/v1/apply", mw.FormDataContentType(), &buf, &out)
	if err == nil && out.Results == nil {
		// Every accepted apply reports its resources: an answer without
		// them did not come from the admin API (--api names another server).
		return ApplyResponse{}, notAPIAnswer(http.MethodPost, "/v1/apply")
	}
	return out, err
}

// APIHeader marks every answer of the admin API (its value is 1).
const APIHeader = "X-Gantry-Api"

// notAPIAnswer is the error for a 2xx answer that lacks what the admin API
// always sends: the client asked some other HTTP server.
func notAPIAnswer(method, path string) error {
	return fmt.Errorf("apiserver: client: %s %s: the answer is not the Gantry admin API's: is the API URL right?", method, path)
}

func kindPath(kind string) string {
	if k, ok := store.ParseKind(kind); ok {
		kind = k
	}
	return "/v1/" + url.PathEscape(kind)
}

// List returns every resource of a kind as raw JSON objects.
func (c *Client) List(ctx context.Context, kind string) ([]json.RawMessage, error) {
	var out ListResponse[json.RawMessage]
	err := c.do(ctx, http.MethodGet, kindPath(kind), "", nil, &out)
	return out.Items, err
}

// Get returns one resource as a raw JSON object.
func (c *Client) Get(ctx context.Context, kind, name string) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.do(ctx, http.MethodGet, kindPath(kind)+"/"+url.PathEscape(name), "", nil, &out)
	return out, err
}

// Delete removes one resource.
func (c *Client) Delete(ctx context.Context, kind, name string) error {
	return c.do(ctx, http.MethodDelete, kindPath(kind)+"/"+url.PathEscape(name), "", nil, nil)
}

func targetsPath(group string) string {
	return "/v1/target-groups/" + url.PathEscape(group) + "/targets"
}

// DrainNode starts (drain true) or ends the drain of a node and returns it.
func (c *Client) DrainNode(ctx context.Context, name string, drain bool) (Node, error) {
	method := http.MethodPost
	if !drain {
		method = http.MethodDelete
	}
	var n Node
	err := c.do(ctx, method, "/v1/nodes/"+url.PathEscape(name)+"/drain", "", nil, &n)
	return n, err
}

// Targets returns the health of a group's targets.
func (c *Client) Targets(ctx context.Context, group string) ([]spec.TargetHealth, error) {
	var out TargetsResponse
	err := c.do(ctx, http.MethodGet, targetsPath(group), "", nil, &out)
	return out.Targets, err
}

func (c *Client) targetsCall(ctx context.Context, method, group string, targets []spec.Target) ([]spec.TargetHealth, error) {
	body, err := json.Marshal(TargetsRequest{Targets: targets})
	if err != nil {
		return nil, fmt.Errorf("apiserver: client: %w", err)
	}
	var out TargetsResponse
	err = c.do(ctx, method, targetsPath(group), "application/json", bytes.NewReader(body), &out)
	if err == nil && out.TargetGroup != group {
		return nil, notAPIAnswer(method, targetsPath(group))
	}
	return out.Targets, err
}

// Register registers targets with a group and returns the group's targets.
func (c *Client) Register(ctx context.Context, group string, targets []spec.Target) ([]spec.TargetHealth, error) {
	return c.targetsCall(ctx, http.MethodPost, group, targets)
}

// Deregister removes registered targets by address and returns the group's targets.
func (c *Client) Deregister(ctx context.Context, group string, addrs []string) ([]spec.TargetHealth, error) {
	targets := make([]spec.Target, len(addrs))
	for i, a := range addrs {
		targets[i] = spec.Target{Address: a}
	}
	return c.targetsCall(ctx, http.MethodDelete, group, targets)
}

// Status returns the node's status report.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var out Status
	err := c.do(ctx, http.MethodGet, "/v1/status", "", nil, &out)
	return out, err
}

// Nodes lists the cluster's nodes.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var out ListResponse[Node]
	err := c.do(ctx, http.MethodGet, "/v1/nodes", "", nil, &out)
	return out.Items, err
}

// Service describes one service with its task counts and deployments.
func (c *Client) Service(ctx context.Context, name string) (Service, error) {
	var out Service
	err := c.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(name), "", nil, &out)
	return out, err
}

// ServiceEvents returns a service's events, newest first.
func (c *Client) ServiceEvents(ctx context.Context, name string) ([]store.Event, error) {
	var out ListResponse[store.Event]
	err := c.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(name)+"/events", "", nil, &out)
	return out.Items, err
}

// Tasks lists tasks, of one service and on one node when they are not "".
func (c *Client) Tasks(ctx context.Context, service, node string) ([]*store.Task, error) {
	q := url.Values{}
	if service != "" {
		q.Set("service", service)
	}
	if node != "" {
		q.Set("node", node)
	}
	path := "/v1/tasks"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out ListResponse[*store.Task]
	err := c.do(ctx, http.MethodGet, path, "", nil, &out)
	return out.Items, err
}

// NodePlacements returns a node's placements: its tasks and what they refer
// to. With index 0 it answers at once. Otherwise it is a blocking query: it
// waits until the store's version exceeds index or wait runs out (0: the
// server's default, DefaultPlacementsWait; at most MaxPlacementsWait), and
// then returns the placements, whose Index is the index of the next query; it
// is unchanged when the wait ran out. ctx ending stops the wait. The
// HTTPClient's timeout is stretched for the call so that it does not end the
// wait first.
func (c *Client) NodePlacements(ctx context.Context, node string, index uint64, wait time.Duration) (*store.Placements, error) {
	q := url.Values{}
	hc := c.HTTPClient
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
		if wait <= 0 {
			wait = DefaultPlacementsWait
		}
		wait = min(wait, MaxPlacementsWait)
		q.Set("wait", wait.String())
		if need := wait + longPollGrace; hc.Timeout != 0 && hc.Timeout < need {
			stretched := *hc
			stretched.Timeout = need
			hc = &stretched
		}
	}
	path := "/v1/nodes/" + url.PathEscape(node) + "/placements"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out store.Placements
	if err := c.doWith(ctx, hc, http.MethodGet, path, "", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// longPollGrace is how much longer than its wait a blocking query may take:
// the server answers after the wait, and a forwarding follower adds a hop.
const longPollGrace = 15 * time.Second

// UpdateTaskStatus reports what an agent saw of one of its tasks. An unknown
// task is an *APIError with StatusCode 404, an unknown status 400.
func (c *Client) UpdateTaskStatus(ctx context.Context, id string, st store.TaskStatus) error {
	body, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("apiserver: client: %w", err)
	}
	return c.do(ctx, http.MethodPost, "/v1/tasks/"+url.PathEscape(id)+"/status", "application/json", bytes.NewReader(body), nil)
}

// TaskLogs copies the recent output of a task's container to w: container
// "" is the task's first container, stream "" is stdout (or "stderr"). Any
// node's API answers: it asks the task's node. A task or container without
// output is an *APIError with StatusCode 404. ctx and the HTTPClient's
// timeout bound the whole copy.
func (c *Client) TaskLogs(ctx context.Context, taskID, container, stream string, w io.Writer) error {
	q := url.Values{}
	if container != "" {
		q.Set("container", container)
	}
	if stream != "" {
		q.Set("stream", stream)
	}
	path := "/v1/tasks/" + url.PathEscape(taskID) + "/logs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("apiserver: client: %w", err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("apiserver: client: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(data)))
		}
		return &APIError{StatusCode: resp.StatusCode, Message: eb.Error}
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("apiserver: client: GET %s: read logs: %w", path, err)
	}
	return nil
}
