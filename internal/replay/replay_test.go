package replay_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/replay"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// at is an Activity Tracker event on target; n makes otherwise equal events distinct.
func at(action, target string, n int) string {
	return fmt.Sprintf(`{"action":%q,"outcome":"success","eventTime":"2026-11-20T10:15:%02d.12+0000","target":{"id":%q},"initiator":{"id":"IBMid-1","host":{"address":"203.0.113.7"}}}`,
		action, n, target)
}

func kafka(id, data string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/apis/v1/namespaces/ns/kafkasources/at#activity-tracker","type":%q,"datacontenttype":"application/json","data":%s}`,
		id, delivery.TypeKafka, data)
}

// TestScenarioCorpus replays every scenario of the repository's corpus on its own and checks
// that each is handled as it says and meets its expectations, so that the corpus stays true.
func TestScenarioCorpus(t *testing.T) {
	files, err := filepath.Glob("../../testdata/scenarios/*.json")
	if err != nil || len(files) < 8 {
		t.Fatalf("want at least 8 scenarios, found %d (%v)", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			rep := replayIn(t, replay.Options{Paths: []string{file}})
			if !rep.OK() || rep.Summary.Scenarios != 1 || rep.Summary.ExpectationsMet == 0 {
				t.Errorf("not OK, or no expectation met:\n%s", text(rep))
			}
			if last := rep.Runs[0].Steps[len(rep.Runs[0].Steps)-1]; last.Kind != replay.StepExpect {
				t.Errorf("the scenario does not end with an expect step but with %s", last.Kind)
			}
		})
	}
}

// handledActions are the actions of the event-handling issue's routing table.
var handledActions = []string{
	"kms.secrets.create", "kms.secrets.restore", "kms.secrets.delete", "kms.secrets.purge",
	"hs-crypto.secrets.create", "hs-crypto.secrets.restore", "hs-crypto.secrets.delete", "hs-crypto.secrets.purge",
	"is.tag.attach", "is.tag.detach", "global-search-tagging.tag.attach", "global-search-tagging.tag.detach",
	"is.snapshot.snapshot.create", "is.snapshot.snapshot.update", "is.snapshot.snapshot.delete",
}

// TestEventCorpus replays the recorded events with their expectations and checks that they
// cover every handled action in every envelope that can be a file.
func TestEventCorpus(t *testing.T) {
	want, err := replay.LoadExpectations("../../testdata/expect/events.json")
	if err != nil {
		t.Fatal(err)
	}
	rep := replayIn(t, replay.Options{Paths: []string{"../../testdata/events"}, Expect: want, ExpectName: "events.json"})
	if !rep.OK() || rep.Summary.ExpectationsMet != 1 {
		t.Fatalf("not OK:\n%s", text(rep))
	}
	s := rep.Summary
	if s.Events < 25 || s.ExpectedRejections < 8 || s.Outcomes[converge.Ignored] < 7 || s.Outcomes[converge.Duplicate] < 1 ||
		s.Outcomes[converge.Accepted] < 1 {
		t.Errorf("corpus too thin: %+v", s)
	}
	actions := map[string][]string{}
	outcomes := map[string][]converge.Outcome{}
	for _, st := range events(rep) {
		envelope := filepath.ToSlash(filepath.Dir(strings.TrimPrefix(st.Origin, "../../testdata/events/")))
		actions[envelope] = append(actions[envelope], st.Result.Action)
		outcomes[envelope] = append(outcomes[envelope], st.Result.Outcome)
		if strings.Contains(st.Origin, "snapshot-not-found") && !strings.Contains(st.Result.Reason, "not found in us-south: nothing to grant") {
			t.Errorf("%s: reason %q, want the snapshot not found", st.Origin, st.Result.Reason)
		}
	}
	// IBM's Event Notifications payloads carry no Activity Tracker event (it is not one of
	// Event Notifications' sources).
	if got := outcomes["event-notifications"]; len(got) < 2 || slices.ContainsFunc(got, func(o converge.Outcome) bool { return o != converge.Ignored }) {
		t.Errorf("events/event-notifications: %v, want all ignored", got)
	}
	for _, envelope := range []string{"activity-tracker", "recorded", "conveniences/at-in-notifications", "batch", "jsonl"} {
		for _, a := range handledActions {
			if !slices.Contains(actions[envelope], a) {
				t.Errorf("events/%s has no %s event", envelope, a)
			}
		}
	}
	for _, envelope := range []string{"conveniences/action-type", "conveniences/job-env", "job-env", "cron", "ignored", "malformed"} {
		if len(actions[envelope]) == 0 {
			t.Errorf("events/%s is empty", envelope)
		}
	}
}

