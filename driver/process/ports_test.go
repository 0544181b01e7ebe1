//go:build linux

package process

import (
	"testing"

	"github.com/gantrylb/gantry/driver"
)

func TestPickPortsAvoidsTakenPorts(t *testing.T) {
	first, err := pickPorts("127.0.0.1", []driver.PortMapping{{ContainerPort: 80}, {ContainerPort: 81, HostPort: 12345}, {ContainerPort: 53, Protocol: "udp"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first[80] == 0 || first[81] != 12345 || first[53] == 0 {
		t.Fatalf("pickPorts = %v", first)
	}
	taken := map[int]bool{first[80]: true}
	for range 20 {
		again, err := pickPorts("127.0.0.1", []driver.PortMapping{{ContainerPort: 80}}, taken)
		if err != nil {
			t.Fatal(err)
		}
		if taken[again[80]] {
			t.Fatalf("pickPorts returned taken port %d", again[80])
		}
		taken[again[80]] = true
	}
}
