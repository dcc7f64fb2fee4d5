package emulator

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
)

// ParseWorld reads a world file strictly: unknown fields, wrong types, missing required fields,
// malformed account ids, unknown services, regions or key types, duplicate ids and invalid
// policies are errors whose text starts with the JSON path, e.g.
// `$.snapshots[2].region: required`.
func ParseWorld(data []byte) (*World, error) {
	w, _, err := parseWorld(data)
	return w, err
}

// parseWorld also returns the validated policies, in file order, for the server to load.
func parseWorld(data []byte) (*World, []*policy, error) {
	if err := checkSyntax(data); err != nil {
		return nil, nil, err
	}
	o, err := readObject("$", data)
	if err != nil {
		return nil, nil, err
	}
	w := &World{}
	if w.AccountID, err = o.str("account_id", true); err != nil {
		return nil, nil, err
	}
	if !isAccountID(w.AccountID) {
		return nil, nil, errAt("$.account_id", "%q is not an account id (32 lowercase hex digits)", w.AccountID)
	}
	p := &worldParser{seenIDs: map[string]string{}}
	if w.KMSInstances, err = p.instances(o); err != nil {
		return nil, nil, err
	}
	if w.Snapshots, err = p.snapshots(o); err != nil {
		return nil, nil, err
	}
	if w.BackupPolicies, err = p.backupPolicies(o); err != nil {
		return nil, nil, err
	}
	identities := map[string]string{}
	policies, raws, err := p.policies(o, "policies", parsePolicy, w.AccountID, identities)
	if err != nil {
		return nil, nil, err
	}
	w.Policies = raws
	policiesV2, raws, err := p.policies(o, "policies_v2", parsePolicyV2, w.AccountID, identities)
	if err != nil {
		return nil, nil, err
	}
	w.PoliciesV2 = raws
	policies = append(policies, policiesV2...)
	if w.TrustedProfiles, err = p.profiles(o); err != nil {
		return nil, nil, err
	}
	if w.APIKeyIAMID, err = o.str("api_key_iam_id", false); err != nil {
		return nil, nil, err
	}
	if w.APIKeyIAMID != "" && !apiKeyOwnerPattern.MatchString(w.APIKeyIAMID) {
		return nil, nil, errAt("$.api_key_iam_id", "%q is not an IBMid-… or iam-ServiceId-<uuid> iam_id", w.APIKeyIAMID)
	}
	if w.IAMSettings, err = iamSettings(o); err != nil {
		return nil, nil, err
	}
	if err := o.finish(); err != nil {
		return nil, nil, err
	}
	return w, policies, nil
}

// worldParser remembers ids across the file: a key id, instance guid, snapshot id or policy id
// may appear only once.
type worldParser struct {
	seenIDs map[string]string // kind+id → path of first use
}

func (p *worldParser) unique(kind, id, path string) error {
	if first, dup := p.seenIDs[kind+"\x00"+id]; dup {
		return errAt(path, "duplicate id %q (first at %s)", id, first)
	}
	p.seenIDs[kind+"\x00"+id] = path
	return nil
}

