package handlers_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

const token = "0123456789abcdef-event-token"

func ceHeaders(kv ...string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	h.Set("Content-Type", "application/json")
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			h.Del(kv[i])
			continue
		}
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func kafka(kv ...string) http.Header {
	return ceHeaders(append([]string{"ce-specversion", "1.0", "ce-id", nextID(), "ce-source", "/kafka#at", "ce-type", delivery.TypeKafka}, kv...)...)
}

// TestHostileInput sends what a broken or hostile sender might, and checks the status, the log
// line's outcome, and that no policy changed. The snapshot is tagged for Restorer throughout, so
// any event that wrongly got through to the converger would show as a new policy.
func TestHostileInput(t *testing.T) {
	attach := activity("is.tag.attach", te.SnapCRN, nil)
	tests := []struct {
		name        string
		tags        []string // the snapshot's tags, when the case is about tags
		header      http.Header
		body        []byte
		wantStatus  int
		wantOutcome string
		wantError   string // in the answer
		wantPolicy  bool   // the one legitimate grant is expected afterwards
	}{
		{name: "truncated JSON", header: kafka(), body: attach[:len(attach)/2], wantStatus: 400, wantOutcome: "rejected", wantError: "malformed JSON"},
		{name: "action of the wrong type", header: kafka(), body: []byte(`{"action":["is.tag.attach"],"outcome":"success"}`), wantStatus: 400, wantOutcome: "rejected", wantError: "field action: want string, got array"},
		{name: "target of the wrong type", header: kafka(), body: []byte(`{"action":"is.tag.attach","outcome":"success","target":42}`), wantStatus: 400, wantOutcome: "rejected", wantError: "field target: want object, got number"},
		{name: "outcome of the wrong type", header: kafka(), body: []byte(`{"action":"is.tag.attach","outcome":true,"target":{"id":"x"}}`), wantStatus: 400, wantOutcome: "rejected", wantError: "field outcome"},
		{name: "empty body, plain", header: ceHeaders(), body: nil, wantStatus: 400, wantOutcome: "rejected", wantError: "empty body"},
		{name: "empty body, kafka", header: kafka(), body: nil, wantStatus: 400, wantOutcome: "rejected", wantError: "has no data"},
		{name: "10 MiB body", header: kafka(), body: bytes.Repeat([]byte("a"), 10<<20), wantStatus: 413, wantOutcome: "rejected", wantError: "larger than"},
		{name: "CloudEvent without id", header: kafka("ce-id", ""), body: attach, wantStatus: 400, wantOutcome: "rejected", wantError: "id"},
		{name: "CloudEvent without source", header: kafka("ce-source", ""), body: attach, wantStatus: 400, wantOutcome: "rejected", wantError: "source"},
		{name: "CloudEvent without type", header: kafka("ce-type", ""), body: attach, wantStatus: 400, wantOutcome: "rejected", wantError: "type"},
		{name: "unknown specversion", header: kafka("ce-specversion", "7.0"), body: attach, wantStatus: 400, wantOutcome: "rejected", wantError: "unsupported ce-specversion"},
		{
			name: "batch with one bad member", header: ceHeaders("Content-Type", "application/cloudevents-batch+json"),
			body:       []byte("[" + string(structured(delivery.TypeKafka, attach)) + `,{"specversion":"1.0","id":"x","type":"t"}]`),
			wantStatus: 400, wantOutcome: "rejected", wantError: "batch member 1", wantPolicy: true,
		},
		{name: "garbage CRN", header: kafka(), body: activity("is.tag.attach", "crn:v1:💥", nil), wantStatus: 400, wantOutcome: "rejected", wantError: "target.id"},
		{name: "oversized CRN", header: kafka(), body: activity("is.tag.attach", te.SnapCRN+strings.Repeat("9", 5000), nil), wantStatus: 400, wantOutcome: "rejected", wantError: "more than 512"},
		{name: "CRN of another account", header: kafka(), body: activity("is.tag.attach", strings.Replace(te.SnapCRN, te.Account, te.Stranger, 1), nil), wantStatus: 200, wantOutcome: "ignored"},
		{name: "CRN of another service", header: kafka(), body: activity("is.snapshot.snapshot.create", strings.Replace(te.SnapCRN, ":is:", ":cloud-object-storage:", 1), nil), wantStatus: 400, wantOutcome: "rejected", wantError: "not the CRN of a VPC snapshot"},
		{name: "account ID not 32 hex in the CRN", header: kafka(), body: activity("is.tag.attach", strings.Replace(te.SnapCRN, te.Account, "4b9f2c1d", 1), nil), wantStatus: 400, wantOutcome: "rejected", wantError: "32 hex"},
		{name: "account ID in upper case", header: kafka(), body: activity("is.tag.attach", strings.Replace(te.SnapCRN, te.Account, strings.ToUpper(te.Account), 1), nil), wantStatus: 400, wantOutcome: "rejected", wantError: "32 hex"},
		{name: "tag longer than 128 characters (IBM refuses such tags; a sender can only put it in requestData)", tags: []string{"env:prod"}, header: kafka(), body: tagged("s2s-restore:" + te.Restorer + strings.Repeat("0", 100)), wantStatus: 200, wantOutcome: "unchanged"},
		{name: "unicode in a tag (IBM refuses such tags; a sender can only put it in requestData)", tags: []string{"env:prod"}, header: kafka(), body: tagged("s2s-restore:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4ð"), wantStatus: 200, wantOutcome: "unchanged"},
		{name: "shell metacharacters in a tag (IBM refuses such tags; a sender can only put it in requestData)", tags: []string{"env:prod"}, header: kafka(), body: tagged("s2s-restore:$(curl evil)"), wantStatus: 200, wantOutcome: "unchanged"},
		{name: "JSON metacharacters in a tag (IBM refuses such tags; a sender can only put it in requestData)", tags: []string{"env:prod"}, header: kafka(), body: tagged(`s2s-restore:"},{"accountId":"*`), wantStatus: 200, wantOutcome: "unchanged"},
		{name: "account ID in a restore tag not 32 lowercase hex", tags: []string{"s2s-restore:" + strings.ToUpper(te.Restorer)}, header: kafka(), body: attach, wantStatus: 200, wantOutcome: "refused"},
		{name: "space before the colon of a restore tag", tags: []string{"s2s-restore :" + te.Restorer}, header: kafka(), body: attach, wantStatus: 200, wantOutcome: "refused"},
		{name: "tag naming the own account", tags: []string{"s2s-restore:" + te.Account}, header: kafka(), body: attach, wantStatus: 200, wantOutcome: "refused"},
		{name: "tag naming an account not allowed", tags: []string{"s2s-restore:" + te.Stranger}, header: kafka(), body: attach, wantStatus: 200, wantOutcome: "refused"},
		{name: "outcome failure", header: kafka(), body: bytes.Replace(attach, []byte(`"success"`), []byte(`"failure"`), 1), wantStatus: 200, wantOutcome: "ignored"},
		{name: "unknown action", header: kafka(), body: activity("is.instance.instance.create", te.SnapCRN, nil), wantStatus: 200, wantOutcome: "ignored"},
		{name: "deeply nested JSON", header: kafka(), body: []byte(strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)), wantStatus: 400, wantOutcome: "rejected", wantError: "nested deeper than 32"},
		{name: "duplicate JSON keys", header: kafka(), body: []byte(`{"action":"iam.x","action":"is.tag.attach","outcome":"success","target":{"id":"` + te.SnapCRN + `"}}`), wantStatus: 400, wantOutcome: "rejected", wantError: `duplicate key "action"`},
		{name: "missing bearer token", header: kafka("Authorization", ""), body: attach, wantStatus: 401, wantOutcome: "rejected", wantError: "bearer token"},
		{name: "wrong bearer token", header: kafka("Authorization", "Bearer "+strings.Repeat("x", len(token))), body: attach, wantStatus: 401, wantOutcome: "rejected", wantError: "bearer token"},
		{name: "token in the wrong scheme", header: kafka("Authorization", "Basic "+token), body: attach, wantStatus: 401, wantOutcome: "rejected", wantError: "bearer token"},
		{name: "PUT instead of POST", header: kafka(), body: attach, wantStatus: 405, wantOutcome: "rejected", wantError: "events are POSTed"},
		{name: "NUL bytes", header: kafka(), body: []byte("{\"action\":\"is.tag.attach\u0000\"}"), wantStatus: 400, wantOutcome: "rejected", wantError: "malformed JSON"},
		{name: "not JSON at all", header: ceHeaders(), body: []byte("<xml/>"), wantStatus: 400, wantOutcome: "rejected", wantError: "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			world := te.World()
			if tt.tags != nil {
				world = withTags(world, te.Snap, tt.tags...)
			}
			e := te.Start(t, world, nil)
			srv := e.HTTP(handlers.HTTPOptions{Token: token})
			before := e.Grants()
			method := http.MethodPost
			if strings.HasPrefix(tt.name, "PUT") {
				method = http.MethodPut
			}
			status, answer := te.Send(t, method, srv.URL, tt.header, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %+v", status, tt.wantStatus, answer)
			}
			text := answer.Error
			for _, r := range answer.Results {
				text += " " + r.Error
			}
			if !strings.Contains(text, tt.wantError) {
				t.Errorf("answer %q does not say %q", text, tt.wantError)
			}
			if !logged(e.Logs, tt.wantOutcome) {
				t.Errorf("no log line with outcome %q:\n%s", tt.wantOutcome, e.Logs)
			}
			want := before
			if tt.wantPolicy {
				want = append(before, restoreGrant(te.Restorer))
			}
			if diff := cmp.Diff(want, e.Grants()); diff != "" {
				t.Errorf("policies changed (-want +got):\n%s", diff)
			}
		})
	}
}

