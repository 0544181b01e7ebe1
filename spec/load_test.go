package spec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.yaml"), "kind: TargetGroup\nname: b\n")
	writeFile(t, filepath.Join(dir, "a.json"), `{"kind": "TargetGroup", "name": "a"}`)
	writeFile(t, filepath.Join(dir, "c.yml"), "kind: TargetGroup\nname: c\nbogus: 1\n")
	writeFile(t, filepath.Join(dir, "notes.txt"), "not a resource")
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o700); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")

	docs, err := load(strings.NewReader("kind: TargetGroup\nname: s\n"), dir, "-", missing)
	var names []string
	for _, d := range docs {
		names = append(names, d.Name())
	}
	if want := []string{"a", "b", "c", "s"}; !slices.Equal(names, want) {
		t.Errorf("load names = %v, want %v", names, want)
	}
	want := []string{
		filepath.Join(dir, "c.yml") + `:3:1: bogus: unknown field "bogus"`,
		missing + ": spec: load: no such file or directory",
	}
	var got []string
	if err != nil {
		got = strings.Split(err.Error(), "\n")
	}
	if !slices.Equal(got, want) {
		t.Errorf("load errors =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if _, err := Load(filepath.Join(dir, "b.yaml")); err != nil {
		t.Errorf("Load(b.yaml) = %v, want no error", err)
	}
}

// TestLoadResolvesCertificatePaths: relative certificate paths name files
// beside the document, whatever the working directory.
func TestLoadResolvesCertificatePaths(t *testing.T) {
	dir := t.TempDir()
	doc := "kind: Listener\nname: tls\nport: 8443\nprotocol: HTTPS\n" +
		"certificates: [{certFile: tls/a.crt, keyFile: /etc/k.key}]\n" +
		"defaultAction: {fixedResponse: {statusCode: 200}}\n"
	writeFile(t, filepath.Join(dir, "l.yaml"), doc)
	docs, err := Load(filepath.Join(dir, "l.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := docs[0].Listener.Certificates[0]
	if want := filepath.Join(dir, "tls", "a.crt"); c.CertFile != want {
		t.Errorf("certFile = %q, want %q", c.CertFile, want)
	}
	if c.KeyFile != "/etc/k.key" {
		t.Errorf("keyFile = %q, want the absolute path unchanged", c.KeyFile)
	}
	// From stdin there is no directory: the path stays as written.
	docs, err = load(strings.NewReader(doc), "-")
	if err != nil {
		t.Fatal(err)
	}
	if got := docs[0].Listener.Certificates[0].CertFile; got != "tls/a.crt" {
		t.Errorf("certFile from stdin = %q, want tls/a.crt", got)
	}
}

// TestLoadStartsCountsEveryDocument: documents that fail to decode count
// too, and each problem is counted for the document it stands in.
func TestLoadStartsCountsEveryDocument(t *testing.T) {
	dir := t.TempDir()
	yamlFile, jsonFile := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.json")
	writeFile(t, yamlFile, "kind: TargetGroup\nname: ok\n---\n---\nkind: Listner\nname: l\n---\n"+
		"kind: TargetGroup\nname: bad\nalgorithm: fastest\n---\n- kind: TargetGroup\n  name: listed\n- 42\n")
	writeFile(t, jsonFile, `[{"kind": "TargetGroup", "name": "j1"}, {"kind": "TargetGroup", "name": "j2", "port": 1}]`)
	tests := []struct {
		name       string
		paths      []string
		docs, all  int
		withErrors int
	}{
		// ok, (empty), Listner, bad, listed, 42
		{"yaml", []string{yamlFile}, 3, 5, 3},
		{"json array", []string{jsonFile}, 2, 2, 1},
		{"both and a missing file", []string{yamlFile, jsonFile, filepath.Join(dir, "missing.yaml")}, 5, 7, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, starts, err := LoadStarts(tt.paths...)
			errs, _ := err.(ErrorList)
			if len(docs) != tt.docs || len(starts) != tt.all {
				t.Errorf("LoadStarts(%v) = %d documents, %d starts; want %d, %d", tt.paths, len(docs), len(starts), tt.docs, tt.all)
			}
			if got := errs.Documents(starts); got != tt.withErrors {
				t.Errorf("Documents() = %d, want %d for\n%v", got, tt.withErrors, errs)
			}
		})
	}
}
