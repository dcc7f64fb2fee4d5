package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"
)

// BackupPolicy is a Backup for VPC policy (vpcv1.BackupPolicy). MatchResourceType is "volume"
// (the default), "instance" or "share"; MatchUserTags are the user tags of the resources it
// backs up.
type BackupPolicy struct {
	ID                string   `json:"id"`
	Region            string   `json:"region"`
	Name              string   `json:"name"`
	MatchResourceType string   `json:"match_resource_type,omitempty"`
	MatchUserTags     []string `json:"match_user_tags,omitempty"`
}

// BackupPolicyCRN is crn:v1:bluemix:public:is:<region>:a/<account>::backup-policy:<id>.
func BackupPolicyCRN(account, region, id string) string {
	return fmt.Sprintf("crn:v1:bluemix:public:is:%s:a/%s::backup-policy:%s", region, account, id)
}

// backupMatchTypes are vpcv1's BackupPolicyMatchResourceType* constants.
var backupMatchTypes = []string{"volume", "instance", "share"}

const defaultBackupMatchType = "volume"

// parseBackupPolicy reads one backup policy of a world file or of POST /_emulator/backup_policies.
func parseBackupPolicy(o *jsonObject) (BackupPolicy, error) {
	var b BackupPolicy
	var err error
	if b.ID, err = o.str("id", true); err != nil {
		return b, err
	}
	if !isVPCID(b.ID) {
		return b, errAt(o.fieldPath("id"), "%q is not a VPC id (lowercase letters, digits and -, at most 64)", b.ID)
	}
	if b.Region, err = o.str("region", true); err != nil {
		return b, err
	}
	if !isRegion(b.Region) {
		return b, errAt(o.fieldPath("region"), "%q is not a VPC region (%s)", b.Region, quoteList(regions))
	}
	if b.Name, err = o.str("name", true); err != nil {
		return b, err
	}
	if !isVPCName(b.Name) {
		return b, errAt(o.fieldPath("name"), "%q is not a VPC name (lowercase letters, digits and -, at most 63)", b.Name)
	}
	if b.MatchResourceType, err = o.str("match_resource_type", false); err != nil {
		return b, err
	}
	if b.MatchResourceType == "" {
		b.MatchResourceType = defaultBackupMatchType
	}
	if !slices.Contains(backupMatchTypes, b.MatchResourceType) {
		return b, errAt(o.fieldPath("match_resource_type"), "%q is not %s", b.MatchResourceType, quoteList(backupMatchTypes))
	}
	if b.MatchUserTags, err = userTagsField(o, "match_user_tags"); err != nil {
		return b, err
	}
	return b, o.finish()
}