func (p *worldParser) instances(o *jsonObject) ([]KMSInstance, error) {
	items, err := o.array("kms_instances", false)
	if err != nil {
		return nil, err
	}
	var out []KMSInstance
	for i, raw := range items {
		path := fmt.Sprintf("$.kms_instances[%d]", i)
		io, err := readObject(path, raw)
		if err != nil {
			return nil, err
		}
		var in KMSInstance
		if in.GUID, err = io.str("guid", true); err != nil {
			return nil, err
		}
		if !isGUID(in.GUID) {
			return nil, errAt(io.fieldPath("guid"), "%q is not a GUID (lowercase 8-4-4-4-12 hex)", in.GUID)
		}
		if err := p.unique("instance", in.GUID, io.fieldPath("guid")); err != nil {
			return nil, err
		}
		if in.Service, err = io.str("service", true); err != nil {
			return nil, err
		}
		if !isKMSService(in.Service) {
			return nil, errAt(io.fieldPath("service"), "%q is not %s", in.Service, quoteList(kmsServices))
		}
		if in.Region, err = io.str("region", true); err != nil {
			return nil, err
		}
		if !isRegion(in.Region) {
			return nil, errAt(io.fieldPath("region"), "%q is not a region (%s)", in.Region, quoteList(regions))
		}
		if in.Name, err = io.str("name", true); err != nil {
			return nil, err
		}
		if in.Keys, err = p.keys(io); err != nil {
			return nil, err
		}
		if err := io.finish(); err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

func (p *worldParser) keys(io *jsonObject) ([]Key, error) {
	items, err := io.array("keys", false)
	if err != nil {
		return nil, err
	}
	var out []Key
	for j, raw := range items {
		ko, err := readObject(fmt.Sprintf("%s[%d]", io.fieldPath("keys"), j), raw)
		if err != nil {
			return nil, err
		}
		var k Key
		if k.ID, err = ko.str("id", true); err != nil {
			return nil, err
		}
		if !isGUID(k.ID) {
			return nil, errAt(ko.fieldPath("id"), "%q is not a key id (lowercase 8-4-4-4-12 hex)", k.ID)
		}
		if err := p.unique("key", k.ID, ko.fieldPath("id")); err != nil {
			return nil, err
		}
		if k.Name, err = ko.str("name", true); err != nil {
			return nil, err
		}
		if k.Type, err = ko.str("type", true); err != nil {
			return nil, err
		}
		if k.Type != keyTypeRoot && k.Type != keyTypeStandard {
			return nil, errAt(ko.fieldPath("type"), "%q is not root_key or standard_key", k.Type)
		}
		if k.Deleted, _, err = ko.boolean("deleted"); err != nil {
			return nil, err
		}
		if err := ko.finish(); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func (p *worldParser) snapshots(o *jsonObject) ([]Snapshot, error) {
	items, err := o.array("snapshots", false)
	if err != nil {
		return nil, err
	}
	var out []Snapshot
	for i, raw := range items {
		so, err := readObject(fmt.Sprintf("$.snapshots[%d]", i), raw)
		if err != nil {
			return nil, err
		}
		var s Snapshot
		if s.ID, err = so.str("id", true); err != nil {
			return nil, err
		}
		if !isVPCID(s.ID) {
			return nil, errAt(so.fieldPath("id"), "%q is not a VPC id (lowercase letters, digits and -, at most 64)", s.ID)
		}
		if err := p.unique("snapshot", s.ID, so.fieldPath("id")); err != nil {
			return nil, err
		}
		if s.Region, err = so.str("region", true); err != nil {
			return nil, err
		}
		if !isRegion(s.Region) {
			return nil, errAt(so.fieldPath("region"), "%q is not a VPC region (%s)", s.Region, quoteList(regions))
		}
		if s.Name, err = so.str("name", true); err != nil {
			return nil, err
		}
		if !isVPCName(s.Name) {
			return nil, errAt(so.fieldPath("name"), "%q is not a VPC name (lowercase letters, digits and -, at most 63)", s.Name)
		}
		if s.UserTags, err = userTags(so); err != nil {
			return nil, err
		}
		if s.EncryptionKeyCRN, err = so.str("encryption_key_crn", false); err != nil {
			return nil, err
		}
		if s.EncryptionKeyCRN != "" && !validKeyCRN(s.EncryptionKeyCRN) {
			return nil, errAt(so.fieldPath("encryption_key_crn"), "%q is not a key CRN (crn:v1:bluemix:public:kms:<region>:a/<account>:<instance guid>:key:<key id>)", s.EncryptionKeyCRN)
		}
		if err := so.finish(); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// userTags reads and checks a user_tags array (syntax of the facts file, no duplicates).
func userTags(o *jsonObject) ([]string, error) { return userTagsField(o, "user_tags") }

// userTagsField reads and checks an array of user tags.
func userTagsField(o *jsonObject, field string) ([]string, error) {
	tags, _, err := o.strings(field)
	if err != nil {
		return nil, err
	}
	for i, t := range tags {
		p := fmt.Sprintf("%s[%d]", o.fieldPath(field), i)
		if msg := tagProblem(t); msg != "" {
			return nil, errAt(p, "%q: %s", t, msg)
		}
		if slices.Contains(tags[:i], t) {
			return nil, errAt(p, "duplicate tag %q", t)
		}
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, nil
}

// policies validates each policy as IAM would store it. Two active policies with the same
// identity cannot both exist in IAM (the second create gets 409), so a world holding them is
// refused too; a policy must live in the world's account.
func (p *worldParser) policies(o *jsonObject, field string, parse func(string, json.RawMessage, policySource) (*policy, error),
	account string, identities map[string]string) ([]*policy, []json.RawMessage, error) {
	items, err := o.array(field, false)
	if err != nil {
		return nil, nil, err
	}
	var out []*policy
	var raws []json.RawMessage
	for i, raw := range items {
		path := fmt.Sprintf("$.%s[%d]", field, i)
		pol, err := parse(path, raw, fromWorld)
		if err != nil {
			return nil, nil, err
		}
		if got := pol.resourceAccount(); got != account {
			resPath := path + ".resources[0].attributes"
			if pol.version == 2 {
				resPath = path + ".resource.attributes"
			}
			return nil, nil, errAt(resPath, "accountId %q is not the world's account %q: a policy lives in the account of its resource", got, account)
		}
		if pol.ID != "" {
			if err := p.unique("policy", pol.ID, path+".id"); err != nil {
				return nil, nil, err
			}
		}
		if pol.State == policyStateActive {
			if first, dup := identities[pol.identity()]; dup {
				return nil, nil, errAt(path, "conflicts with %s (same type, subject and resource: IAM would answer 409)", first)
			}
			identities[pol.identity()] = path
		}
		out = append(out, pol)
		raws = append(raws, append(json.RawMessage(nil), raw...))
	}
	return out, raws, nil
}

// iamSettings reads the top-level IAM settings fields.
func iamSettings(o *jsonObject) (IAMSettings, error) {
	var set IAMSettings
	var err error
	if set.RestorerRoleCRNForm, err = o.str("restorer_role_crn_form", false); err != nil {
		return set, err
	}
	if set.RestorerRoleCRNForm != "" && !slices.Contains(restorerCRNForms, set.RestorerRoleCRNForm) {
		return set, errAt(o.fieldPath("restorer_role_crn_form"), "%q is not %s", set.RestorerRoleCRNForm, quoteList(restorerCRNForms))
	}
	if set.RolesMissing, _, err = o.strings("roles_missing"); err != nil {
		return set, err
	}
	known := catalogueRoleNames()
	for i, name := range set.RolesMissing {
		if !slices.Contains(known, name) {
			return set, errAt(fmt.Sprintf("%s[%d]", o.fieldPath("roles_missing"), i), "%q is not a role of the catalogue (%s)", name, quoteList(known))
		}
	}
	if len(set.RolesMissing) == 0 {
		set.RolesMissing = nil
	}
	if raw, ok := o.take("policy_cap"); ok {
		var n int
		if jsonKind(raw) != "number" || json.Unmarshal(raw, &n) != nil || n < 1 {
			return set, errAt(o.fieldPath("policy_cap"), "expected a positive integer, got %s", raw)
		}
		set.PolicyCap = n
	}
	return set, nil
}

var (
	profileIDPattern   = regexp.MustCompile(`^Profile-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	apiKeyOwnerPattern = regexp.MustCompile(`^(IBMid-[0-9A-Za-z]+|iam-ServiceId-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
)

func (p *worldParser) profiles(o *jsonObject) ([]TrustedProfile, error) {
	items, err := o.array("trusted_profiles", false)
	if err != nil {
		return nil, err
	}
	var out []TrustedProfile
	for i, raw := range items {
		po, err := readObject(fmt.Sprintf("$.trusted_profiles[%d]", i), raw)
		if err != nil {
			return nil, err
		}
		var tp TrustedProfile
		if tp.ID, err = po.str("id", true); err != nil {
			return nil, err
		}
		if !profileIDPattern.MatchString(tp.ID) {
			return nil, errAt(po.fieldPath("id"), "%q is not a trusted profile id (Profile-<uuid>)", tp.ID)
		}
		if err := p.unique("profile", tp.ID, po.fieldPath("id")); err != nil {
			return nil, err
		}
		if tp.Name, err = po.str("name", true); err != nil {
			return nil, err
		}
		if err := p.unique("profile name", tp.Name, po.fieldPath("name")); err != nil {
			return nil, err
		}
		if tp.CRTokens, _, err = po.strings("cr_tokens"); err != nil {
			return nil, err
		}
		if len(tp.CRTokens) == 0 {
			tp.CRTokens = nil
		}
		if err := po.finish(); err != nil {
			return nil, err
		}
		out = append(out, tp)
	}
	return out, nil
}
