package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
)

// emulatorOutput is a stdout/stderr the running command and the test can share.
type emulatorOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *emulatorOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *emulatorOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func emulatorApp() (*app, *emulatorOutput, *emulatorOutput) {
	stdout, stderr := &emulatorOutput{}, &emulatorOutput{}
	return &app{stdout: stdout, stderr: stderr, lookupEnv: func(string) (string, bool) { return "", false }}, stdout, stderr
}

// runEmulatorUntilReady starts the command in the background and waits for its exports.
func runEmulatorUntilReady(t *testing.T, args ...string) (lines []string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, stdout, stderr := emulatorApp()
	done := make(chan int, 1)
	go func() { done <- a.main(ctx, append([]string{"emulator"}, args...)) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines = strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) >= 7 { // the address and the six exports
			break
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("emulator exited with %d before it was ready: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("emulator not ready; stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return lines, func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			t.Fatal("emulator did not stop after the context was cancelled")
			return -1
		}
	}
}

func TestEmulatorCommandServesUntilCancelled(t *testing.T) {
	lines, stop := runEmulatorUntilReady(t, "--listen", "127.0.0.1:0")
	url, ok := strings.CutPrefix(lines[0], "listening on ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first line = %q", lines[0])
	}
	exports := map[string]string{}
	for _, l := range lines[1:] {
		rest, ok := strings.CutPrefix(l, "export ")
		name, quoted, ok2 := strings.Cut(rest, "=")
		if !ok || !ok2 || !strings.HasPrefix(quoted, "'") || !strings.HasSuffix(quoted, "'") {
			t.Errorf("not a shell export: %q", l)
			continue
		}
		exports[name] = strings.Trim(quoted, "'")
	}
	want := map[string]string{
		"IBMCLOUD_ACCOUNT_ID":              fixture.Account,
		"IBMCLOUD_IAM_URL":                 url,
		"IBMCLOUD_VPC_URL":                 url + "/vpc/{region}/v1",
		"IBMCLOUD_RESOURCE_CONTROLLER_URL": url,
		"IBMCLOUD_KMS_URL":                 url,
	}
	for k, v := range want {
		if exports[k] != v {
			t.Errorf("%s = %q, want %q", k, exports[k], v)
		}
	}
	if exports["IBMCLOUD_API_KEY"] == "" {
		t.Error("no API key exported")
	}

	resp, err := http.Get(url + "/_emulator/world")
	if err != nil {
		t.Fatal(err)
	}
	var world struct {
		AccountID string `json:"account_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&world)
	resp.Body.Close()
	if err != nil || world.AccountID != want["IBMCLOUD_ACCOUNT_ID"] {
		t.Errorf("world = %+v, %v", world, err)
	}

	if code := stop(); code != exitOK {
		t.Errorf("exit code = %d", code)
	}
	if _, err := http.Get(url + "/_emulator/world"); err == nil {
		t.Error("still serving after the context was cancelled")
	}
}

func TestEmulatorCommandLoadsAWorldFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "world.json")
	if err := os.WriteFile(file, []byte(`{"account_id":"9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	lines, stop := runEmulatorUntilReady(t, "--listen", "127.0.0.1:0", "--world", file)
	if !strings.Contains(strings.Join(lines, "\n"), "export IBMCLOUD_ACCOUNT_ID='9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d'") {
		t.Errorf("output = %q", lines)
	}
	if code := stop(); code != exitOK {
		t.Errorf("exit code = %d", code)
	}
}

func TestEmulatorCommandFailures(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"account_id":"4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e","snapshots":[{"id":"r006-a","name":"a"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderr     []string
		stdoutNone bool
	}{
		{"help", []string{"--help"}, exitOK, "usage: s2s-authorizer emulator [--listen ADDR] [--world FILE]", nil, false},
		{"unknown flag", []string{"--port", "1"}, exitUsage, "", []string{"flag provided but not defined", "usage: s2s-authorizer emulator"}, true},
		{"extra argument", []string{"world.json"}, exitUsage, "", []string{"unexpected arguments: world.json", "usage: s2s-authorizer emulator"}, true},
		{"bad world file", []string{"--world", bad, "--listen", "127.0.0.1:0"}, exitUsage, "", []string{bad, "$.snapshots[0].region: required"}, true},
		{"missing world file", []string{"--world", filepath.Join(dir, "none.json"), "--listen", "127.0.0.1:0"}, exitUsage, "", []string{filepath.Join(dir, "none.json")}, true},
		{"port in use", []string{"--listen", busy.Addr().String()}, exitFailure, "", []string{"cannot listen on " + busy.Addr().String(), "already in use"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, stdout, stderr := emulatorApp()
			code := a.main(context.Background(), append([]string{"emulator"}, tc.args...))
			if code != tc.code {
				t.Fatalf("exit code = %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout = %q, want %q", stdout.String(), tc.stdout)
			}
			if tc.stdoutNone && stdout.String() != "" {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr = %q, want it to contain %q", stderr.String(), s)
				}
			}
		})
	}
}