func (p *worldParser) backupPolicies(o *jsonObject) ([]BackupPolicy, error) {
	items, err := o.array("backup_policies", false)
	if err != nil {
		return nil, err
	}
	var out []BackupPolicy
	for i, raw := range items {
		bo, err := readObject(fmt.Sprintf("$.backup_policies[%d]", i), raw)
		if err != nil {
			return nil, err
		}
		b, err := parseBackupPolicy(bo)
		if err != nil {
			return nil, err
		}
		if err := p.unique("backup policy", b.ID, bo.fieldPath("id")); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

type backupPolicyState struct {
	BackupPolicy
	createdAt time.Time
}

func (b BackupPolicy) clone() BackupPolicy {
	b.MatchUserTags = slices.Clone(b.MatchUserTags)
	return b
}

// AddBackupPolicy adds a backup policy to the account, validated as a world file's entry; its
// id must be new.
func (s *Server) AddBackupPolicy(b BackupPolicy) error {
	if b.MatchResourceType == "" {
		b.MatchResourceType = defaultBackupMatchType
	}
	raw := mustJSON(b)
	o, err := readObject("$", raw)
	if err != nil {
		return fmt.Errorf("emulator: backup policy: %w", err)
	}
	if b, err = parseBackupPolicy(o); err != nil {
		return fmt.Errorf("emulator: backup policy: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.backupPolicies[b.ID] != nil {
		return fmt.Errorf("emulator: backup policy: duplicate id %q", b.ID)
	}
	s.st.backupPolicies[b.ID] = &backupPolicyState{BackupPolicy: b, createdAt: time.Now().UTC().Truncate(time.Second)}
	return nil
}

// DeleteBackupPolicy removes a backup policy; false when the account has none with that id.
func (s *Server) DeleteBackupPolicy(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.backupPolicies[id] == nil {
		return false
	}
	delete(s.st.backupPolicies, id)
	return true
}

const (
	defaultBackupPolicyLimit = 50
	maxBackupPolicyLimit     = 100
)

// handleListBackupPolicies is GET /v1/backup_policies (vpcv1.ListBackupPolicies): paged like
// snapshots, with the name and resource_group.id filters. The emulator's simplification:
// backup policies carry no user tags of their own, so a tag filter matches none.
func handleListBackupPolicies(s *Server, q *request) reply {
	limit, after, bad := vpcPage(q, defaultBackupPolicyLimit, maxBackupPolicyLimit)
	if bad != nil {
		return *bad
	}
	name, tag, group := q.query("name"), q.query("tag"), q.query("resource_group.id")
	var matching []*backupPolicyState
	for _, b := range s.st.backupPolicies {
		if (q.region != "" && b.Region != q.region) || (name != "" && b.Name != name) || tag != "" ||
			(group != "" && group != resourceGroupID(s.st.account)) {
			continue
		}
		matching = append(matching, b)
	}
	sort.Slice(matching, func(i, j int) bool { return matching[i].ID < matching[j].ID })
	page := []map[string]any{}
	more := false
	var last string
	for _, b := range matching {
		if b.ID <= after {
			continue
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, backupPolicyWire(s.st.account, b, q.base))
		last = b.ID
	}
	listURL := q.base + q.prefix + "/v1/backup_policies"
	query := url.Values{"limit": {strconv.Itoa(limit)}}
	for k, v := range map[string]string{"name": name, "tag": tag, "resource_group.id": group} {
		if v != "" {
			query.Set(k, v)
		}
	}
	out := map[string]any{
		"backup_policies": page,
		"first":           map[string]string{"href": listURL + "?" + query.Encode()},
		"limit":           limit,
		"total_count":     len(matching),
	}
	if more {
		query.Set("start", encodeStart(last))
		out["next"] = map[string]string{"href": listURL + "?" + query.Encode()}
	}
	return jsonReply(http.StatusOK, out)
}

// handleGetBackupPolicy is GET /v1/backup_policies/{id}.
func handleGetBackupPolicy(s *Server, q *request) reply {
	b := s.st.backupPolicies[q.params["id"]]
	if b == nil || (q.region != "" && b.Region != q.region) {
		return errorReply(kindVPC, http.StatusNotFound, "backup_policy_not_found", "Backup policy not found: "+q.params["id"])
	}
	return jsonReply(http.StatusOK, backupPolicyWire(s.st.account, b, q.base)).withHeader("ETag", `W/"`+shortHash("backup-policy", b.ID)+`"`)
}

// backupPolicyWire renders every field vpcv1.BackupPolicy marks required; hrefs point at the
// policy's regional endpoint. Each policy has one plan, derived from its id.
func backupPolicyWire(account string, b *backupPolicyState, base string) map[string]any {
	regional := base + "/vpc/" + b.Region + "/v1"
	href := regional + "/backup_policies/" + b.ID
	planID := b.ID[:min(4, len(b.ID))] + "-" + derivedUUID("backup-plan", account, b.ID)
	out := map[string]any{
		"created_at":          b.createdAt.Format(time.RFC3339),
		"crn":                 BackupPolicyCRN(account, b.Region, b.ID),
		"health_reasons":      []any{},
		"health_state":        "ok",
		"href":                href,
		"id":                  b.ID,
		"lifecycle_state":     "stable",
		"match_resource_type": b.MatchResourceType,
		"match_user_tags":     append([]string{}, b.MatchUserTags...),
		"name":                b.Name,
		"plans": []map[string]string{{
			"href": href + "/plans/" + planID, "id": planID, "name": b.Name + "-plan", "resource_type": "backup_policy_plan",
		}},
		"resource_group": resourceGroupRef(account, base),
		"resource_type":  "backup_policy",
		"scope":          map[string]string{"id": account, "resource_type": "account"},
	}
	if b.MatchResourceType == "instance" {
		out["included_content"] = []string{"boot_volume", "data_volumes"}
	}
	return out
}