// tagged is an attach event whose requestData names tag: requestData never decides anything,
// the snapshot's tags as IBM reports them do.
func tagged(tag string) []byte {
	return []byte(strings.Replace(string(activity("is.tag.attach", te.SnapCRN, nil)), `"action"`,
		`"requestData":{"tag_names":[`+strconv.Quote(tag)+`]},"action"`, 1))
}

func logged(logs *te.Buffer, outcome string) bool {
	for _, line := range logs.Lines() {
		if line["msg"] == "event" && line["outcome"] == outcome {
			return true
		}
	}
	return false
}

// TestUnavailableIAM: IAM answering 503 beyond the SDK's retries is a 503 to the sender, and the
// redelivery after recovery converges.
func TestUnavailableIAM(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	srv := e.HTTP(handlers.HTTPOptions{})
	e.Emulator.SetFaults(emulator.Faults{P503: 1, Routes: []string{"POST /v2/policies"}})
	h, body := envelopes[0].wrap(activity("is.tag.attach", te.SnapCRN, nil))
	status, resp := te.Post(t, srv.URL, h, body)
	if status != http.StatusServiceUnavailable || resp.Results[0].Outcome != converge.Failed {
		t.Fatalf("answer %d %+v, want 503 failed", status, resp)
	}
	if got := e.Grants(); len(got) != 0 {
		t.Fatalf("granted %v while IAM was down", got)
	}
	if n := e.Emulator.Stats().Faults["POST /v2/policies 503"]; n != 1+te.FastOptions().MaxRetries {
		t.Errorf("%d attempts, want 1 + %d retries", n, te.FastOptions().MaxRetries)
	}
	e.Emulator.SetFaults(emulator.Faults{})
	status, resp = te.Post(t, srv.URL, h, body) // the same delivery again, as Kafka redelivers it
	if status != http.StatusOK || resp.Results[0].Outcome != converge.Applied {
		t.Fatalf("redelivery answered %d %+v, want 200 applied", status, resp)
	}
	if diff := cmp.Diff([]string{restoreGrant(te.Restorer)}, e.Grants()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestLostResponseIsAdopted: IAM created the policy but the answer was lost (500); the retry's 409
// names our own policy, which is adopted instead of duplicated.
func TestLostResponseIsAdopted(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	srv := e.HTTP(handlers.HTTPOptions{})
	e.Emulator.SetFaults(emulator.Faults{PCommitThenFail: 1, Routes: []string{"POST /v2/policies"}})
	h, body := envelopes[0].wrap(activity("is.tag.attach", te.SnapCRN, nil))
	status, resp := te.Post(t, srv.URL, h, body)
	if status != 200 || resp.Results[0].Changes[0].Outcome != apply.Adopted || resp.Results[0].Changes[0].Symbol() != "~" {
		t.Fatalf("answer %d %+v, want the policy adopted", status, resp)
	}
	if diff := cmp.Diff([]string{restoreGrant(te.Restorer)}, e.Grants()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestHealth: /healthz always, /readyz when an IAM token can be had.
func TestHealth(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	srv := e.HTTP(handlers.HTTPOptions{Token: token})
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}
