package emulator

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
)

// World is the state of a fake account; it is also the JSON "world file".
type World struct {
	AccountID    string        `json:"account_id"`
	KMSInstances []KMSInstance `json:"kms_instances,omitempty"`
	Snapshots    []Snapshot    `json:"snapshots,omitempty"`
	// BackupPolicies are Backup for VPC policies (GET /v1/backup_policies).
	BackupPolicies []BackupPolicy `json:"backup_policies,omitempty"`
	// Policies are IAM v1 policies as the API returns them; "id" may be omitted (assigned on
	// load).
	Policies []json.RawMessage `json:"policies,omitempty"`
	// PoliciesV2 are policies made through IAM's v2 API, in v2 shape (as GET /v2/policies
	// returns them); "id" may be omitted. A v1 list shows them only as placeholders.
	PoliciesV2 []json.RawMessage `json:"policies_v2,omitempty"`
	// TrustedProfiles, when given, are the only trusted profiles a compute-resource token can
	// act as (a cr-token grant naming another gets 400).
	TrustedProfiles []TrustedProfile `json:"trusted_profiles,omitempty"`
	// APIKeyIAMID, when set, owns every API key ("IBMid-…" for a user, "iam-ServiceId-<uuid>"
	// for a service ID); otherwise each key belongs to a service ID derived from it.
	APIKeyIAMID string `json:"api_key_iam_id,omitempty"`
	// IAMSettings are top-level fields: restorer_role_crn_form, roles_missing, ….
	IAMSettings
}

// TrustedProfile is an IAM trusted profile. ID is "Profile-<uuid>" (its iam_id is "iam-" + ID).
// CRTokens, when given, are the only compute-resource tokens accepted for it.
type TrustedProfile struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	CRTokens []string `json:"cr_tokens,omitempty"`
}

func (p TrustedProfile) crn(account string) string {
	return "crn:v1:bluemix:public:iam-identity::a/" + account + "::profile:" + p.ID
}

// KMSInstance is a Key Protect ("kms") or Hyper Protect Crypto Services ("hs-crypto") instance.
type KMSInstance struct {
	GUID    string `json:"guid"`
	Service string `json:"service"`
	Region  string `json:"region"`
	Name    string `json:"name"`
	Keys    []Key  `json:"keys,omitempty"`
}

// Key is a key of a KMSInstance. Type is "root_key" or "standard_key".
type Key struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Deleted bool   `json:"deleted,omitempty"`
}

// Snapshot is a Block Storage for VPC snapshot. EncryptionKeyCRN is empty for provider-managed
// encryption; the key may belong to another account.
type Snapshot struct {
	ID               string   `json:"id"`
	Region           string   `json:"region"`
	Name             string   `json:"name"`
	UserTags         []string `json:"user_tags,omitempty"`
	EncryptionKeyCRN string   `json:"encryption_key_crn,omitempty"`
}

const (
	keyTypeRoot     = "root_key"
	keyTypeStandard = "standard_key"
)

//go:embed worlds/sample.json
var sampleWorldJSON []byte

// SampleWorld is the project's sample world (internal/emulator/worlds/sample.json).
func SampleWorld() *World {
	w, err := ParseWorld(sampleWorldJSON)
	if err != nil {
		// The file is embedded and covered by a test; failing here is a build defect, not input.
		panic(fmt.Sprintf("emulator: embedded sample world is invalid: %v", err))
	}
	return w
}

// LoadWorldFile reads and parses a world file; errors start with the path.
func LoadWorldFile(path string) (*World, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w, err := ParseWorld(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}
