package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gantrylb/gantry/apiserver"
	"github.com/gantrylb/gantry/spec"
)

func TestReportDataPlane(t *testing.T) {
	blocked := apiserver.DataPlaneError{Kind: spec.KindListener, Name: "blocked", Node: "n1", Message: "listen tcp 127.0.0.1:80: bind: address already in use"}
	tests := []struct {
		name    string
		errs    []apiserver.DataPlaneError
		applied map[string]bool
		wantOut string
		wantErr string
	}{
		{"nothing failed", nil, map[string]bool{"listener/blocked": true}, "", ""},
		{"an applied listener failed", []apiserver.DataPlaneError{blocked}, map[string]bool{"listener/blocked": true},
			"error: listener/blocked is stored but not in service on node n1: listen tcp 127.0.0.1:80: bind: address already in use\n",
			"apply: listener/blocked not in service"},
		{"another listener still fails", []apiserver.DataPlaneError{blocked}, map[string]bool{"listener/other": true},
			"warning: listener/blocked is stored but not in service on node n1: listen tcp 127.0.0.1:80: bind: address already in use\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			err := reportDataPlane(&w, tt.errs, tt.applied)
			if w.String() != tt.wantOut {
				t.Errorf("reportDataPlane printed %q, want %q", w.String(), tt.wantOut)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("reportDataPlane() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("reportDataPlane() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
