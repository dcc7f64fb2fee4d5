package delivery

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

func TestClassify(t *testing.T) {
	const (
		other      = "0123456789abcdef0123456789abcdef"
		hpcsKeyCRN = "crn:v1:bluemix:public:hs-crypto:us-south:a/" + acct + ":0a1b2c3d-0000-4000-8000-000000000001:key:k-1"
		instCRN    = "crn:v1:bluemix:public:kms:us-south:a/" + acct + ":3b05b403-8f51-4dac-9114-c777d0a760d4::"
		volumeCRN  = "crn:v1:bluemix:public:is:us-south:a/" + acct + "::volume:r006-v"
		backupCRN  = "crn:v1:bluemix:public:is:us-south:a/" + acct + "::backup-policy:r006-0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b"
	)
	tests := []struct {
		name        string
		action      string
		outcome     string
		target      string
		keyType     string
		wantKind    authz.ObjectKind
		wantRemoved bool
		wantIgnore  string
		wantWarn    bool
		wantErr     string
	}{
		{name: "key created", action: "kms.secrets.create", target: keyCRN, keyType: "root_key", wantKind: authz.ObjectKMSKey},
		{name: "key restored, type unknown", action: "kms.secrets.restore", target: keyCRN, wantKind: authz.ObjectKMSKey},
		{name: "key deleted", action: "kms.secrets.delete", target: keyCRN, wantKind: authz.ObjectKMSKey, wantRemoved: true},
		{name: "key purged", action: "kms.secrets.purge", target: keyCRN, wantKind: authz.ObjectKMSKey, wantRemoved: true},
		{name: "hpcs key created", action: "hs-crypto.secrets.create", target: hpcsKeyCRN, wantKind: authz.ObjectKMSKey},
		{name: "hpcs key deleted", action: "hs-crypto.secrets.delete", target: hpcsKeyCRN, wantKind: authz.ObjectKMSKey, wantRemoved: true},
		{name: "standard key", action: "kms.secrets.create", target: keyCRN, keyType: "standard_key", wantIgnore: "standard key"},
		{name: "is tag attach", action: "is.tag.attach", target: snapCRN, wantKind: authz.ObjectSnapshot},
		{name: "tagging service detach", action: "global-search-tagging.tag.detach", target: snapCRN, wantKind: authz.ObjectSnapshot},
		{name: "snapshot created", action: "is.snapshot.snapshot.create", target: snapCRN, wantKind: authz.ObjectSnapshot},
		{name: "snapshot updated", action: "is.snapshot.snapshot.update", target: snapCRN, wantKind: authz.ObjectSnapshot},
		{name: "snapshot deleted", action: "is.snapshot.snapshot.delete", target: snapCRN, wantKind: authz.ObjectSnapshot},
		{name: "tag on a volume", action: "is.tag.attach", target: volumeCRN, wantIgnore: "not on a VPC snapshot"},
		{name: "rotation is not handled", action: "kms.secrets.rotate", target: keyCRN, wantIgnore: "not one this function handles"},
		{name: "unknown action", action: "iam.policy.create", target: keyCRN, wantIgnore: "not one this function handles"},
		{name: "failed action", action: "is.tag.attach", outcome: "failure", target: snapCRN, wantIgnore: `outcome is "failure"`},
		{name: "pending action", action: "kms.secrets.create", outcome: "pending", target: keyCRN, wantIgnore: "changed nothing"},
		{name: "another account", action: "is.tag.attach", target: strings.Replace(snapCRN, acct, other, 1), wantIgnore: "another account", wantWarn: true},
		{name: "no target", action: "is.tag.attach", wantErr: "target.id: missing"},
		{name: "garbage target", action: "is.tag.attach", target: "not-a-crn", wantErr: "target.id"},
		{name: "oversized target", action: "is.tag.attach", target: snapCRN + strings.Repeat("x", 600), wantErr: "more than 512"},
		{name: "key action on a snapshot", action: "kms.secrets.create", target: snapCRN, wantErr: "not the CRN of a Key Protect"},
		{name: "key action on an instance", action: "kms.secrets.create", target: instCRN, wantErr: "not the CRN of a Key Protect"},
		{name: "kms action on an hpcs key", action: "kms.secrets.create", target: hpcsKeyCRN, wantErr: "a kms action on a hs-crypto key"},
		{name: "snapshot action on a key", action: "is.snapshot.snapshot.delete", target: keyCRN, wantErr: "not the CRN of a VPC snapshot"},
		{name: "backup policy created", action: "is.backup-policy.backup-policy.create", target: backupCRN, wantKind: authz.ObjectBackup},
		{name: "backup policy deleted", action: "is.backup-policy.backup-policy.delete", target: backupCRN, wantKind: authz.ObjectBackup},
		{name: "backup policy of another account", action: "is.backup-policy.backup-policy.create", target: strings.Replace(backupCRN, acct, other, 1), wantIgnore: "another account", wantWarn: true},
		{name: "backup policy outside the regions", action: "is.backup-policy.backup-policy.create", target: strings.Replace(backupCRN, "us-south", "eu-de", 1), wantIgnore: "out_of_scope: backup policy in eu-de", wantWarn: true},
		{name: "backup policy failed to create", action: "is.backup-policy.backup-policy.create", outcome: "failure", target: backupCRN, wantIgnore: "changed nothing"},
		{name: "backup action on a snapshot", action: "is.backup-policy.backup-policy.delete", target: snapCRN, wantErr: "not the CRN of a VPC backup policy"},
		{name: "backup action without a target", action: "is.backup-policy.backup-policy.create", wantErr: "target.id: missing"},
		{name: "account not hex", action: "is.tag.attach", target: strings.Replace(snapCRN, acct, "ACCOUNT", 1), wantErr: "32 hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &ActivityEvent{Action: tt.action, Outcome: "success", Target: ActivityTarget{ID: tt.target}}
			if tt.outcome != "" {
				ev.Outcome = tt.outcome
			}
			if tt.keyType != "" {
				ev.RequestData = map[string]json.RawMessage{"keyType": json.RawMessage(`"` + tt.keyType + `"`)}
			}
			d, err := Classify(ev, authz.Rules{AccountID: acct, KMSScope: authz.ScopeInstance}, []string{"us-south"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Classify: %v", err)
			}
			if tt.wantIgnore != "" {
				if d.Object != nil || !strings.Contains(d.Ignore, tt.wantIgnore) || d.Warn != tt.wantWarn {
					t.Fatalf("decision = %+v, want ignored with %q (warn %v)", d, tt.wantIgnore, tt.wantWarn)
				}
				return
			}
			if d.Object == nil || d.Object.Target.Kind != tt.wantKind || d.Object.KeyRemoved != tt.wantRemoved || d.Object.Target.CRN.String() != tt.target {
				t.Fatalf("decision = %+v, want %s of %s (removed %v)", d, tt.wantKind, tt.target, tt.wantRemoved)
			}
			if d.Object.KeyType != tt.keyType {
				t.Errorf("key type = %q, want %q", d.Object.KeyType, tt.keyType)
			}
		})
	}
}

// TestKeyTypeNotAString: keyType's values are undocumented, so a value that is not a string
// leaves the key's type to be read, like a missing one, never an error.
func TestKeyTypeNotAString(t *testing.T) {
	for _, raw := range []string{`{"x":1}`, `7`, `null`, `["root_key"]`} {
		ev := &ActivityEvent{Action: "kms.secrets.create", Outcome: "success", Target: ActivityTarget{ID: keyCRN},
			RequestData: map[string]json.RawMessage{"keyType": json.RawMessage(raw)}}
		d, err := Classify(ev, authz.Rules{AccountID: acct, KMSScope: authz.ScopeInstance}, nil)
		if err != nil || d.Object == nil || d.Object.KeyType != "" {
			t.Errorf("keyType %s: decision %+v, error %v; want the key, its type to be read", raw, d, err)
		}
	}
}
