package emulator_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

const (
	goodInstance = `{"guid":"3b05b403-8f51-4dac-9114-c777d0a760d4","service":"kms","region":"us-south","name":"k"}`
	goodSnapshot = `{"id":"r006-aaaa","region":"us-south","name":"snap"}`
	goodPolicy   = `{"type":"authorization",
		"subjects":[{"attributes":[{"name":"serviceName","value":"server-protect"},{"name":"accountId","value":"9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"}]}],
		"roles":[{"role_id":"crn:v1:bluemix:public:iam::::serviceRole:Reader"}],
		"resources":[{"attributes":[{"name":"serviceName","value":"kms"},{"name":"accountId","operator":"stringEquals","value":"4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"}]}]}`
)

func world(fields string) string {
	return `{"account_id":"4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"` + fields + `}`
}

func TestParseWorldRejectsMalformedWorlds(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"not json", `{"account_id":`, "$: invalid JSON"},
		{"empty", ``, "$: empty document"},
		{"trailing data", world(``) + `{}`, "$: invalid JSON: data after"},
		{"not an object", `[]`, "$: expected object, got array"},
		{"unknown top field", world(`,"snapshot":[]`), "$.snapshot: unknown field"},
		{"missing account", `{}`, "$.account_id: required"},
		{"account wrong type", `{"account_id":42}`, "$.account_id: expected string, got number"},
		{"account not hex", `{"account_id":"4B9F2C1D8E7A6B5C4D3E2F1A0B9C8D7E"}`, `$.account_id: "4B9F2C1D8E7A6B5C4D3E2F1A0B9C8D7E" is not an account id`},
		{"instances wrong type", world(`,"kms_instances":{}`), "$.kms_instances: expected array, got object"},
		{"instance bad guid", world(`,"kms_instances":[{"guid":"x","service":"kms","region":"us-south","name":"k"}]`), `$.kms_instances[0].guid: "x" is not a GUID`},
		{"instance bad service", world(`,"kms_instances":[{"guid":"3b05b403-8f51-4dac-9114-c777d0a760d4","service":"cos","region":"us-south","name":"k"}]`), `$.kms_instances[0].service: "cos" is not kms or hs-crypto`},
		{"instance bad region", world(`,"kms_instances":[{"guid":"3b05b403-8f51-4dac-9114-c777d0a760d4","service":"kms","region":"mars-1","name":"k"}]`), `$.kms_instances[0].region: "mars-1" is not a region`},
		{"instance missing name", world(`,"kms_instances":[{"guid":"3b05b403-8f51-4dac-9114-c777d0a760d4","service":"kms","region":"us-south"}]`), "$.kms_instances[0].name: required"},
		{"duplicate instance", world(`,"kms_instances":[` + goodInstance + `,` + goodInstance + `]`), `$.kms_instances[1].guid: duplicate id "3b05b403-8f51-4dac-9114-c777d0a760d4" (first at $.kms_instances[0].guid)`},
		{"key bad type", world(`,"kms_instances":[{"guid":"3b05b403-8f51-4dac-9114-c777d0a760d4","service":"kms","region":"us-south","name":"k","keys":[
			{"id":"7a8a2761-08e3-455f-a348-144ed604bba9","name":"a","type":"root_key"},{"id":"7a8a2761-08e3-455f-a348-144ed604bba0","name":"b","type":"x"}]}]`),
			`$.kms_instances[0].keys[1].type: "x" is not root_key or standard_key`},
		{"key deleted wrong type", world(`,"kms_instances":[{"guid":"3b05b403-8f51-4dac-9114-c777d0a760d4","service":"kms","region":"us-south","name":"k","keys":[
			{"id":"7a8a2761-08e3-455f-a348-144ed604bba9","name":"a","type":"root_key","deleted":"yes"}]}]`),
			"$.kms_instances[0].keys[0].deleted: expected boolean, got string"},
		{"key unknown field", world(`,"kms_instances":[{"guid":"3b05b403-8f51-4dac-9114-c777d0a760d4","service":"kms","region":"us-south","name":"k","keys":[
			{"id":"7a8a2761-08e3-455f-a348-144ed604bba9","name":"a","type":"root_key","state":1}]}]`),
			"$.kms_instances[0].keys[0].state: unknown field"},
		{"snapshot missing region", world(`,"snapshots":[` + goodSnapshot + `,{"id":"r006-b","name":"s"},{"id":"r006-c","region":"us-south","name":"t"}]`), "$.snapshots[1].region: required"},
		{"snapshot bad region", world(`,"snapshots":[{"id":"r006-b","region":"us-west","name":"s"}]`), `$.snapshots[0].region: "us-west" is not a VPC region`},
		{"snapshot bad name", world(`,"snapshots":[{"id":"r006-b","region":"us-south","name":"Nightly DB"}]`), `$.snapshots[0].name: "Nightly DB" is not a VPC name`},
		{"snapshot duplicate id", world(`,"snapshots":[` + goodSnapshot + `,` + goodSnapshot + `]`), `$.snapshots[1].id: duplicate id "r006-aaaa"`},
		{"snapshot bad tag", world(`,"snapshots":[{"id":"r006-b","region":"us-south","name":"s","user_tags":["ok:1","no/slash"]}]`), `$.snapshots[0].user_tags[1]: "no/slash": tag may only contain`},
		{"snapshot long tag", world(`,"snapshots":[{"id":"r006-b","region":"us-south","name":"s","user_tags":["` + strings.Repeat("a", 129) + `"]}]`), "$.snapshots[0].user_tags[0]: \"" + strings.Repeat("a", 129) + "\": tag is longer than 128 characters"},
		{"snapshot tag not string", world(`,"snapshots":[{"id":"r006-b","region":"us-south","name":"s","user_tags":[1]}]`), "$.snapshots[0].user_tags[0]: expected string, got number"},
		{"snapshot bad key crn", world(`,"snapshots":[{"id":"r006-b","region":"us-south","name":"s","encryption_key_crn":"crn:v1:bluemix:public:kms:us-south:a/x:y:key:z"}]`), "$.snapshots[0].encryption_key_crn: \"crn:v1:bluemix:public:kms:us-south:a/x:y:key:z\" is not a key CRN"},
		{"bad restorer crn form", world(`,"restorer_role_crn_form":"iam"`), `$.restorer_role_crn_form: "iam" is not iam-role or is-service-role`},
		{"unknown missing role", world(`,"roles_missing":["Reader","Writer"]`), `$.roles_missing[1]: "Writer" is not a role of the catalogue`},
		{"policy not object", world(`,"policies":[1]`), "$.policies[0]: expected object, got number"},
		{"policy bad type", world(`,"policies":[` + strings.Replace(goodPolicy, `"authorization"`, `"service"`, 1) + `]`), `$.policies[0].type: "service" is not access or authorization`},
		{"policy no roles", world(`,"policies":[` + strings.Replace(goodPolicy, `[{"role_id":"crn:v1:bluemix:public:iam::::serviceRole:Reader"}]`, `[]`, 1) + `]`), "$.policies[0].roles: required (must not be empty)"},
		{"policy role not crn", world(`,"policies":[` + strings.Replace(goodPolicy, `crn:v1:bluemix:public:iam::::serviceRole:Reader`, `Reader`, 1) + `]`), `$.policies[0].roles[0].role_id: "Reader" is not a role CRN`},
		{"policy subject operator", world(`,"policies":[` + strings.Replace(goodPolicy, `{"name":"serviceName","value":"server-protect"}`, `{"name":"serviceName","value":"server-protect","operator":"stringEquals"}`, 1) + `]`), "$.policies[0].subjects[0].attributes[0].operator: unknown field"},
		{"policy display-name subject", world(`,"policies":[` + strings.Replace(goodPolicy, `"serviceName","value":"server-protect"},{"name":"accountId"`, `"serviceName","value":"server-protect"},{"name":"account"`, 1) + `]`), `$.policies[0].subjects[0].attributes[1].name: "account" is not a subject attribute of authorization policies`},
		{"policy other account", world(`,"policies":[` + strings.Replace(goodPolicy, `"operator":"stringEquals","value":"4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"`, `"operator":"stringEquals","value":"9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"`, 1) + `]`), `$.policies[0].resources[0].attributes: accountId "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d" is not the world's account`},
		{"policy bad operator", world(`,"policies":[` + strings.Replace(goodPolicy, `"operator":"stringEquals"`, `"operator":"equals"`, 1) + `]`), `$.policies[0].resources[0].attributes[1].operator: "equals" is not stringEquals or stringMatch`},
		{"policy bad state", world(`,"policies":[` + strings.Replace(goodPolicy, `{"type"`, `{"state":"gone","type"`, 1) + `]`), `$.policies[0].state: "gone" is not active or deleted`},
		{"policy duplicate id", world(`,"policies":[` + strings.Replace(goodPolicy, `{"type"`, `{"id":"p1","type"`, 1) + `,` + strings.Replace(goodPolicy, `{"type":"authorization"`, `{"id":"p1","type":"authorization","state":"deleted"`, 1) + `]`), `$.policies[1].id: duplicate id "p1"`},
		{"policy conflicting twins", world(`,"policies":[` + goodPolicy + `,` + strings.Replace(goodPolicy, `{"type"`, `{"description":"other","type"`, 1) + `]`), "$.policies[1]: conflicts with $.policies[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := emulator.ParseWorld([]byte(tc.doc))
			if err == nil {
				t.Fatalf("ParseWorld accepted %s", tc.doc)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestParseWorldAcceptsWhatTheAPIReturns(t *testing.T) {
	doc := world(`,"restorer_role_crn_form":"is-service-role","roles_missing":["Reader"],"kms_instances":[` + goodInstance + `],"snapshots":[` + goodSnapshot + `],"policies":[` +
		strings.Replace(goodPolicy, `{"type"`, `{"id":"p1","href":"https://iam.cloud.ibm.com/v1/policies/p1","created_at":"2024-10-17T16:36:56.501Z","state":"active","template":{"id":"t"},"type"`, 1) + `]`)
	w, err := emulator.ParseWorld([]byte(doc))
	if err != nil {
		t.Fatalf("ParseWorld: %v", err)
	}
	if w.AccountID != sampleAccount || len(w.KMSInstances) != 1 || len(w.Snapshots) != 1 || len(w.Policies) != 1 ||
		w.RestorerRoleCRNForm != "is-service-role" || len(w.RolesMissing) != 1 {
		t.Errorf("world = %+v", w)
	}
}

func TestSampleWorld(t *testing.T) {
	w := emulator.SampleWorld()
	if w.AccountID != sampleAccount {
		t.Errorf("account = %s", w.AccountID)
	}
	var kp *emulator.KMSInstance
	for i := range w.KMSInstances {
		if w.KMSInstances[i].GUID == kpGUID {
			kp = &w.KMSInstances[i]
		}
	}
	if kp == nil || kp.Name != "volume-keys" || kp.Region != "us-south" || kp.Service != "kms" {
		t.Fatalf("Key Protect instance = %+v", kp)
	}
	if kp.Keys[0] != (emulator.Key{ID: rootKeyID, Name: "volume-root-key", Type: "root_key"}) {
		t.Errorf("root key = %+v", kp.Keys[0])
	}
	snap := w.Snapshots[0]
	wantCRN := emulator.KeyCRN("kms", sampleAccount, "us-south", kpGUID, rootKeyID)
	if snap.ID != taggedSnapshotID || snap.Name != "nightly-db-0" || snap.EncryptionKeyCRN != wantCRN ||
		!cmp.Equal(snap.UserTags, []string{"s2s-restore:" + otherAccount, "env:prod"}) {
		t.Errorf("tagged snapshot = %+v", snap)
	}
	// Every call returns its own copy.
	w.Snapshots[0].Name = "changed"
	if emulator.SampleWorld().Snapshots[0].Name != "nightly-db-0" {
		t.Error("SampleWorld shares state between calls")
	}
}

func TestLoadWorldFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(world(`,"snapshots":[`+goodSnapshot+`]`)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(world(`,"snapshots":[{"id":"r006-b","name":"s"}]`)), 0o600); err != nil {
		t.Fatal(err)
	}
	if w, err := emulator.LoadWorldFile(good); err != nil || w.Snapshots[0].ID != "r006-aaaa" {
		t.Errorf("LoadWorldFile(good) = %+v, %v", w, err)
	}
	tests := []struct{ file, want string }{
		{bad, bad + ": $.snapshots[0].region: required"},
		{filepath.Join(dir, "missing.json"), filepath.Join(dir, "missing.json") + ": open "},
	}
	for _, tc := range tests {
		_, err := emulator.LoadWorldFile(tc.file)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("LoadWorldFile(%s) error = %v, want prefix %q", tc.file, err, tc.want)
		}
	}
}

