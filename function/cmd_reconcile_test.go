package main

import (
	"context"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// reconcile --dry-run --detailed-exitcode lets a pipeline fail on drift by its exit status alone.
func TestReconcileDetailedExitCode(t *testing.T) {
	tests := []struct {
		name      string
		converged bool // a real reconcile ran first
		env       map[string]string
		faults    *emulator.Faults
		args      []string
		wantCode  int
		want      string
	}{
		{name: "drift", args: []string{"--dry-run", "--detailed-exitcode"}, wantCode: exitChanges, want: "to create"},
		{name: "drift, dry run from the environment", env: map[string]string{"DRY_RUN": "true"}, args: []string{"--detailed-exitcode"}, wantCode: exitChanges, want: "to create"},
		{name: "no drift", converged: true, args: []string{"--dry-run", "--detailed-exitcode"}, wantCode: exitOK, want: "Plan: 0 to create, 0 to delete"},
		{name: "drift without the flag", args: []string{"--dry-run"}, wantCode: exitOK, want: "to create"},
		{name: "a failed read wins over drift", faults: &emulator.Faults{P500: 1, Routes: []string{"GET /v1/snapshots"}},
			args: []string{"--dry-run", "--detailed-exitcode"}, wantCode: exitFailure},
		{name: "not a dry run", args: []string{"--detailed-exitcode"}, wantCode: exitUsage, want: "--detailed-exitcode needs --dry-run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, env := emulatorEnv(t, emulator.SampleWorld())
			if tc.converged {
				if code, out, errOut := run(t, context.Background(), env, "reconcile"); code != exitOK {
					t.Fatalf("reconcile: exit %d\n%s%s", code, out, errOut)
				}
			}
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.faults != nil {
				srv.SetFaults(*tc.faults)
			}
			code, out, errOut := runFast(t, env, append([]string{"reconcile"}, tc.args...)...)
			if code != tc.wantCode || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d, want %d and %q in\n%s%s", code, tc.wantCode, tc.want, out, errOut)
			}
		})
	}
}
