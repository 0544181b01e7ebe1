package apiserver

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gantrylb/gantry/spec"
)

// dashboardTmpl is the whole dashboard: server-rendered, no script, refreshed
// by the browser every five seconds.
var dashboardTmpl = template.Must(template.New("dashboard").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Gantry · {{.Status.Node}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}.healthy{color:#070}.unhealthy{color:#b00}.draining{color:#a60}.initial,.unused{color:#666}
small{color:#666}
</style></head><body>
<h1>Gantry <small>{{.Status.Version}} · node {{.Status.Node}} · state version {{.Status.StoreVersion}} · up {{.Uptime}}</small></h1>
<h2>Listeners ({{len .Listeners}})</h2>
{{if .Listeners}}<table><tr><th>name</th><th>protocol</th><th>address</th><th>rules</th><th>default action</th></tr>
{{range .Listeners}}<tr><td>{{.Name}}</td><td>{{.Protocol}}</td><td>{{.Address}}</td><td>{{.Rules}}</td><td>{{.Default}}</td></tr>
{{end}}</table>{{else}}<p>No listeners: <code>gantry apply -f FILE</code>.</p>{{end}}
<h2>Target groups ({{len .Groups}})</h2>
{{range .Groups}}<h3>{{.Name}} <small>{{.Protocol}} · {{.Algorithm}}</small></h3>
{{if .Targets}}<table><tr><th>target</th><th>state</th><th>reason</th><th>source</th><th>in flight</th></tr>
{{range .Targets}}<tr><td>{{.Address}}</td><td class="{{.State}}">{{.State}}{{if .Ejected}} (ejected){{end}}</td><td>{{.Reason}}</td><td>{{.Source}}</td><td>{{.InFlight}}</td></tr>
{{end}}</table>{{else}}<p>No targets.</p>{{end}}
{{end}}
</body></html>
`))

type dashListener struct {
	Name, Protocol, Address, Default string
	Rules                            int
}

type dashGroup struct {
	Name, Protocol, Algorithm string
	Targets                   []spec.TargetHealth
}

type dashData struct {
	Status    Status
	Uptime    string
	Listeners []dashListener
	Groups    []dashGroup
}

func (s *Server) dashboard(w http.ResponseWriter, _ *http.Request) {
	st := s.cfg.Store.Snapshot()
	d := dashData{Status: s.statusReport()}
	d.Uptime = time.Duration(d.Status.UptimeSeconds * float64(time.Second)).Truncate(time.Second).String()
	for _, l := range sorted(st.Listeners) {
		d.Listeners = append(d.Listeners, dashListener{
			Name: l.Name, Protocol: l.Protocol, Address: fmt.Sprintf("%s:%d", l.Address, l.Port),
			Rules: len(l.Rules), Default: describeAction(&l.DefaultAction),
		})
	}
	for _, g := range sorted(st.TargetGroups) {
		th, _ := s.targetHealth(st, g.Name)
		d.Groups = append(d.Groups, dashGroup{Name: g.Name, Protocol: g.Protocol, Algorithm: g.Algorithm, Targets: th})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := dashboardTmpl.Execute(w, d); err != nil {
		s.log.Warn("dashboard render failed", "err", err)
	}
}

// describeAction summarises an action in a few words.
func describeAction(a *spec.Action) string {
	switch {
	case a.Forward != nil:
		var parts []string
		for _, g := range a.Forward.Groups() {
			parts = append(parts, fmt.Sprintf("%s (%d)", g.Name, g.EffectiveWeight()))
		}
		return "forward to " + strings.Join(parts, ", ")
	case a.Redirect != nil:
		return "redirect " + a.Redirect.StatusCode
	case a.FixedResponse != nil:
		return fmt.Sprintf("fixed response %d", a.FixedResponse.StatusCode)
	}
	return "none"
}