func TestCRNs(t *testing.T) {
	tests := []struct{ got, want string }{
		{emulator.SnapshotCRN(sampleAccount, "us-south", taggedSnapshotID),
			"crn:v1:bluemix:public:is:us-south:a/4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e::snapshot:r006-1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b"},
		{emulator.InstanceCRN("kms", sampleAccount, "us-south", kpGUID),
			"crn:v1:bluemix:public:kms:us-south:a/4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e:3b05b403-8f51-4dac-9114-c777d0a760d4::"},
		{emulator.KeyCRN("hs-crypto", sampleAccount, "us-south", hpcsGUID, hpcsRootKeyID),
			"crn:v1:bluemix:public:hs-crypto:us-south:a/4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e:5d2a9e71-6c4b-4f0a-b8e3-1f9c7d6a2b40:key:e8b3f1a2-4d6c-4b9e-8a1f-3c5d7e9f0a2b"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

func TestWorldRoundTripsThroughJSON(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	data, err := json.Marshal(srv.World())
	if err != nil {
		t.Fatal(err)
	}
	w, err := emulator.ParseWorld(data)
	if err != nil {
		t.Fatalf("the server's World does not parse: %v\n%s", err, data)
	}
	if err := srv.Reset(w); err != nil {
		t.Fatalf("Reset(World()): %v", err)
	}
	if diff := cmp.Diff(srv.World(), w, cmp.Comparer(jsonEqual)); diff != "" {
		t.Errorf("world changed by a round trip (-got +want):\n%s", diff)
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && cmp.Equal(x, y)
}

// TestREADMEMinimalWorld keeps the README's minimal world file valid.
func TestREADMEMinimalWorld(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "A minimal world")
	if !ok {
		t.Fatal("README has no minimal world")
	}
	_, rest, _ = strings.Cut(rest, "```json\n")
	doc, _, _ := strings.Cut(rest, "```")
	w, err := emulator.ParseWorld([]byte(doc))
	if err != nil || len(w.PoliciesV2) != 1 {
		t.Fatalf("README's minimal world: %v", err)
	}
	srv := start(t, w)
	c := newClients(t, srv)
	list, _, err := c.policies.ListPolicies(c.policies.NewListPoliciesOptions(w.AccountID))
	if err != nil || len(list.Policies) != 1 || *list.Policies[0].Roles[0].RoleID != "crn:v1:bluemix:public:iam::::role:UnsupportedVersion" {
		t.Errorf("v1 list of the minimal world = %v, %v", list, err)
	}
}