// TestInputForms replays one attach of the tagged snapshot in each form a file can take.
func TestInputForms(t *testing.T) {
	attach := at("is.tag.attach", te.SnapCRN, 1)
	create := at("kms.secrets.create", te.RootKeyCRN, 2)
	tests := []struct {
		name, file, content string
		wantOrigins         []string
		wantType            string
	}{
		{name: "structured CloudEvent", file: "e.json", content: kafka("p0/o1", attach), wantOrigins: []string{"e.json"}, wantType: delivery.TypeKafka},
		{name: "bare Activity Tracker event, delivered as Kafka would", file: "e.json", content: attach, wantOrigins: []string{"e.json"}, wantType: delivery.TypeKafka},
		{name: "batch", file: "b.json", content: "[" + kafka("p0/o1", attach) + "," + kafka("p0/o2", create) + "]",
			wantOrigins: []string{"b.json[0]", "b.json[1]"}, wantType: delivery.TypeKafka},
		{name: "JSON Lines", file: "l.jsonl", content: attach + "\n\n" + kafka("p0/o2", create) + "\n", wantOrigins: []string{"l.jsonl:1", "l.jsonl:3"}, wantType: delivery.TypeKafka},
		{name: "Event Notifications notification", file: "n.json",
			content:     `{"specversion":"1.0","id":"n1","source":"/en","type":"com.ibm.cloud.activity-tracker","ibmenseverity":"LOW","data":` + attach + `}`,
			wantOrigins: []string{"n.json"}, wantType: "com.ibm.cloud.activity-tracker"},
		{name: "job environment", file: "j.env", content: "# a job run\nCE_ID=p2/o7\nCE_SOURCE=/k\nCE_SPECVERSION=1.0\nCE_TYPE=" + delivery.TypeKafka + "\nCE_DATA=" + attach + "\n",
			wantOrigins: []string{"j.env"}, wantType: delivery.TypeKafka},
		{name: "job environment from Event Notifications", file: "j.env", content: `ibmendata={"specversion":"1.0","id":"n2","source":"/en","type":"t","data":` + attach + "}\n",
			wantOrigins: []string{"j.env"}, wantType: "t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{tt.file: tt.content})
			rep := replayIn(t, replay.Options{Paths: []string{dir}})
			evs := events(rep)
			if !rep.OK() || len(evs) != len(tt.wantOrigins) {
				t.Fatalf("want %d events handled:\n%s", len(tt.wantOrigins), text(rep))
			}
			for i, st := range evs {
				if st.Origin != filepath.Join(dir, tt.wantOrigins[i]) || st.Result.Outcome != converge.Applied || st.Result.Type != tt.wantType {
					t.Errorf("event %d: origin %s, outcome %s, type %s; want %s, applied, %s", i, st.Origin, st.Result.Outcome, st.Result.Type, tt.wantOrigins[i], tt.wantType)
				}
			}
			if len(rep.Runs[0].Authorizations) != len(tt.wantOrigins) {
				t.Errorf("authorizations at the end: %+v", rep.Runs[0].Authorizations)
			}
		})
	}
}

