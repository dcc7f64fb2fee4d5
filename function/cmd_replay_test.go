package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/replay"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

const replayAttach = `{"action":"is.tag.attach","outcome":"success","eventTime":"2026-11-20T10:15:04.12+0000","target":{"id":"` +
	"crn:v1:bluemix:public:is:us-south:a/" + te.Account + "::snapshot:" + te.Snap +
	`"},"initiator":{"id":"IBMid-270004XYZ1","name":"jane.doe@example.com","host":{"address":"203.0.113.7"}}}`

func replayFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReplayUsage(t *testing.T) {
	event := replayFile(t, replayAttach)
	badExpect := replayFile(t, `[{"kind":"reader"}]`)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no path", nil, []string{"replay"}, "replay: missing arguments\nusage: s2s-authorizer replay [flags] PATH..."},
		{"target and live", nil, []string{"replay", "--target", "http://127.0.0.1:1", "--live", event}, "--target and --live exclude each other"},
		{"apply without live", nil, []string{"replay", "--apply", event}, "--apply needs --live"},
		{"world with target", nil, []string{"replay", "--target", "http://127.0.0.1:1", "--world", "w.json", event}, "--world seeds the emulator"},
		{"token without target", nil, []string{"replay", "--token", "x", event}, "--token needs --target"},
		{"dry run of a serve target", nil, []string{"replay", "--target", "http://127.0.0.1:1", "--dry-run", event}, "a serve target follows its own DRY_RUN"},
		{"missing world", nil, []string{"replay", "--world", "no-such-world.json", event}, "replay: --world: no-such-world.json"},
		{"missing expect file", nil, []string{"replay", "--expect", "no-such-expect.json", event}, "replay: --expect: open no-such-expect.json"},
		{"bad expect file", nil, []string{"replay", "--expect", badExpect, event}, `[0]: kind "reader"`},
		{"live without credentials", nil, []string{"replay", "--live", event}, "replay: --live: invalid configuration"},
		{"target, expect, no credentials", nil, []string{"replay", "--target", "http://127.0.0.1:1", "--expect", event, event}, "--expect with --target reads the target account's policies"},
		{"bad configuration", map[string]string{"KMS_SCOPE": "all"}, []string{"replay", event}, `KMS_SCOPE="all"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), tt.env, tt.args...)
			if code != exitUsage || !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("exit %d, want 2, output:\n%s%s\nwant it to contain %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

// TestReplayReadmeCommand runs the README's "run it" command.
func TestReplayReadmeCommand(t *testing.T) {
	code, stdout, stderr := run(t, context.Background(), map[string]string{}, "replay", "../testdata/scenarios")
	for _, want := range []string{
		"Replaying in-process against the embedded IBM Cloud emulator: no IBM Cloud account is used.",
		"scenario ../testdata/scenarios/01-key-created-same-account.json",
		"step 3  expect: met, 1 authorization",
		"OK: every event was handled as expected.",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", code, stderr, stdout)
	}

	code, stdout, _ = run(t, context.Background(), map[string]string{}, "replay", "--json", "../testdata/scenarios")
	var doc struct {
		Mode string
		Runs []struct {
			Name     string
			Scenario bool
			Steps    []struct {
				Origin, Kind string
				OK           bool
				Result       *handlers.Result
				APICalls     *int `json:"api_calls"`
			}
			Authorizations []replay.Authorization
		}
		Problems []replay.Problem
		Summary  struct {
			Scenarios, Events int
			Outcomes          map[string]int
			ExpectationsMet   int `json:"expectations_met"`
			OK                bool
		}
	}
	if err := json.Unmarshal([]byte(stdout), &doc); code != exitOK || err != nil {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, stdout)
	}
	if doc.Mode != "emulator" || !doc.Summary.OK || doc.Summary.Scenarios < 8 || doc.Summary.ExpectationsMet < 8 || len(doc.Problems) != 0 ||
		doc.Runs[0].Steps[1].Result.Action != "kms.secrets.create" || *doc.Runs[0].Steps[1].APICalls == 0 || doc.Runs[0].Authorizations[0].Kind != "encryption" {
		t.Errorf("--json document: %+v", doc)
	}
}

// TestReplayTargetServe starts serve on loopback against an emulator and replays to it, with
// the same environment, so that replay reads the account afterwards.
func TestReplayTargetServe(t *testing.T) {
	srv, env := emulatorEnv(t, te.World())
	env["EVENT_AUTH_TOKEN"] = "a-long-enough-event-token"
	url, stop := replayServe(t, env, "--listen", "127.0.0.1:0")
	defer stop()
	expect := replayFile(t, `[{"kind":"restore","subject_account":"`+te.Restorer+`","resource":{"serviceName":"is","accountId":"`+te.Account+
		`","snapshotId":"`+te.Snap+`"},"roles":["crn:v1:bluemix:public:iam::::role:SnapshotRemoteAccountRestorer"]}]`)
	event := replayFile(t, replayAttach)

	code, stdout, stderr := run(t, context.Background(), env, "replay", "--target", url, "--expect", expect, event)
	if code != exitOK || !strings.Contains(stdout, "Replaying to serve at "+url) || !strings.Contains(stdout, "→ applied") ||
		!strings.Contains(stdout, "expect: met, 1 authorization") || countGrants(srv) != 1 {
		t.Fatalf("exit %d, %d grants\n%s%s", code, countGrants(srv), stdout, stderr)
	}
	code, stdout, _ = run(t, context.Background(), env, "replay", "--target", url, "--token", "wrong-but-long-enough", event)
	if code != exitFailure || !strings.Contains(stdout, "HTTP 401: missing or wrong bearer token") {
		t.Errorf("wrong token: exit %d\n%s", code, stdout)
	}
}

// TestReplayLive runs against "IBM Cloud" as configured: the environment points at an emulator.
func TestReplayLive(t *testing.T) {
	srv, env := emulatorEnv(t, te.World())
	event := replayFile(t, replayAttach)
	code, stdout, stderr := run(t, context.Background(), env, "replay", "--live", event)
	if code != exitOK || !strings.Contains(stdout, "dry run: nothing is written (--apply writes)") || !strings.Contains(stdout, "→ planned") || countGrants(srv) != 0 {
		t.Fatalf("--live: exit %d, %d grants\n%s%s", code, countGrants(srv), stdout, stderr)
	}
	code, stdout, _ = run(t, context.Background(), env, "replay", "--live", "--apply", event)
	if code != exitOK || !strings.Contains(stdout, "→ applied") || countGrants(srv) != 1 {
		t.Errorf("--live --apply: exit %d, %d grants\n%s", code, countGrants(srv), stdout)
	}
}

// TestRecordAndReplay records what serve receives and replays the recording: the same events
// have the same outcomes, and the recording names no person.
func TestRecordAndReplay(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "recorded")
	env := map[string]string{"RESTORE_ALLOWED_ACCOUNTS": te.Restorer}
	url, stop := replayServe(t, env, "--local", "--listen", "127.0.0.1:0", "--record", dir)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	var live []string
	for _, body := range []string{replayAttach, `{"action":"kms.secrets.create","outcome":"success","target":{"id":"` + te.RootKeyCRN + `"}}`, replayAttach} {
		_, answer := te.Post(t, url, h, []byte(body))
		live = append(live, string(answer.Results[0].Outcome))
	}
	bin := http.Header{}
	bin.Set("Content-Type", "application/json")
	bin.Set("ce-specversion", "1.0")
	bin.Set("ce-id", "partition:0/offset:9")
	bin.Set("ce-source", "/apis/v1/namespaces/ns/kafkasources/at#activity-tracker")
	bin.Set("ce-type", delivery.TypeKafka)
	_, answer := te.Post(t, url, bin, []byte(strings.Replace(replayAttach, "10:15:04", "10:16:04", 1)))
	live = append(live, string(answer.Results[0].Outcome))
	stop()

	// The redelivered attach is recorded once.
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 3 {
		t.Fatalf("recorded %d files (%v), want 3", len(entries), err)
	}
	for _, e := range entries {
		raw, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.Contains(raw, []byte("IBMid")) || bytes.Contains(raw, []byte("203.0.113.7")) || bytes.Contains(raw, []byte("jane.doe")) {
			t.Errorf("%s is not redacted:\n%s", e.Name(), raw)
		}
	}
	code, stdout, stderr := run(t, context.Background(), env, "replay", "--json", dir)
	var rep replay.Report
	if err := json.Unmarshal([]byte(stdout), &rep); code != exitOK || err != nil {
		t.Fatalf("replay of the recording: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	var replayed []string
	for _, st := range rep.Runs[0].Steps {
		replayed = append(replayed, string(st.Result.Outcome))
	}
	wantLive, wantReplayed := []string{"applied", "applied", "duplicate", "unchanged"}, []string{"applied", "applied", "unchanged"}
	if strings.Join(live, ",") != strings.Join(wantLive, ",") || strings.Join(replayed, ",") != strings.Join(wantReplayed, ",") {
		t.Errorf("serve answered %v, the replay of its recording %v; want %v and %v", live, replayed, wantLive, wantReplayed)
	}
}

// TestRecordDirFromEnvironment uses RECORD_DIR, pointed at a file: recording fails, loudly in
// the log, and the event is handled all the same.
func TestRecordDirFromEnvironment(t *testing.T) {
	notADir := replayFile(t, "")
	url, stop := replayServe(t, map[string]string{"RESTORE_ALLOWED_ACCOUNTS": te.Restorer, "RECORD_DIR": notADir}, "--local", "--listen", "127.0.0.1:0")
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	status, answer := te.Post(t, url, h, []byte(replayAttach))
	logs := stop()
	if status != 200 || answer.Results[0].Outcome != converge.Applied {
		t.Errorf("event: %d %+v", status, answer)
	}
	if !strings.Contains(logs, `"msg":"recording events"`) || !strings.Contains(logs, `"msg":"record event"`) {
		t.Errorf("log does not show the failed recording:\n%s", logs)
	}
}

// replayServe runs serve in-process until stop, which returns its log.
func replayServe(t *testing.T, env map[string]string, args ...string) (url string, stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &te.Buffer{}, &te.Buffer{}
	a := &app{stdout: out, stderr: errOut, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	done := make(chan int, 1)
	go func() { done <- a.main(ctx, append([]string{"serve"}, args...)) }()
	url = waitForListening(t, errOut, done)
	stopped := false
	stop = func() string {
		if !stopped {
			stopped = true
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("serve did not stop")
			}
		}
		return errOut.String()
	}
	t.Cleanup(func() { stop() })
	return url, stop
}
