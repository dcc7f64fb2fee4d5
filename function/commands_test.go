package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// run runs one subcommand in-process with env as its whole environment.
func run(t *testing.T, ctx context.Context, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	out, errOut := &te.Buffer{}, &te.Buffer{}
	a := &app{stdout: out, stderr: errOut, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	code = a.main(ctx, args)
	return code, out.String(), errOut.String()
}

// emulatorEnv starts an emulator and returns the environment that points the binary at it, the
// way `s2s-authorizer emulator` prints it.
func emulatorEnv(t *testing.T, world *emulator.World) (*emulator.Server, map[string]string) {
	t.Helper()
	srv, err := emulator.Start(world, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	env := map[string]string{"RESTORE_ALLOWED_ACCOUNTS": te.Restorer, "IBMCLOUD_REGIONS": "us-south,eu-de"}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return srv, env
}

func TestUsageAndExitCodes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string // in stdout or stderr
	}{
		{args: nil, wantCode: 2, wantOut: "usage: s2s-authorizer COMMAND"},
		{args: []string{"bogus"}, wantCode: 2, wantOut: `unknown command "bogus"`},
		{args: []string{"--help"}, wantCode: 0, wantOut: "commands:"},
		{args: []string{"version"}, wantCode: 0, wantOut: "s2s-authorizer dev"},
		{args: []string{"version", "extra"}, wantCode: 2, wantOut: "unexpected arguments: extra"},
		{args: []string{"serve", "--no-such-flag"}, wantCode: 2, wantOut: "usage: s2s-authorizer serve"},
		{args: []string{"job", "extra"}, wantCode: 2, wantOut: "usage: s2s-authorizer job"},
		{args: []string{"reconcile", "--concurrency", "0", "--local"}, wantCode: 2, wantOut: "must be positive"},
		{args: []string{"policies", "--world", "x.json"}, wantCode: 2, wantOut: "--world needs --local"},
		{args: []string{"serve", "--local", "--world", "no-such-file.json"}, wantCode: 2, wantOut: "no-such-file.json"},
	}
	for _, c := range commands() {
		tests = append(tests, struct {
			args     []string
			wantCode int
			wantOut  string
		}{args: []string{c.name, "--help"}, wantCode: 0, wantOut: "usage: s2s-authorizer " + c.name})
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := run(t, ctx, map[string]string{}, tt.args...)
			if code != tt.wantCode || !strings.Contains(stdout+stderr, tt.wantOut) {
				t.Errorf("exit %d, want %d; output:\n%s%s\nwant it to contain %q", code, tt.wantCode, stdout, stderr, tt.wantOut)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{name: "no credentials and not local", env: map[string]string{}, args: []string{"reconcile"},
			want: []string{"IBMCLOUD_API_KEY: required unless IBMCLOUD_TRUSTED_PROFILE is set"}},
		{name: "every bad value at once, secrets masked", env: map[string]string{"IBMCLOUD_API_KEY": "a secret key", "KMS_SCOPE": "all", "PORT": "-1"}, args: []string{"serve"},
			want: []string{"3 problems", `KMS_SCOPE="all"`, `PORT="-1"`, "****(12 characters)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), tt.env, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stdout+stderr, "a secret key") {
				t.Error("the API key was printed")
			}
		})
	}
}

