package tfexport

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

var update = flag.Bool("update", false, "rewrite the golden files (then review them by hand)")

const (
	owner    = "4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"
	restorer = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
	kpGUID   = "3b05b403-8f51-4dac-9114-c777d0a760d4"
	rootKey  = "7a8a2761-08e3-455f-a348-144ed604bba9"
	snapID   = "r006-1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b"
)

var (
	instanceCRN = "crn:v1:bluemix:public:kms:us-south:a/" + owner + ":" + kpGUID + "::"
	keyCRN      = "crn:v1:bluemix:public:kms:us-south:a/" + owner + ":" + kpGUID + ":key:" + rootKey
	snapCRN     = "crn:v1:bluemix:public:is:us-south:a/" + owner + "::snapshot:" + snapID
)

// managed turns what the rules want into the policy IAM would hold after this project made it.
func managed(id string, a authz.Authorization) Entry {
	return Entry{Policy: authz.Policy{ID: id, Description: a.Description(), State: "active", Grant: a.Grant}, Kind: string(a.Kind), Managed: true}
}

func rules(scope authz.Scope) authz.Rules {
	return authz.Rules{AccountID: owner, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: []string{restorer},
		KMSConsumerAccounts: []string{restorer}, KMSScope: scope}
}

// Each golden file is one kind of grant, reviewed by hand against the provider's documentation
// (arguments, nested blocks, import by policy ID) and terraform fmt's layout.
func TestGolden(t *testing.T) {
	inst := &authz.KMSInstance{CRN: instanceCRN, Service: "kms", GUID: kpGUID}
	enc := rules(authz.ScopeInstance).ForInstance(inst)
	keyed := rules(authz.ScopeKey).ForKey(&authz.RootKey{Instance: *inst, ID: rootKey, CRN: keyCRN})
	restore, _ := rules(authz.ScopeInstance).ForSnapshot(&authz.Snapshot{ID: snapID, CRN: snapCRN, UserTags: []string{"s2s-restore:" + restorer}})
	handMade := authz.Policy{ID: "0c9a7e52-3b1d-4f86-a2e4-5d6c7b8a9f01", State: "active",
		Description: `restore for the "dr" team: ${not a template}`, Grant: restore[0].Grant}
	tests := []struct {
		golden  string
		entries []Entry
	}{
		{"encryption.tf", []Entry{managed("1f0e2d3c-0000-4000-8000-000000000001", enc[0])}},
		{"encryption-cross-account.tf", []Entry{managed("1f0e2d3c-0000-4000-8000-000000000002", enc[1])}},
		{"encryption-key-scope.tf", []Entry{managed("1f0e2d3c-0000-4000-8000-000000000003", keyed[0])}},
		{"restore.tf", []Entry{managed("1f0e2d3c-0000-4000-8000-000000000004", restore[0])}},
		{"unmanaged-restore.tf", []Entry{{Policy: handMade, Kind: string(authz.KindRestore)}}},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			var b strings.Builder
			if err := Write(&b, tc.entries); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Errorf("%s differs; got:\n%s", path, b.String())
			}
		})
	}
}

func TestNamesAreStableAndUnique(t *testing.T) {
	grant := authz.Grant{Type: "authorization",
		Subjects:  []authz.Attribute{{Name: "serviceName", Value: "server-protect"}, {Name: "accountId", Value: restorer}},
		Resources: []authz.Attribute{{Name: "serviceName", Value: "is"}, {Name: "accountId", Value: owner}, {Name: "snapshotId", Value: snapID}}}
	other := grant
	other.Subjects = []authz.Attribute{{Name: "serviceName", Value: "is"}, {Name: "resourceType", Value: "volume"}, {Name: "accountId", Value: restorer}}
	entries := []Entry{
		{Policy: authz.Policy{ID: "b", Grant: other}, Kind: "restore"},
		{Policy: authz.Policy{ID: "a", Grant: grant}, Kind: "restore"},
	}
	base := "unmanaged_restore_r006_1b2c3d4e_5f60_4718_9a2b_3c4d5e6f7a8b_" + restorer
	tests := []struct {
		id, want string
	}{
		{"a", base},
		{"b", base + "_2"},
	}
	for _, order := range [][]Entry{entries, {entries[1], entries[0]}} {
		got := map[string]string{}
		for _, n := range Names(order) {
			got[n.Policy.ID] = n.Name()
		}
		for _, tc := range tests {
			if got[tc.id] != tc.want {
				t.Errorf("policy %s named %q, want %q", tc.id, got[tc.id], tc.want)
			}
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{`plain`, `"plain"`},
		{`a "b" \c`, `"a \"b\" \\c"`},
		{"${x} %{if} $y", `"$${x} %%{if} $y"`},
		{"line\nbreak", `"line\nbreak"`},
	}
	for _, tc := range tests {
		if got := quote(tc.in); got != tc.want {
			t.Errorf("quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
