package authz

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	own      = "4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"
	restorer = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
	other    = "0123456789abcdef0123456789abcdef"
	snapID   = "r006-1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b"
	snapCRN  = "crn:v1:bluemix:public:is:us-south:a/" + own + "::snapshot:" + snapID
	guid     = "3b05b403-8f51-4dac-9114-c777d0a760d4"
	instCRN  = "crn:v1:bluemix:public:kms:us-south:a/" + own + ":" + guid + "::"
	keyID    = "7a8a2761-08e3-455f-a348-144ed604bba9"
	keyCRN   = "crn:v1:bluemix:public:kms:us-south:a/" + own + ":" + guid + ":key:" + keyID
)

func rules() Rules {
	return Rules{AccountID: own, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: []string{restorer, other}, KMSScope: ScopeInstance}
}

func restore(account string) Authorization {
	return Authorization{Kind: KindRestore, Object: snapCRN, Grant: Grant{
		Type:     "authorization",
		Subjects: []Attribute{{Name: "serviceName", Value: "server-protect"}, {Name: "accountId", Value: account}},
		Resources: []Attribute{
			{Name: "serviceName", Value: "is", Operator: "stringEquals"},
			{Name: "accountId", Value: own, Operator: "stringEquals"},
			{Name: "snapshotId", Value: snapID, Operator: "stringEquals"},
		},
		Roles: []string{"crn:v1:bluemix:public:iam::::role:SnapshotRemoteAccountRestorer"},
	}}
}

