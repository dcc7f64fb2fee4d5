package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

var ids atomic.Int64

func nextID() string { return fmt.Sprintf("offset-%d", ids.Add(1)) }

// envelope wraps an Activity Tracker event the way one sender delivers it.
type envelope struct {
	name string
	wrap func(at []byte) (http.Header, []byte)
}

var envelopes = []envelope{
	{"kafka binary", func(at []byte) (http.Header, []byte) {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("ce-specversion", "1.0")
		h.Set("ce-id", nextID())
		h.Set("ce-source", "/apis/v1/namespaces/ns/kafkasources/at#activity-tracker")
		h.Set("ce-type", delivery.TypeKafka)
		return h, at
	}},
	{"kafka structured", func(at []byte) (http.Header, []byte) {
		h := http.Header{}
		h.Set("Content-Type", "application/cloudevents+json")
		return h, structured(delivery.TypeKafka, at)
	}},
	{"type is the action", func(at []byte) (http.Header, []byte) {
		var ev struct{ Action string }
		_ = json.Unmarshal(at, &ev)
		h := http.Header{}
		h.Set("Content-Type", "application/cloudevents+json")
		return h, structured(ev.Action, at)
	}},
	{"plain activity tracker", func(at []byte) (http.Header, []byte) {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		return h, at
	}},
	{"event notifications", func(at []byte) (http.Header, []byte) {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		return h, structured("com.ibm.cloud.activity-tracker", at)
	}},
	{"batch", func(at []byte) (http.Header, []byte) {
		h := http.Header{}
		h.Set("Content-Type", "application/cloudevents-batch+json")
		return h, []byte("[" + string(structured(delivery.TypeKafka, at)) + "]")
	}},
}

func structured(typ string, data []byte) []byte { return te.Structured(nextID(), typ, data) }

func activity(action, target string, requestData map[string]string) []byte {
	return te.Activity(action, target, requestData)
}

func restoreGrant(account string) string {
	return "restore server-protect@" + account + " → is snapshot " + te.Snap + " in " + te.Account + " (SnapshotRemoteAccountRestorer)"
}

func kpGrant(kind, account, roles string) string {
	return kind + " server-protect@" + account + " → kms instance " + te.KPGUID + " in " + te.Account + " (" + roles + ")"
}

func keyGrant(account string) string {
	return "encryption server-protect@" + account + " → kms " + te.KPGUID + " key " + te.RootKey + " in " + te.Account + " (Reader)"
}

// withoutSnapshot returns the world with a snapshot removed, as after its deletion.
func withoutSnapshot(w *emulator.World, id string) *emulator.World {
	w.Snapshots = slices.DeleteFunc(w.Snapshots, func(s emulator.Snapshot) bool { return s.ID == id })
	return w
}

func withTags(w *emulator.World, id string, tags ...string) *emulator.World {
	for i := range w.Snapshots {
		if w.Snapshots[i].ID == id {
			w.Snapshots[i].UserTags = tags
		}
	}
	return w
}

func keyScope(c *config.Config) { c.KMSScope = authz.ScopeKey }

