package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
)

// KindUnmanaged is the kind of a Block Storage authorization that carries no s2s-authorizer
// marker: made by hand or by another tool.
const KindUnmanaged = "unmanaged"

// Authorization is one authorization policy whose subject is Block Storage for VPC
// (serviceName server-protect) or Backup for VPC (serviceName is, resourceType backup-policy),
// as --expect files, expect steps and the report give it.
type Authorization struct {
	// Kind is the marker's kind (encryption, encryption-cross-account, restore, backup) for a
	// policy s2s-authorizer created, and "unmanaged" for any other.
	Kind string `json:"kind"`
	// SubjectType is the subject's resourceType: "backup-policy" for Backup for VPC, empty for
	// Block Storage.
	SubjectType string `json:"subject_type,omitempty"`
	// SubjectAccount is the subject's accountId: whose Block Storage gets access.
	SubjectAccount string `json:"subject_account"`
	// Resource is the policy's resource attributes, name to value (operators are not compared;
	// "every resource" reads "true" in the v2 form, "*" in the v1 form).
	Resource map[string]string `json:"resource"`
	// Roles are role CRNs, compared as a set.
	Roles []string `json:"roles"`
	// PolicyID is reported for information and ignored when comparing, so that the report's
	// authorizations can be pasted into an expect file as they are.
	PolicyID string `json:"policy_id,omitempty"`
}

// fromPolicy describes a policy; ok is false when its subject is not Block Storage.
func fromPolicy(p authz.Policy) (Authorization, bool) {
	backup := authz.IsBackupSubject(p.Grant)
	if (p.Subject("serviceName") != authz.SourceService && !backup) || !p.Active() {
		return Authorization{}, false
	}
	a := Authorization{Kind: KindUnmanaged, SubjectAccount: p.Subject("accountId"), Resource: map[string]string{},
		Roles: slices.Clone(p.Roles), PolicyID: p.ID}
	if backup {
		a.SubjectType = authz.BackupSubjectType
	}
	if o, ok := p.Owner(); ok {
		a.Kind = string(o.Kind)
	}
	for _, r := range p.Resources {
		a.Resource[r.Name] = r.Value
	}
	return a, true
}