func TestBareActivityTrackerEventGetsTheKafkaForm(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.json": at("is.tag.attach", te.SnapCRN, 1), "b.json": at("is.tag.attach", te.SnapCRN, 1)})
	rep := replayIn(t, replay.Options{Paths: []string{dir}})
	evs := events(rep)
	if len(evs) != 2 || evs[0].Result.Source != "/s2s-authorizer/replay" || !strings.HasPrefix(evs[0].Result.ID, "sha256-") {
		t.Fatalf("first event: %+v", evs[0].Result)
	}
	// The same message twice is the same Kafka event: a duplicate.
	if evs[1].Result.Outcome != converge.Duplicate || *evs[1].APICalls != 0 {
		t.Errorf("the same event in a second file: %s with %d API calls, want duplicate with none", evs[1].Result.Outcome, *evs[1].APICalls)
	}
}

// TestBadInput checks that every file that cannot be replayed is named with its reason, that
// the run goes on, and that the exit status says so.
func TestBadInput(t *testing.T) {
	world, err := os.ReadFile("../../testdata/worlds/hand-made-policies.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{
		"01-notes.txt":                 "remember the milk",
		"02-world.json":                string(world),
		"03-expect.json":               `[{"kind":"restore","subject_account":"` + te.Restorer + `","resource":{"serviceName":"is"},"roles":["crn:x"]}]`,
		"04-garbage.json":              `{"action": "is.tag.attach", "outcome":`,
		"05-good.json":                 at("is.tag.attach", te.SnapCRN, 1),
		"06-bad-scenario.json":         `{"steps":[{"tag_atach":{"snapshot":"x","tags":["a:b"]}}]}`,
		"07-scenario-bad-config.json":  `{"config":{"KMS_SCOPE":"all"},"steps":[{"expect":[]}]}`,
		"08-scenario-secret.json":      `{"config":{"IBMCLOUD_API_KEY":"x"},"steps":[{"expect":[]}]}`,
		"09-scenario-backup-step.json": `{"steps":[{"backup_policy_create":{"id":"r006-b","name":"nightly"}}]}`,
		"README.md":                    "# not an event",
		".hidden.json":                 "not read",
		"malformed/01-valid.json":      at("kms.secrets.create", te.RootKeyCRN, 2),
		"malformed/02-invalid.json":    "nope",
	})
	rep := replayIn(t, replay.Options{Paths: []string{dir, filepath.Join(dir, "missing.json")}})
	out := text(rep)
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, want := range []string{
		"cannot replay " + p("01-notes.txt") + ": not an event file: want .json",
		"cannot replay " + p("02-world.json") + ": a world file, not an event: pass it with --world",
		"cannot replay " + p("03-expect.json") + ": an expectations file, not events: pass it with --expect",
		"cannot replay " + p("06-bad-scenario.json") + `: scenario: steps[0]: json: unknown field "tag_atach"`,
		"cannot replay " + p("07-scenario-bad-config.json") + `: scenario: config: invalid configuration (1 problem):`,
		"cannot replay " + p("08-scenario-secret.json") + ": scenario: config: IBMCLOUD_API_KEY: not a setting a scenario may change",
		"cannot replay " + p("09-scenario-backup-step.json") + ": scenario: steps[0]: backup_policy_create: want an id, a region and a name",
		"cannot replay " + p("missing.json") + ": no such file or directory",
		p("04-garbage.json") + "  -  -  - → rejected: malformed JSON at byte 38: unexpected end of JSON input",
		"FAILED: rejected as bad input (put files of malformed events under a malformed/ directory to expect that)",
		p("05-good.json"),
		p("malformed/01-valid.json"),
		"FAILED: expected rejected, got applied",
		p("malformed/02-invalid.json") + "  -  -  - → rejected as expected",
		"FAILED: 10 failures",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "README") || strings.Contains(out, ".hidden") {
		t.Errorf("README or a hidden file was read:\n%s", out)
	}
	if rep.OK() || len(rep.Problems) != 8 || rep.Summary.Failures != 10 {
		t.Errorf("OK=%v, %d problems, %d failures; want not OK, 8, 10", rep.OK(), len(rep.Problems), rep.Summary.Failures)
	}
	if got := outcomes(rep); !slices.Equal(got, []string{"rejected", "applied", "applied", "rejected"}) {
		t.Errorf("outcomes %v: the good events must still be handled", got)
	}
}

