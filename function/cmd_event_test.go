package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// runPiped runs a subcommand with stdin as its standard input.
func runPiped(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	out, errOut := &te.Buffer{}, &te.Buffer{}
	a := &app{stdout: out, stderr: errOut, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, stdin: strings.NewReader(stdin)}
	code = a.main(context.Background(), args)
	return code, out.String(), errOut.String()
}

var eventEnv = map[string]string{"RESTORE_ALLOWED_ACCOUNTS": te.Restorer, "IBMCLOUD_REGIONS": "us-south,eu-de"}

// event … | replay - : every kind in every envelope reaches the handlers as the event it names.
func TestEventPipedIntoReplay(t *testing.T) {
	kinds := []struct {
		args []string
		want []string // in replay's output
	}{
		{[]string{"tag-attach", "--snapshot", te.Snap}, []string{"is.tag.attach  is snapshot " + te.Snap + " → applied", "+ create  restore server-protect@" + te.Restorer}},
		{[]string{"tag-detach", "--snapshot", te.SnapPlain}, []string{"is.tag.detach  is snapshot " + te.SnapPlain + " → unchanged"}},
		{[]string{"snapshot-delete", "--snapshot", te.SnapEU, "--region", "eu-de"}, []string{"is.snapshot.snapshot.delete  is snapshot " + te.SnapEU + " → unchanged"}},
		{[]string{"key-create", "--instance", te.KPGUID, "--key", te.RootKey}, []string{"kms.secrets.create  kms instance " + te.KPGUID + " → applied", "+ create  encryption"}},
		{[]string{"key-create", "--instance", te.HPCSGUID, "--key", te.HPCSKey, "--service", "hs-crypto"}, []string{"hs-crypto.secrets.create  hs-crypto instance " + te.HPCSGUID + " → applied"}},
		{[]string{"key-create", "--instance", te.KPGUID, "--key", te.StdKey, "--type", "standard_key"}, []string{"kms.secrets.create  ", "→ ignored: standard key"}},
		{[]string{"key-delete", "--instance", te.KPGUID, "--key", te.RootKey}, []string{"kms.secrets.delete  kms instance " + te.KPGUID + " → "}},
		{[]string{"backup-policy-create", "--policy", "r006-0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"},
			// Whether it asks for anything is the Backup for VPC grants' business; here it must
			// arrive as the action it names.
			[]string{"is.backup-policy.backup-policy.create  "}},
	}
	for _, as := range []string{"at", "kafka", "job-env", "structured"} {
		for _, k := range kinds {
			t.Run(as+" "+k.args[0], func(t *testing.T) {
				args := append([]string{"event", "--as", as, "--time", "2026-11-20T10:08:04Z"}, k.args...)
				code, ev, errOut := runPiped(t, eventEnv, "", args...)
				if code != exitOK {
					t.Fatalf("event: exit %d\n%s", code, errOut)
				}
				code, out, errOut := runPiped(t, eventEnv, ev, "replay", "-")
				// Every event is handled; none is rejected or failed (replay's exit 1).
				if code != exitOK {
					t.Fatalf("replay -: exit %d\n%s%s\nevent:\n%s", code, out, errOut, ev)
				}
				for _, want := range k.want {
					if !strings.Contains(out, want) {
						t.Errorf("missing %q in\n%s", want, out)
					}
				}
			})
		}
	}
}

var curlHeader = regexp.MustCompile(`-H '([^:]+): ([^']*)'`)