// TestEveryRowInEveryEnvelope checks the routing table of the event-handling issue: each action,
// delivered in each envelope, leaves exactly the expected policies.
func TestEveryRowInEveryEnvelope(t *testing.T) {
	type row struct {
		name   string
		mutate func(*config.Config)
		// before runs an event first, so that a later removal has something to remove.
		before []byte
		event  []byte
		// change turns the world into its state after the action, before the event arrives.
		change func(*emulator.World) *emulator.World
		want   []string
		status int
	}
	rows := []row{
		{name: "key created, instance scope", event: activity("kms.secrets.create", te.RootKeyCRN, map[string]string{"keyType": "root_key"}),
			want: []string{kpGrant("encryption", te.Account, "Reader")}, status: 200},
		{name: "key created, consumer account", mutate: func(c *config.Config) { c.KMSConsumerAccounts = []string{te.Consumer} },
			event: activity("kms.secrets.create", te.RootKeyCRN, nil),
			want:  []string{kpGrant("encryption", te.Account, "Reader"), kpGrant("encryption-cross-account", te.Consumer, "Reader+AuthorizationDelegator")}, status: 200},
		{name: "key restored, key scope", mutate: keyScope, event: activity("kms.secrets.restore", te.RootKeyCRN, nil),
			want: []string{keyGrant(te.Account)}, status: 200},
		{name: "key deleted, key scope", mutate: keyScope, before: activity("kms.secrets.create", te.RootKeyCRN, nil),
			change: func(w *emulator.World) *emulator.World { w.KMSInstances[0].Keys[0].Deleted = true; return w },
			event:  activity("kms.secrets.delete", te.RootKeyCRN, nil), want: nil, status: 200},
		{name: "key deleted, instance scope keeps the instance's", before: activity("kms.secrets.create", te.RootKeyCRN, nil),
			change: func(w *emulator.World) *emulator.World { w.KMSInstances[0].Keys[0].Deleted = true; return w },
			event:  activity("kms.secrets.purge", te.RootKeyCRN, nil), want: []string{kpGrant("encryption", te.Account, "Reader")}, status: 200},
		{name: "hpcs key created", event: activity("hs-crypto.secrets.create", te.HPCSKeyCRN, nil),
			want: []string{"encryption server-protect@" + te.Account + " → hs-crypto instance " + te.HPCSGUID + " in " + te.Account + " (Reader)"}, status: 200},
		{name: "tag attached", event: activity("is.tag.attach", te.SnapCRN, nil), want: []string{restoreGrant(te.Restorer)}, status: 200},
		{name: "tag attached, reported by the tagging service", event: activity("global-search-tagging.tag.attach", te.SnapCRN, nil), want: []string{restoreGrant(te.Restorer)}, status: 200},
		{name: "tag detached", before: activity("is.tag.attach", te.SnapCRN, nil),
			change: func(w *emulator.World) *emulator.World { return withTags(w, te.Snap, "env:prod") },
			event:  activity("is.tag.detach", te.SnapCRN, nil), want: nil, status: 200},
		{name: "snapshot created", event: activity("is.snapshot.snapshot.create", te.SnapCRN, nil), want: []string{restoreGrant(te.Restorer)}, status: 200},
		{name: "snapshot updated", before: activity("is.snapshot.snapshot.create", te.SnapCRN, nil),
			change: func(w *emulator.World) *emulator.World { return withTags(w, te.Snap) },
			event:  activity("is.snapshot.snapshot.update", te.SnapCRN, nil), want: nil, status: 200},
		{name: "snapshot deleted", before: activity("is.tag.attach", te.SnapCRN, nil),
			change: func(w *emulator.World) *emulator.World { return withoutSnapshot(w, te.Snap) },
			event:  activity("is.snapshot.snapshot.delete", te.SnapCRN, nil), want: nil, status: 200},
		{name: "unknown action", event: activity("is.volume.volume.create", te.SnapCRN, nil), want: nil, status: 200},
	}
	for _, r := range rows {
		for _, env := range envelopes {
			t.Run(r.name+"/"+env.name, func(t *testing.T) {
				e := te.Start(t, te.World(), r.mutate)
				srv := e.HTTP(handlers.HTTPOptions{})
				if r.before != nil {
					h, body := env.wrap(r.before)
					if status, resp := te.Post(t, srv.URL, h, body); status != 200 {
						t.Fatalf("setup event: %d %+v", status, resp)
					}
				}
				if r.change != nil {
					if err := e.Emulator.Reset(r.change(e.Emulator.World())); err != nil {
						t.Fatal(err)
					}
				}
				h, body := env.wrap(r.event)
				status, resp := te.Post(t, srv.URL, h, body)
				if status != r.status {
					t.Fatalf("status %d, want %d: %+v", status, r.status, resp)
				}
				got := e.Grants()
				if diff := cmp.Diff(r.want, got); diff != "" {
					t.Errorf("policies (-want +got):\n%s\nanswer: %+v", diff, resp)
				}
			})
		}
	}
}

// TestSecondPassWritesNothing replays the same events (new ids) after they were handled once.
func TestSecondPassWritesNothing(t *testing.T) {
	e := te.Start(t, te.World(), func(c *config.Config) { c.KMSConsumerAccounts = []string{te.Consumer} })
	srv := e.HTTP(handlers.HTTPOptions{})
	events := [][]byte{
		activity("kms.secrets.create", te.RootKeyCRN, nil),
		activity("hs-crypto.secrets.create", te.HPCSKeyCRN, nil),
		activity("is.tag.attach", te.SnapCRN, nil),
		activity("is.snapshot.snapshot.create", te.SnapPlainCRN, nil),
	}
	send := func() {
		for _, ev := range events {
			h, body := envelopes[0].wrap(ev)
			if status, resp := te.Post(t, srv.URL, h, body); status != 200 {
				t.Fatalf("status %d: %+v", status, resp)
			}
		}
	}
	send()
	first := e.Emulator.Stats().PolicyWrites
	if first != 5 {
		t.Fatalf("first pass made %d policy writes, want 5 (2 per KMS instance, 1 restore)", first)
	}
	send()
	if again := e.Emulator.Stats().PolicyWrites - first; again != 0 {
		t.Errorf("second pass made %d policy writes, want 0", again)
	}
}

// TestDuplicateCostsNoCall resends the very same delivery (same source and id).
func TestDuplicateCostsNoCall(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	srv := e.HTTP(handlers.HTTPOptions{})
	h, body := envelopes[0].wrap(activity("is.tag.attach", te.SnapCRN, nil))
	te.Post(t, srv.URL, h, body)
	before := e.Emulator.Stats().Total
	status, resp := te.Post(t, srv.URL, h, body)
	if status != 200 || resp.Results[0].Outcome != converge.Duplicate {
		t.Fatalf("duplicate answered %d %+v", status, resp)
	}
	if calls := e.Emulator.Stats().Total - before; calls != 0 {
		t.Errorf("a duplicate made %d API calls, want 0", calls)
	}
}