func TestExpect(t *testing.T) {
	dir := writeFiles(t, map[string]string{"attach.json": at("is.tag.attach", te.SnapCRN, 1)})
	restore := replay.Authorization{Kind: "restore", SubjectAccount: te.Restorer, Roles: []string{restorerRole},
		Resource: map[string]string{"serviceName": "is", "accountId": te.Account, "snapshotId": te.Snap}}
	encryption := replay.Authorization{Kind: "encryption", SubjectAccount: te.Account, Roles: []string{readerRole},
		Resource: map[string]string{"serviceName": "kms", "accountId": te.Account, "serviceInstance": te.KPGUID}}

	t.Run("met", func(t *testing.T) {
		rep := replayIn(t, replay.Options{Paths: []string{dir}, Expect: []replay.Authorization{restore}, ExpectName: "want.json"})
		if !rep.OK() || !strings.Contains(text(rep), "--expect want.json  expect: met, 1 authorization") {
			t.Errorf("not met:\n%s", text(rep))
		}
	})
	t.Run("not met", func(t *testing.T) {
		rep := replayIn(t, replay.Options{Paths: []string{dir}, Expect: []replay.Authorization{encryption}, ExpectName: "want.json"})
		out := text(rep)
		for _, want := range []string{
			"--expect want.json  expect: NOT MET, 1 missing, 1 unexpected",
			"      missing:    encryption server-protect@" + te.Account + " → serviceName=kms accountId=" + te.Account + " serviceInstance=" + te.KPGUID + " roles=" + readerRole,
			"      unexpected: restore server-protect@" + te.Restorer + " → serviceName=is accountId=" + te.Account + " snapshotId=" + te.Snap + " roles=" + restorerRole,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if rep.OK() || rep.Summary.ExpectationsUnmet != 1 {
			t.Errorf("an unmet expectation must fail the run: %+v", rep.Summary)
		}
	})
	t.Run("the report's authorizations are a valid expect file", func(t *testing.T) {
		rep := replayIn(t, replay.Options{Paths: []string{dir}})
		raw, _ := json.Marshal(rep.Runs[0].Authorizations)
		want, err := replay.ParseExpectations(raw)
		if err != nil {
			t.Fatal(err)
		}
		again := replayIn(t, replay.Options{Paths: []string{dir}, Expect: want, ExpectName: "pasted"})
		if !again.OK() {
			t.Errorf("pasted expectations not met:\n%s", text(again))
		}
	})
}

func TestParseExpectations(t *testing.T) {
	ok := `{"kind":"restore","subject_account":"` + te.Restorer + `","resource":{"serviceName":"is"},"roles":["` + restorerRole + `"]}`
	tests := []struct{ name, in, want string }{
		{"not a list", `{}`, "want a JSON list of authorizations"},
		{"null", `null`, "got null"},
		{"unknown field", `[{"kind":"restore","subject":"x"}]`, `unknown field "subject"`},
		{"unknown kind", `[{"kind":"reader","subject_account":"` + te.Restorer + `","resource":{"serviceName":"is"},"roles":["crn:x"]}]`, `[0]: kind "reader": want encryption`},
		{"bad account", `[` + ok + `,{"kind":"unmanaged","subject_account":"me","resource":{"serviceName":"is"},"roles":["crn:x"]}]`, `[1]: subject_account "me"`},
		{"no service", `[{"kind":"restore","subject_account":"` + te.Restorer + `","resource":{},"roles":["crn:x"]}]`, "[0]: resource: want at least serviceName"},
		{"no roles", `[{"kind":"restore","subject_account":"` + te.Restorer + `","resource":{"serviceName":"is"},"roles":[]}]`, "[0]: roles: want at least one role CRN"},
		{"role not a CRN", `[{"kind":"restore","subject_account":"` + te.Restorer + `","resource":{"serviceName":"is"},"roles":["Reader"]}]`, `[0]: roles: "Reader" is not a role CRN`},
		{"trailing data", `[]` + ` []`, "data after the list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := replay.ParseExpectations([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if got, err := replay.ParseExpectations([]byte(`[` + ok + `]`)); err != nil || len(got) != 1 {
		t.Errorf("valid file: %v, %v", got, err)
	}
}

func TestCompareIsAMultiset(t *testing.T) {
	a := replay.Authorization{Kind: "unmanaged", SubjectAccount: te.Restorer, Resource: map[string]string{"serviceName": "is"}, Roles: []string{"crn:b", "crn:a"}}
	b := a
	b.Roles = []string{"crn:a", "crn:b", "crn:a"} // same set of roles
	b.PolicyID = "ignored"
	if d := replay.Compare([]replay.Authorization{a}, []replay.Authorization{b}); !d.Empty() {
		t.Errorf("equal authorizations differ: %+v", d)
	}
	if d := replay.Compare([]replay.Authorization{a, a}, []replay.Authorization{b}); len(d.Missing) != 1 || len(d.Unexpected) != 0 {
		t.Errorf("expected twice, found once: %+v", d)
	}
	if d := replay.Compare([]replay.Authorization{a}, []replay.Authorization{b, b}); len(d.Missing) != 0 || len(d.Unexpected) != 1 {
		t.Errorf("expected once, found twice: %+v", d)
	}
}

// TestDryRun plans without writing: the emulator counts no policy write, and nothing exists
// at the end.
func TestDryRun(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"1.json": at("is.tag.attach", te.SnapCRN, 1),
		"2.json": at("kms.secrets.create", te.RootKeyCRN, 2),
		"3.json": `{"specversion":"1.0","id":"tick","source":"/ping","type":"` + delivery.TypePing + `"}`,
	})
	rep := replayIn(t, replay.Options{Paths: []string{dir}, DryRun: true})
	out := text(rep)
	if !rep.OK() || rep.Summary.PolicyWrites != 0 || *rep.Summary.APICalls == 0 || len(rep.Runs[0].Authorizations) != 0 {
		t.Fatalf("dry run: %+v\n%s", rep.Summary, out)
	}
	if got := outcomes(rep); !slices.Equal(got, []string{"planned", "planned", "accepted"}) {
		t.Errorf("outcomes %v", got)
	}
	for _, want := range []string{"Dry run: changes are planned, not written.", "+ create  restore server-protect@" + te.Restorer,
		"[no policy, dry run: not written]", "reconcile: Dry run: nothing written."} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A scenario's world still changes, but its expectations describe applied changes.
	sc := writeFiles(t, map[string]string{"s.json": `{"config":{"RESTORE_ALLOWED_ACCOUNTS":"` + te.Restorer + `"},"steps":[
		{"tag_attach":{"snapshot":"` + te.SnapPlain + `","tags":["s2s-restore:` + te.Restorer + `"]}},
		{"event":` + at("is.tag.attach", te.SnapPlainCRN, 3) + `,"expect_outcome":"planned"},
		{"expect":[]}]}`})
	rep = replayIn(t, replay.Options{Paths: []string{sc}, DryRun: true})
	if !rep.OK() || rep.Summary.PolicyWrites != 0 {
		t.Errorf("dry-run scenario: %+v\n%s", rep.Summary, text(rep))
	}
}

