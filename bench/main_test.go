package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain doubles as the backend or the relay when the harness under test
// re-executes the test binary with backendEnv or relayEnv set, as it
// re-executes itself in production.
func TestMain(m *testing.M) {
	if helper, err := runHelper(); helper {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(Config) string
	}{
		{name: "defaults", check: func(c Config) string {
			if c.Runs != 3 || c.Duration != 10*time.Second || c.Warmup != time.Second ||
				len(c.Connections) != 2 || c.Connections[0] != 64 || c.Connections[1] != 256 || len(c.Peers) != 4 {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{name: "quick", args: []string{"--quick", "--runs", "5"}, check: func(c Config) string {
			if c.Runs != 1 || c.Duration != 3*time.Second {
				return fmt.Sprintf("runs %d duration %v", c.Runs, c.Duration)
			}
			return ""
		}},
		{name: "lists", args: []string{"--peers", "nginx, caddy", "--connections", "8,16", "--gantry-args", "--a b"}, check: func(c Config) string {
			if fmt.Sprint(c.Peers, c.Connections, c.GantryArgs) != "[nginx caddy] [8 16] [--a b]" {
				return fmt.Sprint(c.Peers, c.Connections, c.GantryArgs)
			}
			return ""
		}},
		{name: "unknown peer", args: []string{"--peers", "envoy"}, wantErr: true},
		{name: "bad connections", args: []string{"--connections", "64,x"}, wantErr: true},
		{name: "zero connections", args: []string{"--connections", "0"}, wantErr: true},
		{name: "short duration", args: []string{"--duration", "500ms"}, wantErr: true},
		{name: "zero runs", args: []string{"--runs", "0"}, wantErr: true},
		{name: "stray argument", args: []string{"nginx"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseFlags(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			}
			if err == nil && tt.check != nil {
				if msg := tt.check(c); msg != "" {
					t.Errorf("parseFlags(%q) = %s", tt.args, msg)
				}
			}
		})
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("parseFlags(-h) error = %v, want flag.ErrHelp", err)
	}
}

func TestToolVersion(t *testing.T) {
	tests := []struct {
		script, want string
	}{
		{"echo 'wrk debian/4.1.0 [epoll] Copyright (C) 2012 Will Glozer'; echo 'Usage: wrk'; exit 1", "wrk debian/4.1.0 [epoll] Copyright (C) 2012 Will Glozer"},
		{"echo 'nginx version: nginx/1.22.1' >&2", "nginx version: nginx/1.22.1"},
		{"echo 'Error: unknown command \"version\"'; exit 1", "unknown"},
		{"exit 0", "unknown"},
	}
	for _, tt := range tests {
		bin := filepath.Join(t.TempDir(), "tool")
		if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+tt.script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if got := toolVersion(bin, "-v"); got != tt.want {
			t.Errorf("toolVersion(%q) = %q, want %q", tt.script, got, tt.want)
		}
	}
}