func TestJob(t *testing.T) {
	attach := `{"action":"is.tag.attach","outcome":"success","target":{"id":"` + te.SnapCRN + `"}}`
	tests := []struct {
		name     string
		env      map[string]string
		faults   *emulator.Faults
		wantCode int
		want     string // in stdout
		grants   int    // Block Storage policies afterwards
	}{
		{name: "CE variables", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/k", "CE_TYPE": delivery.TypeKafka, "CE_SPECVERSION": "1.0", "CE_DATA": attach},
			wantCode: 0, want: `"outcome": "applied"`, grants: 1},
		{name: "Event Notifications payload", env: map[string]string{"ibmendata": `{"specversion":"1.0","id":"n1","source":"/en","type":"t","data":` + attach + `}`},
			wantCode: 0, want: `"outcome": "applied"`, grants: 1},
		{name: "ignored event", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/k", "CE_TYPE": "com.example", "CE_SPECVERSION": "1.0", "CE_DATA": `{"action":"x.y","outcome":"success"}`},
			wantCode: 0, want: `"outcome": "ignored"`},
		{name: "cron tick runs the full reconcile", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/p", "CE_TYPE": delivery.TypePing, "CE_SPECVERSION": "1.0", "CE_DATA": `{"reconcile":"all"}`},
			wantCode: 0, want: "Plan: 3 to create", grants: 3},
		{name: "cron tick, IAM refusing every write: the reconcile's failure is the job's", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/p", "CE_TYPE": delivery.TypePing, "CE_SPECVERSION": "1.0"},
			faults: &emulator.Faults{P503: 1, Routes: []string{"POST /v2/policies"}, Seed: 1}, wantCode: 1, want: "3 failed"},
		{name: "cron tick, IAM unreadable: nothing written, exit 1", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/p", "CE_TYPE": delivery.TypePing, "CE_SPECVERSION": "1.0"},
			faults: &emulator.Faults{P503: 1, Routes: []string{"GET /v2/policies"}, Seed: 1}, wantCode: 1, want: "failed to read: list policies"},
		{name: "no event: full reconcile", env: map[string]string{}, wantCode: 0, want: "Plan: 3 to create", grants: 3},
		{name: "bad input", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/k", "CE_TYPE": delivery.TypeKafka, "CE_SPECVERSION": "1.0", "CE_DATA": `{"action":`},
			wantCode: 2, want: `"outcome": "rejected"`},
		{name: "IBM Cloud unavailable", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/k", "CE_TYPE": delivery.TypeKafka, "CE_SPECVERSION": "1.0", "CE_DATA": attach},
			faults: &emulator.Faults{P503: 1, Routes: []string{"POST /v2/policies"}, Seed: 1}, wantCode: 1, want: `"outcome": "failed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, env := emulatorEnv(t, te.World())
			for k, v := range tt.env {
				env[k] = v
			}
			if tt.faults != nil {
				srv.SetFaults(*tt.faults)
			}
			code, stdout, stderr := run(t, context.Background(), env, "job")
			if code != tt.wantCode || !strings.Contains(stdout, tt.want) {
				t.Fatalf("exit %d (want %d), stdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			if got := countGrants(srv); got != tt.grants {
				t.Errorf("%d Block Storage policies, want %d", got, tt.grants)
			}
		})
	}
}

func countGrants(srv *emulator.Server) int {
	n := 0
	policies, _ := te.WorldPolicies(srv.World())
	for _, p := range policies {
		if p.Subject("serviceName") == "server-protect" {
			n++
		}
	}
	return n
}

func TestReconcileAndPoliciesCommands(t *testing.T) {
	ctx := context.Background()
	srv, env := emulatorEnv(t, te.World())
	code, stdout, stderr := run(t, ctx, env, "reconcile", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "+ create  server-protect@"+te.Restorer) || !strings.Contains(stdout, "Dry run: nothing written.") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if w := srv.Stats().Writes; w != 0 {
		t.Fatalf("dry run wrote %d times", w)
	}
	code, stdout, _ = run(t, ctx, env, "reconcile", "--json")
	var doc struct {
		DryRun  bool
		Summary map[string]int
		Changes []struct{ Op, Result string }
	}
	if err := json.Unmarshal([]byte(stdout), &doc); code != 0 || err != nil || doc.Summary["create"] != 3 || len(doc.Changes) != 3 {
		t.Fatalf("--json: exit %d, %v, %+v\n%s", code, err, doc, stdout)
	}
	code, stdout, _ = run(t, ctx, env, "policies")
	rows := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(rows) != 5 || !regexp.MustCompile(`^KIND\s+SUBJECT ACCOUNT\s+TARGET\s+ROLES\s+MANAGED\s+ID\s+CREATED BY`).MatchString(rows[0]) {
		t.Fatalf("policies: exit %d\n%s", code, stdout)
	}
	if want := "4 of 4020 policies"; !strings.HasPrefix(rows[4], want) {
		t.Errorf("policies: last line %q, want it to start with %q", rows[4], want)
	}
	if !strings.Contains(stdout, "restore") || !strings.Contains(stdout, "SnapshotRemoteAccountRestorer  yes") {
		t.Errorf("policies table lacks the managed restore policy:\n%s", stdout)
	}
	code, stdout, _ = run(t, ctx, env, "policies", "--json")
	var list struct {
		Policies []policyRow
		Count    int `json:"authorization_policies"`
		Cap      int `json:"account_cap"`
	}
	if err := json.Unmarshal([]byte(stdout), &list); code != 0 || err != nil || len(list.Policies) != 3 || !list.Policies[0].Managed ||
		list.Policies[0].CreatedBy == "" || list.Count != 4 || list.Cap != 4020 {
		t.Errorf("policies --json: exit %d, %v, %+v", code, err, list)
	}
}

// TestServe starts the app on loopback against the embedded emulator, sends it an event, and
// stops it the way Code Engine does.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &te.Buffer{}, &te.Buffer{}
	env := map[string]string{"RESTORE_ALLOWED_ACCOUNTS": te.Restorer, "EVENT_AUTH_TOKEN": "a-long-enough-event-token"}
	a := &app{stdout: out, stderr: errOut, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	done := make(chan int, 1)
	go func() { done <- a.main(ctx, []string{"serve", "--local", "--listen", "127.0.0.1:0"}) }()
	url := waitForListening(t, errOut, done)

	resp, err := http.Get(url + "readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Authorization", "Bearer a-long-enough-event-token")
	status, answer := te.Post(t, url, h, []byte(`{"action":"is.tag.attach","outcome":"success","target":{"id":"`+te.SnapCRN+`"}}`))
	if status != 200 || answer.Results[0].Outcome != converge.Applied {
		t.Fatalf("event: %d %+v", status, answer)
	}
	h.Set("Authorization", "Bearer wrong")
	if status, _ := te.Post(t, url, h, []byte(`{}`)); status != 401 {
		t.Errorf("wrong token: %d, want 401", status)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(errOut.String(), `"msg":"stopped"`) {
			t.Errorf("exit %d after SIGTERM; log:\n%s", code, errOut)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// waitForListening reads the URL from serve's "listening" log line.
func waitForListening(t *testing.T, log *te.Buffer, done chan int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range log.Lines() {
			if line["msg"] == "listening" {
				return line["url"].(string)
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, log)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve never listened: %s", log)
	return ""
}