// TestScenarioSteps checks what a scenario step that cannot be done reports.
func TestScenarioSteps(t *testing.T) {
	tests := []struct {
		name, steps string
		want        []string
	}{
		{"unknown snapshot", `{"tag_attach":{"snapshot":"r006-nope","tags":["a:b"]}}`,
			[]string{"step 1  tag_attach", "FAILED: snapshot r006-nope is not in the world (snapshots: r006-"}},
		{"a key that protects a snapshot needs force", `{"key_delete":{"instance":"` + te.KPGUID + `","key":"` + te.RootKey + `"}}`,
			[]string{"FAILED: key API: delete key " + te.RootKey, "PROTECTED_RESOURCE_ERR"}},
		{"unknown variable", `{"key_delete":{"instance":"` + te.KPGUID + `","key":"${later}"}}`,
			[]string{`FAILED: ${later}: no key_create step before this one named it with "as"`}},
		{"unexpected outcome", `{"event":` + at("is.tag.attach", te.SnapCRN, 1) + `,"expect_outcome":"ignored"}`,
			[]string{"FAILED: expected ignored, got applied"}},
		{"event file that is missing", `{"event_file":"nowhere.json"}`, []string{"nowhere.json  event", "FAILED: no such file or directory"}},
		{"unmet expectation", `{"event":` + at("is.tag.attach", te.SnapCRN, 1) + `},{"expect":[]}`, []string{"expect: NOT MET, 0 missing, 1 unexpected"}},
		{"deleting a backup policy that is not there", `{"backup_policy_delete":"r006-nope"}`,
			[]string{"step 1  backup_policy_delete", "FAILED: backup policy r006-nope is not in the world"}},
		{"a backup policy twice", `{"backup_policy_create":{"id":"r006-b","region":"us-south","name":"nightly"}},{"backup_policy_create":{"id":"r006-b","region":"us-south","name":"again"}}`,
			[]string{`created backup policy r006-b "nightly" in us-south`, `FAILED: backup policy r006-b: emulator: backup policy: duplicate id "r006-b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The last step shows that the scenario goes on after a failed step.
			dir := writeFiles(t, map[string]string{"s.json": `{"config":{"RESTORE_ALLOWED_ACCOUNTS":"` + te.Restorer + `"},"steps":[` + tt.steps + `,
				{"event":` + at("is.tag.detach", te.SnapPlainCRN, 9) + `,"expect_outcome":"unchanged"}]}`})
			rep := replayIn(t, replay.Options{Paths: []string{dir}})
			out := text(rep)
			if rep.OK() {
				t.Fatalf("want a failure:\n%s", out)
			}
			for _, want := range append(tt.want, "is.tag.detach  is snapshot "+te.SnapPlain+" → unchanged as expected") {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestNotFoundIsSaid: a hand-written event naming a snapshot that does not exist (a typo) or not
// in that region is replayed as unchanged with the reason, not as a bare success.
func TestNotFoundIsSaid(t *testing.T) {
	typo := strings.Replace(te.SnapCRN, te.Snap, "r006-00000000-0000-4000-8000-000000000000", 1)
	dir := writeFiles(t, map[string]string{
		"1-typo.json":         at("is.tag.attach", typo, 1),
		"2-wrong-region.json": at("is.tag.attach", strings.Replace(te.SnapEUCRN, "eu-de", "us-south", 1), 2),
	})
	rep := replayIn(t, replay.Options{Paths: []string{dir}})
	out := text(rep)
	for _, want := range []string{
		"unchanged: snapshot r006-00000000-0000-4000-8000-000000000000 not found in us-south: nothing to grant",
		"unchanged: snapshot " + te.SnapEU + " not found in us-south: nothing to grant",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !rep.OK() || rep.Summary.PolicyWrites != 0 {
		t.Errorf("not OK or wrote:\n%s", out)
	}
}
