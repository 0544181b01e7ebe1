package spec

import (
	"fmt"
	"net/netip"
)

// ValidateSet checks what spans resources: unique listener and group names,
// one listener per port and address, and every forward naming an existing
// group of a matching protocol (HTTP and HTTPS listeners forward to HTTP
// groups, TCP and TLS listeners to TCP groups). It does not repeat the checks
// of each resource's Validate.
func ValidateSet(listeners []*Listener, groups []*TargetGroup) ErrorList {
	var errs ErrorList
	add := func(r positioned, path, format string, args ...any) {
		pos, positions := r.where()
		errs = append(errs, &Error{Pos: locate(positions, pos, path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	byName := map[string]*TargetGroup{}
	for _, g := range groups {
		if first, dup := byName[g.Name]; dup {
			add(g, "name", "duplicate target group %s (first at %s)", quote(g.Name), locate(first.Positions, first.Pos, "name"))
			continue
		}
		byName[g.Name] = g
	}
	names := map[string]*Listener{}
	type bind struct {
		addr string
		port int
	}
	binds := map[bind]*Listener{}
	for _, l := range listeners {
		if first, dup := names[l.Name]; dup {
			add(l, "name", "duplicate listener %s (first at %s)", quote(l.Name), locate(first.Positions, first.Pos, "name"))
		} else {
			names[l.Name] = l
		}
		addr := bindAddr(l.Address)
		for b, other := range binds {
			if l.Port > 0 && b.port == l.Port && (b.addr == addr || b.addr == "" || addr == "") {
				add(l, "port", "port %d is already used by listener %s (at %s)", l.Port, quote(other.Name), locate(other.Positions, other.Pos, "port"))
				break
			}
		}
		binds[bind{addr, l.Port}] = l
		forwards := func(path string, a *Action) {
			if a.Forward == nil {
				return
			}
			check := func(p, name string) {
				g, ok := byName[name]
				switch {
				case name == "":
				case !ok:
					add(l, p, "target group %s does not exist", quote(name))
				case l.IsTCP() != g.IsTCP():
					add(l, p, "%s listener cannot forward to %s target group %s", l.EffectiveProtocol(), g.EffectiveProtocol(), quote(name))
				}
			}
			check(path+".forward.targetGroup", a.Forward.TargetGroup)
			for i, w := range a.Forward.TargetGroups {
				check(indexPath(path+".forward.targetGroups", i)+".name", w.Name)
			}
		}
		for i := range l.Rules {
			forwards(indexPath("rules", i)+".action", &l.Rules[i].Action)
		}
		forwards("defaultAction", &l.DefaultAction)
	}
	errs.Sort()
	return errs
}

// bindAddr is the address a listener binds, in one spelling per socket the
// kernel would see: "" for every interface (0.0.0.0, ::), and IPv4-mapped
// IPv6 addresses as IPv4 (Go binds ::ffff:127.0.0.1 as 127.0.0.1), so two
// spellings of one address are one bind.
func bindAddr(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr // "" (every interface), or reported by Validate
	}
	ip = ip.Unmap()
	if ip.IsUnspecified() {
		return ""
	}
	return ip.String()
}

// positioned is a resource that knows where it was written.
type positioned interface {
	where() (Position, map[string]Position)
}

func (l *Listener) where() (Position, map[string]Position)    { return l.Pos, l.Positions }
func (g *TargetGroup) where() (Position, map[string]Position) { return g.Pos, g.Positions }

// Resources splits decoded documents into listeners and target groups.
func Resources(docs []Document) (listeners []*Listener, groups []*TargetGroup) {
	for _, d := range docs {
		switch {
		case d.Listener != nil:
			listeners = append(listeners, d.Listener)
		case d.TargetGroup != nil:
			groups = append(groups, d.TargetGroup)
		}
	}
	return listeners, groups
}

// Check runs ValidateSet and ValidateServices over decoded documents: the
// last step of "gantry validate" when the files hold the whole configuration.
func Check(docs []Document) ErrorList {
	listeners, groups := Resources(docs)
	errs := ValidateSet(listeners, groups)
	taskDefs, services := Workloads(docs)
	errs = append(errs, ValidateServices(services, taskDefs, groups)...)
	errs.Sort()
	return errs
}
