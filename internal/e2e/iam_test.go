package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	"github.com/s2s-authorizer/s2s-authorizer/internal/reconcile"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// The tests of this file are the acceptance tests of the IAM fidelity work: what an operator sees
// in the account (the policies afterwards), in the answer to an event and in /readyz, with the
// emulator speaking IAM's v1 and v2 APIs over one store.

// attr is one attribute in IAM's v2 shape.
type attr struct {
	Key      string `json:"key"`
	Operator string `json:"operator,omitempty"`
	Value    any    `json:"value"`
}

// v2Raw is a policy in IAM's v2 shape as GET /v2/policies returns it.
type v2Raw struct {
	ID          string `json:"id,omitempty"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	CreatedByID string `json:"created_by_id,omitempty"`
	Subject     struct {
		Attributes []attr `json:"attributes"`
	} `json:"subject"`
	Resource struct {
		Attributes []attr `json:"attributes"`
	} `json:"resource"`
	Control struct {
		Grant struct {
			Roles []struct {
				RoleID string `json:"role_id"`
			} `json:"roles"`
		} `json:"grant"`
	} `json:"control"`
}

// v2Policy is g as a policy made through IAM v2 (as Terraform makes them), with description and
// the iam_id of whoever made it.
func v2Policy(g authz.Grant, description, createdBy string) json.RawMessage {
	var p v2Raw
	p.Type, p.Description, p.CreatedByID = g.Type, description, createdBy
	for _, a := range g.Subjects {
		p.Subject.Attributes = append(p.Subject.Attributes, attr{Key: a.Name, Operator: "stringEquals", Value: a.Value})
	}
	for _, a := range g.Resources {
		op := a.Operator
		if op == "" {
			op = "stringEquals"
		}
		p.Resource.Attributes = append(p.Resource.Attributes, attr{Key: a.Name, Operator: op, Value: a.Value})
	}
	for _, r := range g.Roles {
		p.Control.Grant.Roles = append(p.Control.Grant.Roles, struct {
			RoleID string `json:"role_id"`
		}{r})
	}
	raw, _ := json.Marshal(p)
	return raw
}

// v1Policy is g as a policy made through IAM v1, with description and its maker.
func v1Policy(g authz.Grant, description, createdBy string) json.RawMessage {
	var m map[string]any
	_ = json.Unmarshal(te.PolicyJSON(g, "", description), &m)
	if createdBy != "" {
		m["created_by_id"] = createdBy
	}
	raw, _ := json.Marshal(m)
	return raw
}

// world is the sample world with policies made through v1 and v2 and the IAM settings.
func world(v1, v2 []json.RawMessage, iam emulator.IAMSettings) *emulator.World {
	w := te.World()
	w.Policies = append(w.Policies, v1...)
	w.PoliciesV2 = append(w.PoliciesV2, v2...)
	w.IAMSettings = iam
	return w
}

// untagged is w with snapshot id's tags removed: the operator took the restore tag off.
func untagged(w *emulator.World, id string) *emulator.World {
	for i := range w.Snapshots {
		if w.Snapshots[i].ID == id {
			w.Snapshots[i].UserTags = nil
		}
	}
	return w
}

// untag takes the tags off snapshot id in the running emulator, keeping its policies.
func untag(t *testing.T, e *te.Env, id string) {
	t.Helper()
	if err := e.Emulator.Reset(untagged(e.Emulator.World(), id)); err != nil {
		t.Fatal(err)
	}
}

var sent int

// send posts an Activity Tracker event of action on target to the function and returns the
// status and the one result.
func send(t *testing.T, url, action, target string) (int, handlers.Result) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	// A distinct body each time: the same delivery twice is answered "duplicate".
	sent++
	status, answer := te.Post(t, url, h, te.Activity(action, target, map[string]string{"requestId": fmt.Sprint(sent)}))
	if len(answer.Results) != 1 {
		t.Fatalf("answer %d %+v: want one result", status, answer)
	}
	return status, answer.Results[0]
}

// withKey counts the active policies of the account whose grant is g's.
func withKey(e *te.Env, g authz.Grant) int {
	n := 0
	for _, p := range e.Policies() {
		if p.Key() == g.Key() {
			n++
		}
	}
	return n
}

// onSnapshot are the active policies whose resource names snapshot id, as IAM holds them.
func onSnapshot(e *te.Env, id string) []authz.Policy {
	var out []authz.Policy
	for _, p := range e.Policies() {
		if p.Resource("snapshotId") == id {
			out = append(out, p)
		}
	}
	return out
}

// rawV2 is the v2-made policy of the emulator's world with id.
func rawV2(t *testing.T, e *te.Env, id string) v2Raw {
	t.Helper()
	for _, raw := range e.Emulator.World().PoliciesV2 {
		var p v2Raw
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("policy %s was not made through IAM v2", id)
	return v2Raw{}
}

func attrMap(as []attr) map[string]string {
	out := map[string]string{}
	for _, a := range as {
		out[a.Key] = a.Value.(string)
	}
	return out
}

func changeWith(r handlers.Result, outcome apply.Outcome) []apply.Result {
	var out []apply.Result
	for _, c := range r.Changes {
		if c.Outcome == outcome {
			out = append(out, c)
		}
	}
	return out
}

func reportWith(rep reconcile.Report, outcome apply.Outcome) []apply.Result {
	var out []apply.Result
	for _, c := range rep.Applied.Results {
		if c.Outcome == outcome {
			out = append(out, c)
		}
	}
	return out
}

func fullReconcile(t *testing.T, e *te.Env) reconcile.Report {
	t.Helper()
	rep := e.Runtime.Reconciler(0, -1).Run(context.Background())
	if rep.Failed() {
		t.Fatalf("reconcile failed: %v %v", rep.ReadErrors, rep.Applied.Err())
	}
	return rep
}

// TestRestoreGrantAsIAMListsIt: the restore grant created on a tag names the snapshot by
// snapshotId alone, and carries the role CRN IAM's role list offers, in either form IBM's texts give.
func TestRestoreGrantAsIAMListsIt(t *testing.T) {
	tests := []struct {
		form     string
		wantRole string
	}{
		{form: emulator.RestorerCRNIAMRole, wantRole: emulator.RoleSnapshotRemoteAccountRestorer},
		{form: emulator.RestorerCRNISServiceRole, wantRole: emulator.RoleSnapshotRemoteAccountRestorerIS},
	}
	for _, tt := range tests {
		t.Run(tt.form, func(t *testing.T) {
			e := te.Start(t, world(nil, nil, emulator.IAMSettings{RestorerRoleCRNForm: tt.form}), nil)
			srv := e.HTTP(handlers.HTTPOptions{})
			status, r := send(t, srv.URL, "is.tag.attach", te.SnapCRN)
			if status != 200 || r.Outcome != converge.Applied {
				t.Fatalf("answer %d %+v, want 200 applied", status, r)
			}
			got := onSnapshot(e, te.Snap)
			if len(got) != 1 {
				t.Fatalf("%d policies on the snapshot, want 1", len(got))
			}
			p := rawV2(t, e, got[0].ID)
			wantResource := map[string]string{"serviceName": "is", "accountId": te.Account, "snapshotId": te.Snap}
			if gotResource := attrMap(p.Resource.Attributes); !mapsEqual(gotResource, wantResource) || len(p.Resource.Attributes) != 3 {
				t.Errorf("resource attributes %v, want exactly %v", p.Resource.Attributes, wantResource)
			}
			wantSubject := map[string]string{"serviceName": "server-protect", "accountId": te.Restorer}
			if gotSubject := attrMap(p.Subject.Attributes); !mapsEqual(gotSubject, wantSubject) {
				t.Errorf("subject attributes %v, want %v", gotSubject, wantSubject)
			}
			if roles := p.Control.Grant.Roles; len(roles) != 1 || roles[0].RoleID != tt.wantRole {
				t.Errorf("roles %v, want [%s]", roles, tt.wantRole)
			}
			if _, ours := got[0].Owner(); !ours {
				t.Errorf("the created policy is not recognised as this project's: %q", got[0].Description)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRoleMissingFromIAM: a role IAM does not offer makes /readyz fail naming it and its service,
// and an event creates nothing with a guessed CRN; the sender is told to come back (5xx).
func TestRoleMissingFromIAM(t *testing.T) {
	tests := []struct {
		role, service string
		action        string
		target        string
	}{
		{role: "SnapshotRemoteAccountRestorer", service: "is", action: "is.tag.attach", target: te.SnapCRN},
		{role: "Reader", service: "kms", action: "kms.secrets.create", target: te.RootKeyCRN},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			e := te.Start(t, world(nil, nil, emulator.IAMSettings{RolesMissing: []string{tt.role}}), nil)
			srv := e.HTTP(handlers.HTTPOptions{})
			before := len(e.Policies())
			resp, err := http.Get(srv.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := "role " + tt.role + " on " + tt.service
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), want) {
				t.Errorf("/readyz %d %s, want 503 naming %q", resp.StatusCode, body, want)
			}
			status, r := send(t, srv.URL, tt.action, tt.target)
			if status < 500 || r.Outcome != converge.Failed || !strings.Contains(r.Error, tt.role) {
				t.Errorf("event answered %d %s (%s), want a 5xx failure naming %s", status, r.Outcome, r.Error, tt.role)
			}
			if n := e.Emulator.Stats().Calls["POST /v2/policies"] + e.Emulator.Stats().Calls["POST /v1/policies"]; n != 0 || len(e.Policies()) != before {
				t.Errorf("%d creates, %d policies (before %d): want nothing created", n, len(e.Policies()), before)
			}
		})
	}
}

// restoreIn is the restore grant of Snap to Restorer in a subject form.
func restoreIn(form authz.RestoreSubject) authz.Grant {
	g := fixture.Restore(te.Restorer).Grant
	if form == authz.RestoreSubjectISVolume {
		g.Subjects = []authz.Attribute{{Name: "serviceName", Value: "is"}, {Name: "resourceType", Value: "volume"}, {Name: "accountId", Value: te.Restorer}}
	}
	return g
}

// TestHandMadePoliciesCover: a policy someone made (through IAM v2, as Terraform does, or v1)
// that gives what a desired grant gives, in either restore subject form, covers it: no second
// policy is created, and it is not deleted when the tag goes, by an event or a full reconcile.
func TestHandMadePoliciesCover(t *testing.T) {
	encryption := fixture.Encryption(te.Account)
	tests := []struct {
		name    string
		subject authz.RestoreSubject // the function's RESTORE_SUBJECT
		grant   authz.Grant          // the hand-made policy's
		v1      bool                 // made through IAM v1 rather than v2
		action  string
		target  string
		snap    string // the snapshot whose tag then goes; "" for none
	}{
		{name: "v2 restore grant", grant: restoreIn(authz.RestoreSubjectServerProtect), action: "is.tag.attach", target: te.SnapCRN, snap: te.Snap},
		{name: "v2 KMS encryption grant", grant: encryption.Grant, action: "kms.secrets.create", target: te.RootKeyCRN},
		{name: "v2 console-form restore grant, setting server-protect", grant: restoreIn(authz.RestoreSubjectISVolume), action: "is.tag.attach", target: te.SnapCRN, snap: te.Snap},
		{name: "v2 API-form restore grant, setting is-volume", subject: authz.RestoreSubjectISVolume, grant: restoreIn(authz.RestoreSubjectServerProtect), action: "is.tag.attach", target: te.SnapCRN, snap: te.Snap},
		{name: "v1 console-form restore grant, setting server-protect", v1: true, grant: restoreIn(authz.RestoreSubjectISVolume), action: "is.tag.attach", target: te.SnapCRN, snap: te.Snap},
		{name: "v1 API-form restore grant, setting is-volume", v1: true, subject: authz.RestoreSubjectISVolume, grant: restoreIn(authz.RestoreSubjectServerProtect), action: "is.tag.attach", target: te.SnapCRN, snap: te.Snap},
	}
	for _, tt := range tests {
		for _, via := range []string{"event", "reconcile"} {
			t.Run(tt.name+" "+via, func(t *testing.T) {
				var v1, v2 []json.RawMessage
				if tt.v1 {
					v1 = append(v1, v1Policy(tt.grant, "made by hand", "IBMid-310000AAAA"))
				} else {
					v2 = append(v2, v2Policy(tt.grant, "made by Terraform", "IBMid-310000AAAA"))
				}
				e := te.Start(t, world(v1, v2, emulator.IAMSettings{}), func(c *config.Config) {
					if tt.subject != "" {
						c.RestoreSubject = tt.subject
					}
				})
				srv := e.HTTP(handlers.HTTPOptions{})
				before := len(e.Policies())
				check := func(when string) {
					t.Helper()
					if n := withKey(e, tt.grant); n != 1 {
						t.Errorf("%s: %d policies with the hand-made grant, want 1", when, n)
					}
				}
				if via == "event" {
					// A warm process (its index has listed): the plan sees the hand-made grant and
					// sends nothing. A cold one's path is TestColdProcessHandMadeOtherForm.
					if _, err := e.Runtime.Index.Refresh(context.Background()); err != nil {
						t.Fatal(err)
					}
					e.Emulator.ResetStats()
					status, r := send(t, srv.URL, tt.action, tt.target)
					if status != 200 || r.Outcome != converge.Unchanged || len(changeWith(r, apply.Covered)) != 1 {
						t.Fatalf("answer %d %+v, want 200 unchanged with one covered change", status, r)
					}
					if n := e.Emulator.Stats().Calls["POST /v2/policies"]; n != 0 || len(e.Policies()) != before {
						t.Errorf("%d creates, %d policies (before %d): want no duplicate", n, len(e.Policies()), before)
					}
				} else {
					rep := fullReconcile(t, e)
					covered := reportWith(rep, apply.Covered)
					if len(covered) != 1 || covered[0].Change.Policy.Key() != tt.grant.Key() {
						t.Errorf("reconcile covered %v, want the hand-made policy", covered)
					}
				}
				check("after the create")
				if tt.snap == "" {
					return
				}
				untag(t, e, tt.snap)
				if via == "event" {
					if status, r := send(t, srv.URL, "is.tag.detach", tt.target); status != 200 || r.Outcome != converge.Unchanged {
						t.Errorf("detach answered %d %+v, want 200 unchanged", status, r)
					}
				} else {
					fullReconcile(t, e)
				}
				check("after the tag went")
				if n := e.Emulator.Stats().Calls["DELETE /v2/policies/{id}"] + e.Emulator.Stats().Calls["DELETE /v1/policies/{id}"]; n != 0 {
					t.Errorf("%d deletes, want none", n)
				}
			})
		}
	}
}

// TestRestoreSubjectIsVolume: with RESTORE_SUBJECT=is-volume the restore grant's subject is the
// console's form.
func TestRestoreSubjectIsVolume(t *testing.T) {
	e := te.Start(t, te.World(), func(c *config.Config) { c.RestoreSubject = authz.RestoreSubjectISVolume })
	srv := e.HTTP(handlers.HTTPOptions{})
	if status, r := send(t, srv.URL, "is.tag.attach", te.SnapCRN); status != 200 || r.Outcome != converge.Applied {
		t.Fatalf("answer %d %+v, want 200 applied", status, r)
	}
	got := onSnapshot(e, te.Snap)
	if len(got) != 1 {
		t.Fatalf("%d policies on the snapshot, want 1", len(got))
	}
	p := rawV2(t, e, got[0].ID)
	want := map[string]string{"serviceName": "is", "resourceType": "volume", "accountId": te.Restorer}
	if s := attrMap(p.Subject.Attributes); !mapsEqual(s, want) {
		t.Errorf("subject %v, want %v", s, want)
	}
	if got[0].Key() != restoreIn(authz.RestoreSubjectISVolume).Key() {
		t.Errorf("grant %s, want %s", got[0].Grant, restoreIn(authz.RestoreSubjectISVolume))
	}
	// And it is ours: the tag's removal deletes it.
	untag(t, e, te.Snap)
	if status, r := send(t, srv.URL, "is.tag.detach", te.SnapCRN); status != 200 || r.Outcome != converge.Applied || len(onSnapshot(e, te.Snap)) != 0 {
		t.Errorf("detach answered %d %+v, %d policies left; want the grant deleted", status, r, len(onSnapshot(e, te.Snap)))
	}
}

// legacyRestore is the restore grant releases before the IAM fidelity fix created through v1:
// resourceType=snapshot on the resource, and the marker.
func legacyRestore() json.RawMessage {
	a := fixture.Restore(te.Restorer)
	g := a.Grant
	g.Resources = append(slices.Clone(g.Resources), authz.Attribute{Name: "resourceType", Value: "snapshot", Operator: "stringEquals"})
	return te.PolicyJSON(g, "", a.Description())
}

// TestPolicyFromBeforeTheUpgrade: a managed v1 policy in the legacy restore form is this
// project's: the next event or reconcile replaces it with the new form, and when the tag is gone
// it is deleted.
func TestPolicyFromBeforeTheUpgrade(t *testing.T) {
	want := fixture.Restore(te.Restorer).Grant
	for _, via := range []string{"event", "reconcile"} {
		t.Run("replaced by "+via, func(t *testing.T) {
			e := te.Start(t, world([]json.RawMessage{legacyRestore()}, nil, emulator.IAMSettings{}), nil)
			legacy := onSnapshot(e, te.Snap)
			if len(legacy) != 1 || legacy[0].Resource("resourceType") != "snapshot" {
				t.Fatalf("the world holds %v, want the legacy policy", legacy)
			}
			// The legacy form has other attributes than the new one, so IAM holds both for a
			// moment: the plan creates the new one and deletes the old one.
			var results []apply.Result
			if via == "event" {
				srv := e.HTTP(handlers.HTTPOptions{})
				status, r := send(t, srv.URL, "is.tag.attach", te.SnapCRN)
				if status != 200 || r.Outcome != converge.Applied {
					t.Fatalf("answer %d %+v, want 200 applied", status, r)
				}
				results = r.Changes
			} else {
				results = fullReconcile(t, e).Applied.Results
			}
			deleted := slices.ContainsFunc(results, func(c apply.Result) bool {
				return c.PolicyID == legacy[0].ID && (c.Outcome == apply.Deleted || c.Outcome == apply.Replaced)
			})
			if !deleted {
				t.Errorf("changes %v: want the legacy policy %s deleted or replaced", results, legacy[0].ID)
			}
			got := onSnapshot(e, te.Snap)
			if len(got) != 1 || got[0].Key() != want.Key() {
				t.Fatalf("policies on the snapshot %v, want one: %s", got, want)
			}
			if _, ours := got[0].Owner(); !ours {
				t.Errorf("the new policy is not ours: %q", got[0].Description)
			}
		})
		t.Run("deleted by "+via+" when the tag is gone", func(t *testing.T) {
			e := te.Start(t, untagged(world([]json.RawMessage{legacyRestore()}, nil, emulator.IAMSettings{}), te.Snap), nil)
			if via == "event" {
				srv := e.HTTP(handlers.HTTPOptions{})
				status, r := send(t, srv.URL, "is.tag.detach", te.SnapCRN)
				if status != 200 || r.Outcome != converge.Applied || len(changeWith(r, apply.Deleted)) != 1 {
					t.Fatalf("answer %d %+v, want 200 applied with one deleted", status, r)
				}
			} else if rep := fullReconcile(t, e); len(reportWith(rep, apply.Deleted)) != 1 {
				t.Fatalf("reconcile: %v, want one deleted", rep.Applied.Results)
			}
			if got := onSnapshot(e, te.Snap); len(got) != 0 {
				t.Errorf("policies on the snapshot %v, want none", got)
			}
		})
	}
}

// Forged markers: two policies that are not Block Storage grants carry the marker of an
// encryption grant of the HPCS instance. The Kubernetes one covers every HPCS instance of the
// account (IAM requires the accountId of an authorization's resource).
var (
	forgedMarker = authz.MarkerPrefix + "kind=encryption object=" + te.HPCSCRN
	forgedCOS    = authz.Grant{Type: authz.PolicyType,
		Subjects:  []authz.Attribute{{Name: "serviceName", Value: "cloud-object-storage"}, {Name: "accountId", Value: te.Account}},
		Resources: []authz.Attribute{{Name: "serviceName", Value: "hs-crypto", Operator: "stringEquals"}, {Name: "accountId", Value: te.Account, Operator: "stringEquals"}, {Name: "serviceInstance", Value: te.HPCSGUID, Operator: "stringEquals"}},
		Roles:     []string{authz.RoleReader}}
	forgedKubernetes = authz.Grant{Type: authz.PolicyType,
		Subjects:  []authz.Attribute{{Name: "serviceName", Value: "containers-kubernetes"}, {Name: "accountId", Value: te.Account}},
		Resources: []authz.Attribute{{Name: "serviceName", Value: "hs-crypto", Operator: "stringEquals"}, {Name: "accountId", Value: te.Account, Operator: "stringEquals"}},
		Roles:     []string{authz.RoleReader}}
)

// TestForgedMarkers: a policy whose description carries the marker but whose grant is not the
// marker's template survives events and full reconciles and is reported as an imitation, with its
// ID and who created it; a genuine managed policy is still deleted when its tag goes.
func TestForgedMarkers(t *testing.T) {
	const cosMaker, k8sMaker = "IBMid-310000COS1", "iam-ServiceId-11111111-2222-3333-4444-555555555555"
	genuine := fixture.Restore(te.Restorer)
	for _, version := range []string{"v1", "v2"} {
		for _, via := range []string{"event", "reconcile"} {
			t.Run(version+" "+via, func(t *testing.T) {
				mk := v1Policy
				if version == "v2" {
					mk = v2Policy
				}
				w := world(nil, nil, emulator.IAMSettings{})
				forged := []json.RawMessage{mk(forgedCOS, forgedMarker, cosMaker), mk(forgedKubernetes, forgedMarker, k8sMaker)}
				if version == "v1" {
					w.Policies = append(w.Policies, forged...)
				} else {
					w.PoliciesV2 = append(w.PoliciesV2, forged...)
				}
				w.Policies = append(w.Policies, te.PolicyJSON(genuine.Grant, "", genuine.Description()))
				e := te.Start(t, untagged(w, te.Snap), nil)
				makers := map[string]string{"cloud-object-storage": cosMaker, "containers-kubernetes": k8sMaker}
				ids := map[string]string{} // forged policy ID → its maker
				for _, p := range e.Policies() {
					if p.Description == forgedMarker {
						ids[p.ID] = makers[p.Subject("serviceName")]
					}
				}
				if len(ids) != 2 {
					t.Fatalf("the world holds %d forged policies, want 2", len(ids))
				}
				var imitations []apply.Result
				if via == "event" {
					srv := e.HTTP(handlers.HTTPOptions{})
					status, r := send(t, srv.URL, "hs-crypto.secrets.create", te.HPCSKeyCRN)
					if status != 200 || r.Outcome != converge.Applied || len(changeWith(r, apply.Created)) != 1 {
						t.Errorf("answer %d %+v, want 200 applied with the HPCS grant created", status, r)
					}
					imitations = changeWith(r, apply.Imitation)
					status, r = send(t, srv.URL, "is.tag.detach", te.SnapCRN)
					if status != 200 || len(changeWith(r, apply.Deleted)) != 1 {
						t.Errorf("detach answered %d %+v, want the genuine policy deleted", status, r)
					}
				} else {
					rep := fullReconcile(t, e)
					imitations = reportWith(rep, apply.Imitation)
					if len(reportWith(rep, apply.Deleted)) != 1 {
						t.Errorf("reconcile deleted %v, want the genuine policy", reportWith(rep, apply.Deleted))
					}
				}
				if len(imitations) != 2 {
					t.Fatalf("%d imitations reported, want 2: %v", len(imitations), imitations)
				}
				for _, im := range imitations {
					maker, ok := ids[im.PolicyID]
					if !ok {
						t.Errorf("imitation %s is not a forged policy", im.PolicyID)
					}
					if !strings.Contains(im.String(), "created by "+maker) {
						t.Errorf("imitation reported as %q, want it to name its maker %s", im, maker)
					}
					raw, _ := json.Marshal(im)
					var wire struct {
						Result    string `json:"result"`
						PolicyID  string `json:"policy_id"`
						CreatedBy string `json:"created_by"`
					}
					_ = json.Unmarshal(raw, &wire)
					if wire.Result != "imitation" || wire.PolicyID != im.PolicyID || wire.CreatedBy != maker {
						t.Errorf("imitation in JSON %s, want result imitation, its policy_id and created_by %s", raw, maker)
					}
				}
				left := 0
				for _, p := range e.Policies() {
					if _, ok := ids[p.ID]; ok {
						left++
					}
				}
				if left != 2 {
					t.Errorf("%d of the 2 forged policies are left", left)
				}
				if got := onSnapshot(e, te.Snap); len(got) != 0 {
					t.Errorf("the genuine managed policy is still there: %v", got)
				}
			})
		}
	}
}

// TestPolicyCap: at the headroom below IAM's cap a create is refused, answered 2xx, with the cap
// and the count named; other objects still converge; IAM's own limit error is refused too and
// not retried.
func TestPolicyCap(t *testing.T) {
	t.Run("at the headroom", func(t *testing.T) {
		managed := fixture.RestoreOf(te.SnapPlain, te.Restorer) // its snapshot is untagged: to delete
		keep := fixture.Encryption(te.Account)                  // wanted and there: unchanged
		w := world([]json.RawMessage{
			te.PolicyJSON(managed.Grant, "", managed.Description()),
			te.PolicyJSON(keep.Grant, "", keep.Description()),
		}, nil, emulator.IAMSettings{})
		n := len(w.Policies) // every policy of the world is an authorization policy
		e := te.Start(t, w, func(c *config.Config) { c.PolicyCapHeadroom = authz.AccountPolicyCap - n })
		// The headroom counts what the last listing saw: a process that has not listed yet
		// relies on IAM's own refusal (the case below).
		if _, err := e.Runtime.Index.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		srv := e.HTTP(handlers.HTTPOptions{})
		status, r := send(t, srv.URL, "is.tag.attach", te.SnapCRN)
		wantReason := []string{"4020", "holds 3 authorization policies", "POLICY_CAP_HEADROOM"}
		if status != 200 || r.Outcome != converge.Refused || len(changeWith(r, apply.Refused)) != 1 {
			t.Fatalf("answer %d %+v, want 200 refused", status, r)
		}
		for _, w := range wantReason {
			if !strings.Contains(r.Reason, w) || !strings.Contains(changeWith(r, apply.Refused)[0].Reason, w) {
				t.Errorf("reason %q, want it to say %q", r.Reason, w)
			}
		}
		if c := e.Emulator.Stats().Calls["POST /v2/policies"]; c != 0 || len(onSnapshot(e, te.Snap)) != 0 {
			t.Errorf("%d creates sent to IAM, want none", c)
		}
		if status, r := send(t, srv.URL, "kms.secrets.create", te.RootKeyCRN); status != 200 || r.Outcome != converge.Unchanged {
			t.Errorf("unchanged object: %d %+v, want 200 unchanged", status, r)
		}
		if status, r := send(t, srv.URL, "is.tag.detach", te.SnapPlainCRN); status != 200 || r.Outcome != converge.Applied || len(onSnapshot(e, te.SnapPlain)) != 0 {
			t.Errorf("delete: %d %+v, want 200 applied and the policy gone", status, r)
		}
		// With room made by the delete, the refused create goes through.
		if status, r := send(t, srv.URL, "is.tag.attach", te.SnapCRN); status != 200 || r.Outcome != converge.Applied {
			t.Errorf("after the delete: %d %+v, want 200 applied", status, r)
		}
	})
	t.Run("IAM's own limit", func(t *testing.T) {
		w := te.World()
		e := te.Start(t, w, func(c *config.Config) { c.PolicyCapHeadroom = 0 })
		e.Emulator.SetPolicyCap(len(w.Policies))
		srv := e.HTTP(handlers.HTTPOptions{})
		status, r := send(t, srv.URL, "is.tag.attach", te.SnapCRN)
		if status != 200 || r.Outcome != converge.Refused || !strings.Contains(r.Reason, "limit") {
			t.Fatalf("answer %d %+v, want 200 refused naming IAM's limit", status, r)
		}
		if c := e.Emulator.Stats().Calls["POST /v2/policies"]; c != 1 {
			t.Errorf("%d creates sent to IAM, want 1: a limit is not retried", c)
		}
		if rep := e.Runtime.Reconciler(0, -1).Run(context.Background()); len(reportWith(rep, apply.Refused)) == 0 || rep.Applied.Err() != nil {
			t.Errorf("reconcile at IAM's cap: %v (error %v), want refusals, no failure", rep.Applied.Results, rep.Applied.Err())
		}
	})
}

// TestColdProcessHandMadeOtherForm: a process scaled from zero has not listed the account; its
// create for a tagged snapshot is let through when a hand-made grant exists in the other subject
// form IBM documents (IAM sees no conflict), and the converger then looks, once, and removes its
// own copy in the same answer: no duplicate is left, the hand-made one is untouched.
func TestColdProcessHandMadeOtherForm(t *testing.T) {
	other := restoreIn(authz.RestoreSubjectISVolume)
	e := te.Start(t, world(nil, []json.RawMessage{v2Policy(other, "made by hand", "IBMid-310000AAAA")}, emulator.IAMSettings{}), nil)
	srv := e.HTTP(handlers.HTTPOptions{})
	status, r := send(t, srv.URL, "is.tag.attach", te.SnapCRN)
	if status != 200 || len(changeWith(r, apply.Covered)) != 1 || len(changeWith(r, apply.Deleted)) != 1 {
		t.Fatalf("answer %d %+v, want our copy created, the hand-made one found covering, ours deleted", status, r)
	}
	if n := withKey(e, other); n != 1 || len(onSnapshot(e, te.Snap)) != 1 {
		t.Errorf("%d hand-made, %d policies on the snapshot; want the hand-made one alone", n, len(onSnapshot(e, te.Snap)))
	}
}