// event --as kafka | curl …: the body on stdout and the headers of the printed curl line make the
// binary-mode delivery a Code Engine Kafka subscription sends, and serve handles it.
func TestEventKafkaPostedToServe(t *testing.T) {
	env := te.Start(t, te.World(), func(c *config.Config) { c.RestoreAllowedAccounts = []string{te.Restorer} })
	srv := env.HTTP(handlers.HTTPOptions{})
	code, body, curl := runPiped(t, eventEnv, "", "event", "tag-attach", "--snapshot", te.Snap, "--as", "kafka", "--id", "partition:3/offset:42")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, curl)
	}
	if !strings.Contains(curl, "--data-binary @-") || strings.Count(body, "\n") != 1 {
		t.Fatalf("want one body line and a curl line reading stdin; got body %q, stderr %q", body, curl)
	}
	header := http.Header{}
	for _, m := range curlHeader.FindAllStringSubmatch(curl, -1) {
		header.Set(m[1], m[2])
	}
	for name, want := range map[string]string{"ce-id": "partition:3/offset:42", "ce-subject": "partition:3#42", "ce-kafkaheaderlocation": "global", "ce-kafkaheaderaccount": te.Account} {
		if got := header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	status, resp := te.Post(t, srv.URL, header, []byte(body))
	if status != http.StatusOK || len(resp.Results) != 1 || resp.Results[0].Outcome != converge.Applied {
		t.Errorf("serve answered %d %+v, want 200 applied", status, resp)
	}
}

func TestEventUsage(t *testing.T) {
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{eventEnv, []string{"event", "--help"}, "usage: s2s-authorizer event KIND [flags]"},
		{eventEnv, []string{"event"}, "want one KIND"},
		{eventEnv, []string{"event", "tag-remove", "--snapshot", "x"}, `unknown KIND "tag-remove"`},
		{eventEnv, []string{"event", "tag-attach"}, "tag-attach needs --snapshot"},
		{eventEnv, []string{"event", "key-create", "--instance", te.KPGUID}, "key-create needs --key"},
		{eventEnv, []string{"event", "key-create", "--instance", "g", "--key", "k", "--service", "cos"}, "--service must be kms or hs-crypto"},
		{eventEnv, []string{"event", "snapshot-delete", "--snapshot", "x", "--as", "xml"}, `--as "xml": want at, kafka, job-env or structured`},
		{eventEnv, []string{"event", "snapshot-delete", "--snapshot", "x", "--time", "yesterday"}, "--time: want RFC 3339"},
		{eventEnv, []string{"event", "snapshot-delete", "--snapshot", "x", "--account", "nobody"}, "--account must be 32 lowercase hex"},
	}
	for _, tc := range tests {
		code, out, errOut := runPiped(t, tc.env, "", tc.args...)
		wantCode := exitUsage
		if tc.args[len(tc.args)-1] == "--help" {
			wantCode = exitOK
		}
		if code != wantCode || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v: exit %d, output %q; want %d and %q", tc.args, code, out+errOut, wantCode, tc.want)
		}
	}
}

func TestReplayStdin(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		want     string
	}{
		{"twice", []string{"replay", "-", "-"}, "{}", exitUsage, "- (standard input) can be given once"},
		{"empty", []string{"replay", "-"}, "  \n", exitFailure, "standard input is empty"},
		{"not an event", []string{"replay", "-"}, "hello", exitFailure, "want NAME=VALUE"},
		{"json lines", []string{"replay", "-"}, strings.Repeat(`{"action":"kms.secrets.rotate","outcome":"success","target":{"id":"`+te.RootKeyCRN+`"}}`+"\n", 2), exitOK, "stdin:2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runPiped(t, eventEnv, tc.stdin, tc.args...)
			if code != tc.wantCode || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d, output %q; want %d and %q", code, out+errOut, tc.wantCode, tc.want)
			}
		})
	}
}

// Without an allowlisted account the tag event names no tag, and is handled all the same: the
// function reads the snapshot's tags, never the event's.
func TestEventTagWithoutTagName(t *testing.T) {
	code, ev, errOut := runPiped(t, nil, "", "event", "tag-attach", "--snapshot", te.Snap)
	if code != exitOK || strings.Contains(ev, "tag_names") {
		t.Fatalf("exit %d, event %s%s", code, ev, errOut)
	}
	code, out, _ := runPiped(t, eventEnv, ev, "replay", "-")
	if code != exitOK || !strings.Contains(out, "is snapshot "+te.Snap+" → applied") {
		t.Errorf("replay -: exit %d\n%s", code, out)
	}
}