// TestOutOfOrder delivers a detach before the attach it follows, with the world already in its
// final state (tag removed): nothing may be granted.
func TestOutOfOrder(t *testing.T) {
	e := te.Start(t, withTags(te.World(), te.Snap, "env:prod"), nil)
	srv := e.HTTP(handlers.HTTPOptions{})
	for _, ev := range [][]byte{activity("is.tag.detach", te.SnapCRN, nil), activity("is.tag.attach", te.SnapCRN, nil)} {
		h, body := envelopes[1].wrap(ev)
		if status, resp := te.Post(t, srv.URL, h, body); status != 200 {
			t.Fatalf("status %d: %+v", status, resp)
		}
	}
	if got := e.Grants(); len(got) != 0 {
		t.Errorf("a late attach granted %v though the tag is gone", got)
	}
	if w := e.Emulator.Stats().PolicyWrites; w != 0 {
		t.Errorf("%d policy writes, want 0", w)
	}
}

// TestRefusals: tags asking for a grant the rules forbid create nothing, answer 200, log refused.
func TestRefusals(t *testing.T) {
	tests := []struct {
		tag, reason string
	}{
		{"s2s-restore:" + te.Stranger, "not in RESTORE_ALLOWED_ACCOUNTS"},
		{"s2s-restore:" + te.Account, "own account"},
		{"s2s-restore:12345", "not an account ID"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			e := te.Start(t, withTags(te.World(), te.Snap, tt.tag), nil)
			srv := e.HTTP(handlers.HTTPOptions{})
			h, body := envelopes[0].wrap(activity("is.tag.attach", te.SnapCRN, nil))
			status, resp := te.Post(t, srv.URL, h, body)
			if status != 200 || resp.Results[0].Outcome != converge.Refused {
				t.Fatalf("answer %d %+v, want 200 refused", status, resp)
			}
			if got := e.Grants(); len(got) != 0 {
				t.Errorf("granted %v", got)
			}
			if !strings.Contains(e.Logs.String(), `"outcome":"refused"`) || !strings.Contains(e.Logs.String(), tt.reason) {
				t.Errorf("no refused log line naming %q:\n%s", tt.reason, e.Logs)
			}
		})
	}
}

// TestUnmanagedEqualPolicy: a hand-made policy equal to the desired one is neither duplicated nor
// deleted when the tag goes.
func TestUnmanagedEqualPolicy(t *testing.T) {
	w := te.World()
	rules := authz.Rules{AccountID: te.Account, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: []string{te.Restorer}}
	wanted, _ := rules.ForSnapshot(&authz.Snapshot{ID: te.Snap, CRN: te.SnapCRN, UserTags: []string{"s2s-restore:" + te.Restorer}})
	w.Policies = append(w.Policies, te.HandMade(wanted[0].Grant))
	e := te.Start(t, w, nil)
	srv := e.HTTP(handlers.HTTPOptions{})
	h, body := envelopes[0].wrap(activity("is.tag.attach", te.SnapCRN, nil))
	status, resp := te.Post(t, srv.URL, h, body)
	if status != 200 || resp.Results[0].Changes[0].Outcome != apply.Covered {
		t.Fatalf("answer %d %+v, want the grant covered", status, resp)
	}
	if err := e.Emulator.Reset(withTags(e.Emulator.World(), te.Snap)); err != nil {
		t.Fatal(err)
	}
	h, body = envelopes[0].wrap(activity("is.tag.detach", te.SnapCRN, nil))
	te.Post(t, srv.URL, h, body)
	want := []string{"unmanaged " + strings.TrimPrefix(restoreGrant(te.Restorer), "restore ")}
	if diff := cmp.Diff(want, e.Grants()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if w := e.Emulator.Stats().PolicyWrites; w != 0 {
		t.Errorf("%d policy writes around a hand-made policy, want 0", w)
	}
}

// TestIgnored: events that must change nothing, and answer 200.
func TestIgnored(t *testing.T) {
	failure := activity("is.tag.attach", te.SnapCRN, nil)
	failure = []byte(strings.Replace(string(failure), `"success"`, `"failure"`, 1))
	tests := map[string][]byte{
		"foreign account": activity("is.tag.attach", strings.Replace(te.SnapCRN, te.Account, te.Stranger, 1), nil),
		"outcome failure": failure,
		"standard key":    activity("kms.secrets.create", te.StdKeyCRN, map[string]string{"keyType": "standard_key"}),
		"standard key, type read from Key Protect": activity("kms.secrets.create", te.StdKeyCRN, nil),
		"unknown action": activity("iam.policy.create", te.SnapCRN, nil),
	}
	for name, ev := range tests {
		t.Run(name, func(t *testing.T) {
			e := te.Start(t, te.World(), nil)
			srv := e.HTTP(handlers.HTTPOptions{})
			h, body := envelopes[0].wrap(ev)
			status, resp := te.Post(t, srv.URL, h, body)
			if status != 200 || resp.Results[0].Outcome != converge.Ignored {
				t.Fatalf("answer %d %+v, want 200 ignored", status, resp)
			}
			if w := e.Emulator.Stats().Writes; w != 0 {
				t.Errorf("%d writes", w)
			}
		})
	}
}

func jsonDecode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
