package spec

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Load decodes the resource documents of every path: a file, a directory (its
// *.yaml, *.yml and *.json files in name order, not recursing), or "-" for
// standard input. Errors from every file are gathered into one ErrorList.
// Reading the files it is named is the only I/O this package does.
func Load(paths ...string) ([]Document, error) {
	return load(os.Stdin, paths...)
}

// isResourceFile reports whether a directory entry is read by Load.
func isResourceFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// LoadStarts is Load that also returns where each resource document of the
// files begins, in order, those that failed to decode (and so are not among
// the documents) included, so that a report can say how many documents have
// problems (see ErrorList.Documents). Decoding stops at a YAML syntax error:
// the documents after it are not counted.
func LoadStarts(paths ...string) ([]Document, []Position, error) {
	return loadStarts(os.Stdin, paths...)
}

func load(stdin io.Reader, paths ...string) ([]Document, error) {
	docs, _, err := loadStarts(stdin, paths...)
	return docs, err
}

func loadStarts(stdin io.Reader, paths ...string) ([]Document, []Position, error) {
	var (
		docs   []Document
		starts []Position
		errs   ErrorList
	)
	fail := func(file string, msg string) {
		errs = append(errs, &Error{Pos: Position{File: file}, Msg: msg})
	}
	decode := func(file string, data []byte) {
		d, s, err := decodeStarts(file, data)
		if file != "<stdin>" {
			ResolvePaths(d, filepath.Dir(file))
		}
		docs, starts = append(docs, d...), append(starts, s...)
		if el, ok := err.(ErrorList); ok {
			errs = append(errs, el...)
		}
	}
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				fail("<stdin>", "spec: read stdin: "+err.Error())
				continue
			}
			decode("<stdin>", data)
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			fail(p, "spec: load: "+unwrapPath(err))
			continue
		}
		files := []string{p}
		if info.IsDir() {
			entries, err := os.ReadDir(p)
			if err != nil {
				fail(p, "spec: read directory: "+unwrapPath(err))
				continue
			}
			files = files[:0]
			for _, e := range entries {
				if !e.IsDir() && isResourceFile(e.Name()) {
					files = append(files, filepath.Join(p, e.Name()))
				}
			}
			slices.Sort(files)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				fail(f, "spec: read file: "+unwrapPath(err))
				continue
			}
			decode(f, data)
		}
	}
	return docs, starts, errs.Err()
}

// unwrapPath drops the path from a *fs.PathError, which the Error's position
// already names.
func unwrapPath(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// ResolvePaths makes the relative certificate paths of docs relative to dir,
// the directory of the file they came from (as Compose and kubectl do), and
// absolute, so that a document means the same files whatever directory the
// server or the client runs in.
func ResolvePaths(docs []Document, dir string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	for _, d := range docs {
		if d.Listener == nil {
			continue
		}
		for i := range d.Listener.Certificates {
			c := &d.Listener.Certificates[i]
			if c.CertFile != "" && !filepath.IsAbs(c.CertFile) {
				c.CertFile = filepath.Join(abs, c.CertFile)
			}
			if c.KeyFile != "" && !filepath.IsAbs(c.KeyFile) {
				c.KeyFile = filepath.Join(abs, c.KeyFile)
			}
		}
	}
}