func TestParseRestoreTag(t *testing.T) {
	tests := []struct {
		tag         string
		wantAccount string
		wantMatched bool
		wantErr     string
	}{
		{tag: "s2s-restore:" + restorer, wantAccount: restorer, wantMatched: true},
		{tag: "S2S-Restore:" + restorer, wantAccount: restorer, wantMatched: true},
		{tag: "env:prod"},
		{tag: "s2s-restore"},
		{tag: "s2s-restorex:" + restorer},
		{tag: "s2s-restore-" + restorer},
		{tag: ""},
		{tag: "s2s-restore:", wantMatched: true, wantErr: "names no account"},
		{tag: "s2s-restore:" + restorer + ":x", wantMatched: true, wantErr: "more than one ':'"},
		{tag: "s2s-restore::" + restorer, wantMatched: true, wantErr: "more than one ':'"},
		{tag: "s2s-restore:" + strings.ToUpper(restorer), wantMatched: true, wantErr: "32 lowercase hexadecimal"},
		{tag: "s2s-restore:" + restorer[:31], wantMatched: true, wantErr: "not an account ID"},
		{tag: "s2s-restore: " + restorer, wantMatched: true, wantErr: "not an account ID"},
		{tag: "s2s-restore:" + restorer + " ", wantMatched: true, wantErr: "not an account ID"},
		{tag: "s2s-restore:$(id)", wantMatched: true, wantErr: "not an account ID"},
		{tag: "s2s-restore:\"},{\"x", wantMatched: true, wantErr: "not an account ID"},
		{tag: "s2s-restore:ääääääääääääääääääääääääääääääää", wantMatched: true, wantErr: "not an account ID"},
		{tag: "s2s-restore:" + strings.Repeat("a", 120), wantMatched: true, wantErr: "more than 128"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			account, matched, err := ParseRestoreTag("s2s-restore", tt.tag)
			if account != tt.wantAccount || matched != tt.wantMatched {
				t.Errorf("got (%q, %v), want (%q, %v)", account, matched, tt.wantAccount, tt.wantMatched)
			}
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestForSnapshot(t *testing.T) {
	tests := []struct {
		name         string
		snapshot     *Snapshot
		wantAccounts []string
		wantRefused  []string // reasons, in tag order
	}{
		{name: "gone", snapshot: nil},
		{name: "untagged", snapshot: &Snapshot{ID: snapID, CRN: snapCRN}},
		{name: "unrelated tags", snapshot: &Snapshot{ID: snapID, CRN: snapCRN, UserTags: []string{"env:prod", "team:db"}}},
		{name: "one allowed", snapshot: &Snapshot{ID: snapID, CRN: snapCRN, UserTags: []string{"s2s-restore:" + restorer}}, wantAccounts: []string{restorer}},
		{
			name:         "two allowed, one repeated in another case",
			snapshot:     &Snapshot{ID: snapID, CRN: snapCRN, UserTags: []string{"s2s-restore:" + restorer, "s2s-restore:" + other, "S2S-RESTORE:" + restorer}},
			wantAccounts: []string{other, restorer},
		},
		{
			name:        "not allowlisted",
			snapshot:    &Snapshot{ID: snapID, CRN: snapCRN, UserTags: []string{"s2s-restore:ffffffffffffffffffffffffffffffff"}},
			wantRefused: []string{"not in RESTORE_ALLOWED_ACCOUNTS"},
		},
		{
			name:        "own account",
			snapshot:    &Snapshot{ID: snapID, CRN: snapCRN, UserTags: []string{"s2s-restore:" + own}},
			wantRefused: []string{"own account"},
		},
		{
			name:         "malformed next to a good one",
			snapshot:     &Snapshot{ID: snapID, CRN: snapCRN, UserTags: []string{"s2s-restore:nope", "s2s-restore:" + restorer}},
			wantAccounts: []string{restorer},
			wantRefused:  []string{"not an account ID"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, refusals := rules().ForSnapshot(tt.snapshot)
			var want []Authorization
			for _, a := range tt.wantAccounts {
				want = append(want, restore(a))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("authorizations (-want +got):\n%s", diff)
			}
			if len(refusals) != len(tt.wantRefused) {
				t.Fatalf("refusals = %v, want %d", refusals, len(tt.wantRefused))
			}
			for i, r := range refusals {
				if !strings.Contains(r.Reason, tt.wantRefused[i]) || r.Object != snapCRN {
					t.Errorf("refusal %d = %+v, want reason containing %q", i, r, tt.wantRefused[i])
				}
			}
		})
	}
}

func TestEncryption(t *testing.T) {
	inst := &KMSInstance{CRN: instCRN, Service: "kms", GUID: guid}
	key := &RootKey{Instance: *inst, ID: keyID, CRN: keyCRN}
	type summary struct {
		Kind    Kind
		Object  string
		Subject string
		Key     string
		Roles   string
	}
	summarize := func(as []Authorization) []summary {
		var out []summary
		for _, a := range as {
			out = append(out, summary{a.Kind, a.Object, a.Subject("accountId"), a.Resource("resource"), RoleNames(a.Roles)})
		}
		return out
	}
	tests := []struct {
		name      string
		scope     Scope
		consumers []string
		forKey    bool
		want      []summary
	}{
		{name: "instance scope, own account", scope: ScopeInstance, want: []summary{{KindEncryption, instCRN, own, "", "Reader"}}},
		{
			name: "instance scope, consumers (own account listed too, and a repeat)", scope: ScopeInstance, consumers: []string{restorer, own, restorer},
			want: []summary{{KindEncryption, instCRN, own, "", "Reader"}, {KindEncryptionCrossAccount, instCRN, restorer, "", "Reader+AuthorizationDelegator"}},
		},
		{name: "instance scope asks nothing of keys", scope: ScopeInstance, forKey: true},
		{name: "key scope asks nothing of instances", scope: ScopeKey},
		{
			name: "key scope", scope: ScopeKey, consumers: []string{restorer}, forKey: true,
			want: []summary{{KindEncryption, keyCRN, own, keyID, "Reader"}, {KindEncryptionCrossAccount, keyCRN, restorer, keyID, "Reader+AuthorizationDelegator"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rules()
			r.KMSScope, r.KMSConsumerAccounts = tt.scope, tt.consumers
			var got []Authorization
			if tt.forKey {
				got = r.ForKey(key)
			} else {
				got = r.ForInstance(inst)
			}
			if diff := cmp.Diff(tt.want, summarize(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			for _, a := range got {
				if err := CheckTemplate(a); err != nil {
					t.Errorf("a desired authorization fails its own template: %v", err)
				}
			}
		})
	}
	if got := rules().ForInstance(nil); got != nil {
		t.Errorf("ForInstance(nil) = %v, want nothing", got)
	}
}

func TestGrantKeyIgnoresOrderAndDescription(t *testing.T) {
	a := restore(restorer).Grant
	b := a
	b.Subjects = []Attribute{a.Subjects[1], a.Subjects[0]}
	b.Resources = []Attribute{a.Resources[2], a.Resources[1], a.Resources[0]}
	if a.Key() != b.Key() {
		t.Errorf("reordered attributes changed the identity:\n%s\n%s", a.Key(), b.Key())
	}
	noOperator := a
	noOperator.Resources = nil
	for _, r := range a.Resources {
		r.Operator = ""
		noOperator.Resources = append(noOperator.Resources, r)
	}
	if a.Key() != noOperator.Key() {
		t.Errorf("a resource read back without operator is a different grant")
	}
	for name, change := range map[string]func(*Grant){
		"role added":    func(g *Grant) { g.Roles = append([]string{RoleReader}, g.Roles...) },
		"other subject": func(g *Grant) { g.Subjects = subject(other) },
		"other snapshot": func(g *Grant) {
			g.Resources = restoreGrant(RestoreSubjectServerProtect, own, restorer, "r006-x").Resources
		},
		"access, not auth": func(g *Grant) { g.Type = "access" },
	} {
		c := a
		change(&c)
		if c.Key() == a.Key() {
			t.Errorf("%s: still the same identity", name)
		}
	}
}

func TestOwnerMarker(t *testing.T) {
	a := restore(restorer)
	got, ok := ParseOwner(a.Description())
	if !ok || got != (Owner{Kind: KindRestore, Object: snapCRN}) {
		t.Fatalf("ParseOwner(Description()) = %+v, %v", got, ok)
	}
	if len(a.Description()) > 300 {
		t.Errorf("description is %d characters, IAM allows 300", len(a.Description()))
	}
	for _, d := range []string{
		"",
		"Block Storage may restore",
		"s2s-authorizer:managed",
		"s2s-authorizer:managed kind=restore",
		"s2s-authorizer:managed kind=bogus object=" + snapCRN,
		"s2s-authorizer:managed object=" + snapCRN + " kind=restore",
		"prefix s2s-authorizer:managed kind=restore object=" + snapCRN,
		"S2S-AUTHORIZER:MANAGED kind=restore object=" + snapCRN,
	} {
		if o, ok := ParseOwner(d); ok {
			t.Errorf("ParseOwner(%q) = %+v: an unmarked description was taken as ours", d, o)
		}
	}
}

func TestCheckTemplate(t *testing.T) {
	inst := &KMSInstance{CRN: instCRN, Service: "kms", GUID: guid}
	r := rules()
	r.KMSConsumerAccounts = []string{restorer}
	enc := r.ForInstance(inst)
	tests := []struct {
		name    string
		change  func(*Authorization)
		wantErr string
	}{
		{name: "restore as made", change: func(*Authorization) {}},
		{name: "extra role", change: func(a *Authorization) { a.Roles = append([]string{RoleReader}, a.Roles...) }, wantErr: "does not fit"},
		{name: "wildcard snapshot", change: func(a *Authorization) { a.Resources[2].Value = "*" }, wantErr: "only backup grants may"},
		{name: "other snapshot's object", change: func(a *Authorization) { a.Object = strings.Replace(snapCRN, snapID, "r006-other", 1) }, wantErr: "does not belong"},
		{name: "restore to own account", change: func(a *Authorization) { a.Subjects = subject(own) }, wantErr: "does not fit"},
		{name: "unknown kind", change: func(a *Authorization) { a.Kind = "admin" }, wantErr: "unknown kind"},
		{name: "dropped resource attribute", change: func(a *Authorization) { a.Resources = a.Resources[:2] }, wantErr: "does not fit"},
		{name: "object not a CRN", change: func(a *Authorization) { a.Object = "snapshot" }, wantErr: "object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := restore(restorer)
			tt.change(&a)
			err := CheckTemplate(a)
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("CheckTemplate error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	crossWithoutDelegator := enc[1]
	crossWithoutDelegator.Roles = []string{RoleReader}
	if err := CheckTemplate(crossWithoutDelegator); err == nil {
		t.Error("a cross-account encryption grant without AuthorizationDelegator passed")
	}
	sameAccountWithDelegator := enc[0]
	sameAccountWithDelegator.Roles = []string{RoleReader, RoleAuthorizationDelegator}
	if err := CheckTemplate(sameAccountWithDelegator); err == nil {
		t.Error("a same-account encryption grant widened with AuthorizationDelegator passed")
	}
	otherService := enc[0]
	otherService.Resources = append([]Attribute(nil), enc[0].Resources...)
	otherService.Resources[0].Value = "cloud-object-storage"
	if err := CheckTemplate(otherService); err == nil {
		t.Error("an encryption grant on another service passed")
	}
}

func TestStrings(t *testing.T) {
	got := restore(restorer).String()
	want := "restore server-protect@" + restorer + " → is snapshot " + snapID + " in " + own + " (SnapshotRemoteAccountRestorer)"
	if got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}
