package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantrylb/gantry/driver"
)

// TestRelativeDataDirRunsGantryTasks starts a task running "gantry" (this
// test binary, through the driver's link) with a relative --data-dir: the
// link's PATH entry must not be resolved against the task's directory.
func TestRelativeDataDirRunsGantryTasks(t *testing.T) {
	t.Chdir(t.TempDir())
	dir, err := absDataDir(filepath.Join("dev", "data"))
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(dir) {
		t.Fatalf("absDataDir(%q) = %q, want an absolute path", "dev/data", dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := serverFlags{dataDir: dir, nodeName: "n1"}
	drivers, closeDrivers, err := openDrivers(ctx, f, []string{"process"}, "127.0.0.1", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDrivers()
	d := drivers["process"]
	// -test.run=^$: the test binary, run as gantry, runs no test and exits.
	task := driver.Task{ID: "t1", Family: "echo", Revision: 1, Container: "echo",
		Command: []string{"gantry", "-test.run=^$"}}
	if _, err := d.Start(ctx, task); err != nil {
		t.Fatalf("Start(gantry) with --data-dir dev/data: %v", err)
	}
	st, err := d.Wait(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 0 {
		t.Errorf("gantry task stopped with %+v, want exit code 0", st)
	}
	if err := d.Remove(ctx, "t1"); err != nil {
		t.Error(err)
	}
}
