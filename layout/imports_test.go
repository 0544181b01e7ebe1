package layout

import (
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/gantrylb/gantry"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs go list over the module (tests excluded: test helpers
// may cross layers).
func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	openSources(t)
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p
	}
	return pkgs
}

// openSources opens every Go file of the module. go test caches a result
// keyed on the files the test opened; without this, a test that learns the
// imports through "go list" would keep passing from cache after an edit.
func openSources(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "..") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_ = f.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// layer names a package of this module by its top directory.
func layer(path string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	if i := strings.IndexByte(rel, '/'); i >= 0 && !strings.HasPrefix(rel, "driver/") && !strings.HasPrefix(rel, "cmd/") {
		return rel[:i]
	}
	return rel
}

var (
	dataPlane    = []string{"balancer", "rules", "health", "accesslog", "certs"}
	controlPlane = []string{"apiserver", "store", "scheduler", "controller", "agent", "driver/process", "driver/docker"}
)

// forbidden lists, per layer, the layers it must never depend on
// (transitively).
var forbidden = map[string][]string{
	"spec":      append(append([]string{"discovery", "cmd/gantry", "echoserver"}, dataPlane...), controlPlane...),
	"rules":     append([]string{"balancer", "health", "discovery", "cmd/gantry"}, controlPlane...),
	"health":    append([]string{"balancer", "rules", "discovery", "cmd/gantry"}, controlPlane...),
	"accesslog": append([]string{"balancer", "rules", "health", "cmd/gantry"}, controlPlane...),
	"certs":     append([]string{"balancer", "rules", "health", "discovery", "cmd/gantry"}, controlPlane...),
	"balancer":  append([]string{"cmd/gantry", "discovery"}, controlPlane...),
	"discovery": append([]string{"rules", "balancer", "cmd/gantry"}, controlPlane...),
	"store":     append([]string{"cmd/gantry", "apiserver", "scheduler", "agent"}, dataPlane...),
	"scheduler": append([]string{"cmd/gantry", "apiserver", "store", "agent", "driver/process", "driver/docker"}, dataPlane...),
	// Drivers start and stop one task; they know nothing of the cluster.
	"driver":         append([]string{"discovery", "cmd/gantry", "spec", "apiserver", "store", "scheduler", "agent"}, dataPlane...),
	"driver/process": append([]string{"discovery", "cmd/gantry", "apiserver", "store", "scheduler", "agent", "driver/docker"}, dataPlane...),
	"driver/docker":  append([]string{"discovery", "cmd/gantry", "apiserver", "store", "scheduler", "agent", "driver/process"}, dataPlane...),
	"apiserver":      append([]string{"cmd/gantry", "scheduler", "agent"}, "rules", "health", "balancer"),
	// The agent runs what the scheduler placed; it never places tasks.
	"agent":      append([]string{"cmd/gantry", "apiserver", "scheduler", "controller"}, dataPlane...),
	"controller": append([]string{"cmd/gantry", "apiserver", "agent", "driver/process", "driver/docker"}, dataPlane...),
}

func TestImportDirection(t *testing.T) {
	for path, p := range listPackages(t) {
		bad := forbidden[layer(module+"/"+path)]
		for _, dep := range p.Deps {
			if !strings.HasPrefix(dep, module+"/") {
				continue
			}
			for _, f := range bad {
				if l := layer(dep); l == f {
					t.Errorf("%s depends on %s: %s must never depend on %s (DESIGN.md section 2)", path, dep, layer(module+"/"+path), f)
				}
			}
		}
	}
}

// TestStoreKnowsNoHTTP: the store must never know about HTTP. It checks the
// store's own imports: raft and the Prometheus client use net/http inside,
// which is theirs to know.
func TestStoreKnowsNoHTTP(t *testing.T) {
	for path, p := range listPackages(t) {
		if layer(module+"/"+path) != "store" {
			continue
		}
		for _, dep := range p.Imports {
			if dep == "net/http" || strings.HasPrefix(dep, "github.com/valyala/fasthttp") {
				t.Errorf("%s depends on %s; the store must not know HTTP", path, dep)
			}
		}
	}
}

// TestEveryPackageDocumented: each package says what it owns in a doc comment.
func TestEveryPackageDocumented(t *testing.T) {
	openSources(t)
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Doc}}", module+"/...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, doc, _ := strings.Cut(line, "\t")
		if strings.TrimSpace(doc) == "" {
			t.Errorf("package %s has no doc comment", path)
		}
	}
}
