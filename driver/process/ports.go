//go:build linux

package process

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"

	"github.com/gantrylb/gantry/driver"
)

// pickPorts returns the host port of each mapping: its HostPort when set, else
// a free port found by binding port 0 on hostIP that is not in taken (the
// ports of the driver's other tasks, which may not listen yet). Every
// listener is held until all ports are picked, so two mappings never get the
// same port; they are released before the task starts (see the package doc
// for the race).
func pickPorts(hostIP string, mappings []driver.PortMapping, taken map[int]bool) (map[int]int, error) {
	ports := make(map[int]int, len(mappings))
	var held []io.Closer
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	for _, pm := range mappings {
		if pm.HostPort != 0 {
			ports[pm.ContainerPort] = pm.HostPort
			continue
		}
		for attempt := 0; ; attempt++ {
			c, port, err := bindFree(hostIP, pm.Proto())
			if err != nil {
				return nil, err
			}
			held = append(held, c) // a taken port stays held: no retry gets it again
			if !taken[port] || attempt == 20 {
				ports[pm.ContainerPort] = port
				break
			}
		}
	}
	return ports, nil
}

// bindFree binds port 0 on hostIP and returns the listener and its port.
func bindFree(hostIP, proto string) (io.Closer, int, error) {
	addr := net.JoinHostPort(hostIP, "0")
	var c io.Closer
	var a net.Addr
	if proto == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, 0, fmt.Errorf("free udp port on %s: %w", hostIP, err)
		}
		c, a = pc, pc.LocalAddr()
	} else {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, 0, fmt.Errorf("free tcp port on %s: %w", hostIP, err)
		}
		c, a = ln, ln.Addr()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		_ = c.Close()
		return nil, 0, fmt.Errorf("free port: %w", err)
	}
	return c, int(ap.Port()), nil
}

// taskEnv builds the task's environment (see the package doc): base PATH and
// HOME, the task's Env over them, then the port variables, GANTRY_HOST_IP and GANTRY_TASK_ID,
// which the task cannot override. The result is sorted.
func taskEnv(cfg Config, t driver.Task, home string, ports map[int]int) []string {
	env := map[string]string{"PATH": cfg.Path, "HOME": home}
	for k, v := range t.Env {
		env[k] = v
	}
	for i, pm := range t.PortMappings {
		hp := strconv.Itoa(ports[pm.ContainerPort])
		if i == 0 {
			env["PORT"] = hp
		}
		env["GANTRY_PORT_"+strconv.Itoa(pm.ContainerPort)] = hp
	}
	env["GANTRY_HOST_IP"] = cfg.HostIP
	env[taskIDEnv] = t.ID
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// taskIDEnv names the variable that marks a task's processes, so that Recover
// can tell them from unrelated processes that reuse a recorded pid.
const taskIDEnv = "GANTRY_TASK_ID"