// authorizationsOf keeps the Block Storage authorizations of policies, in a stable order.
func authorizationsOf(policies []authz.Policy) []Authorization {
	out := []Authorization{}
	for _, p := range policies {
		if a, ok := fromPolicy(p); ok {
			out = append(out, a)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

// resourceOrder is how resource attributes read best: service, owner, then what narrows it.
var resourceOrder = []string{"serviceName", "accountId", "serviceInstance", "resourceType", "resource", "snapshotId"}

func (a Authorization) resourceNames() []string {
	names := make([]string, 0, len(a.Resource))
	for name := range a.Resource {
		names = append(names, name)
	}
	rank := func(n string) int {
		if i := slices.Index(resourceOrder, n); i >= 0 {
			return i
		}
		return len(resourceOrder)
	}
	sort.Slice(names, func(i, j int) bool {
		if rank(names[i]) != rank(names[j]) {
			return rank(names[i]) < rank(names[j])
		}
		return names[i] < names[j]
	})
	return names
}

// key is the identity compared: everything but the policy ID, roles as a set.
func (a Authorization) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s@%s →", a.Kind, a.subjectName(), a.SubjectAccount)
	for _, name := range a.resourceNames() {
		fmt.Fprintf(&b, " %s=%s", name, a.Resource[name])
	}
	roles := slices.Clone(a.Roles)
	slices.Sort(roles)
	fmt.Fprintf(&b, " roles=%s", strings.Join(slices.Compact(roles), ","))
	return b.String()
}

// subjectName is the subject as plan lines write it.
func (a Authorization) subjectName() string {
	if a.SubjectType == authz.BackupSubjectType {
		return authz.BackupSourceService + "/" + authz.BackupSubjectType
	}
	return authz.SourceService
}

// String is the exact form the diff shows, so that two lines that differ look different.
func (a Authorization) String() string { return a.key() }

// Summary is the short form of the listings, as plan lines show grants.
func (a Authorization) Summary() string {
	g := authz.Grant{Type: authz.PolicyType, Subjects: []authz.Attribute{{Name: "serviceName", Value: authz.SourceService},
		{Name: "accountId", Value: a.SubjectAccount}}, Roles: a.Roles}
	if a.SubjectType == authz.BackupSubjectType {
		g.Subjects = []authz.Attribute{{Name: "serviceName", Value: authz.BackupSourceService},
			{Name: "resourceType", Value: authz.BackupSubjectType}, {Name: "accountId", Value: a.SubjectAccount}}
	}
	for _, name := range a.resourceNames() {
		attr := authz.Attribute{Name: name, Value: a.Resource[name]}
		if attr.Value == "true" && a.SubjectType == authz.BackupSubjectType {
			attr.Operator = authz.OperatorStringExists
		}
		g.Resources = append(g.Resources, attr)
	}
	return fmt.Sprintf("%-24s %s", a.Kind, g)
}

// Diff is what differs between the authorizations expected and those found.
type Diff struct {
	Missing    []string `json:"missing,omitempty"`
	Unexpected []string `json:"unexpected,omitempty"`
}

// Empty reports whether expectation and state agree.
func (d Diff) Empty() bool { return len(d.Missing) == 0 && len(d.Unexpected) == 0 }

// Compare compares as multisets: an authorization expected once and found twice is one
// unexpected line.
func Compare(want, got []Authorization) Diff {
	count := map[string]int{}
	for _, a := range got {
		count[a.key()]++
	}
	var d Diff
	for _, a := range want {
		if count[a.key()] > 0 {
			count[a.key()]--
			continue
		}
		d.Missing = append(d.Missing, a.key())
	}
	for _, a := range got {
		if count[a.key()] > 0 {
			count[a.key()]--
			d.Unexpected = append(d.Unexpected, a.key())
		}
	}
	sort.Strings(d.Missing)
	sort.Strings(d.Unexpected)
	return d
}

// LoadExpectations reads an --expect file; errors start with the path.
func LoadExpectations(path string) ([]Authorization, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	want, err := ParseExpectations(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return want, nil
}

// ParseExpectations reads a JSON list of authorizations strictly: unknown fields, unknown kinds,
// malformed account IDs, resources without serviceName and empty role lists are errors naming
// the entry.
func ParseExpectations(data []byte) ([]Authorization, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var want []Authorization
	if err := dec.Decode(&want); err != nil {
		return nil, fmt.Errorf("want a JSON list of authorizations: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the list")
	}
	if want == nil {
		return nil, fmt.Errorf("want a JSON list of authorizations, got null")
	}
	for i, a := range want {
		if err := a.validate(); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return want, nil
}

func (a Authorization) validate() error {
	switch authz.Kind(a.Kind) {
	case authz.KindEncryption, authz.KindEncryptionCrossAccount, authz.KindRestore, authz.KindBackup, KindUnmanaged:
	default:
		return fmt.Errorf("kind %q: want %s, %s, %s, %s or %s", a.Kind, authz.KindEncryption, authz.KindEncryptionCrossAccount, authz.KindRestore, authz.KindBackup, KindUnmanaged)
	}
	if a.SubjectType != "" && a.SubjectType != authz.BackupSubjectType {
		return fmt.Errorf("subject_type %q: want %s (Backup for VPC) or none (Block Storage)", a.SubjectType, authz.BackupSubjectType)
	}
	if !crn.IsAccountID(a.SubjectAccount) {
		return fmt.Errorf("subject_account %q: want an account ID (32 lowercase hexadecimal characters)", a.SubjectAccount)
	}
	if a.Resource["serviceName"] == "" {
		return fmt.Errorf("resource: want at least serviceName")
	}
	if len(a.Roles) == 0 {
		return fmt.Errorf("roles: want at least one role CRN")
	}
	for _, r := range a.Roles {
		if !strings.HasPrefix(r, "crn:") {
			return fmt.Errorf("roles: %q is not a role CRN such as %s", r, authz.RoleReader)
		}
	}
	return nil
}
