// Package authz is the pure domain model: the kinds of Block Storage authorization, the
// policy identity IAM compares, the ownership marker, and the desired authorizations of a
// snapshot, a KMS instance or a root key. Nothing here does I/O.
package authz

import (
	"fmt"
	"slices"
	"strings"
)

// Kind names one of the templates in templates.go.
type Kind string

const (
	KindEncryption             Kind = "encryption"
	KindEncryptionCrossAccount Kind = "encryption-cross-account"
	KindRestore                Kind = "restore"
	// KindBackup lets Backup for VPC work on every volume, instance and snapshot of the account:
	// the only kind whose resource names all resources of a type (templates.go).
	KindBackup Kind = "backup"
)

// Attribute is one subject or resource attribute of an IAM v1 policy. Subject attributes carry
// no operator in v1.
type Attribute struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Operator string `json:"operator,omitempty"`
}

// Grant is what IAM compares to decide that two policies are the same: type, subjects,
// resources and roles. The description is deliberately not part of it.
type Grant struct {
	Type      string      `json:"type"`
	Subjects  []Attribute `json:"subjects"`
	Resources []Attribute `json:"resources"`
	Roles     []string    `json:"roles"`
}

// defaultResourceOperator is what v1 assumes when a resource attribute has no operator, so a
// policy read back without it is still the same grant.
const defaultResourceOperator = "stringEquals"

// Key is the canonical identity of the grant, independent of attribute and role order.
func (g Grant) Key() string {
	roles := slices.Clone(g.Roles)
	slices.Sort(roles)
	return g.AttributesKey() + "|roles:" + strings.Join(slices.Compact(roles), ",")
}

// AttributesKey is the identity without the roles: IAM refuses (409) a second active policy with
// the same type, subjects and resources whatever its roles, so two grants with the same
// AttributesKey cannot both exist.
func (g Grant) AttributesKey() string {
	var b strings.Builder
	b.WriteString(g.Type)
	b.WriteString("|s:")
	writeAttrs(&b, g.Subjects, "")
	b.WriteString("|r:")
	writeAttrs(&b, g.Resources, defaultResourceOperator)
	return b.String()
}

func writeAttrs(b *strings.Builder, attrs []Attribute, defaultOperator string) {
	parts := make([]string, 0, len(attrs))
	for _, a := range attrs {
		op := a.Operator
		if op == "" {
			op = defaultOperator
		}
		parts = append(parts, a.Name+" "+op+" "+a.Value)
	}
	slices.Sort(parts)
	b.WriteString(strings.Join(slices.Compact(parts), ";"))
}

// Subject returns the value of a subject attribute, "" when absent.
func (g Grant) Subject(name string) string { return attrValue(g.Subjects, name) }

// Resource returns the value of a resource attribute, "" when absent.
func (g Grant) Resource(name string) string { return attrValue(g.Resources, name) }

func attrValue(attrs []Attribute, name string) string {
	for _, a := range attrs {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

// Authorization is a grant this project wants to exist, with the object it exists for.
type Authorization struct {
	Kind   Kind
	Object string // CRN of the snapshot, KMS instance, key or backup configuration the authorization belongs to
	Grant
}

// Description is the policy description that marks the authorization as this project's.
func (a Authorization) Description() string {
	return Owner{Kind: a.Kind, Object: a.Object}.Description()
}

// Policy is an authorization policy as IAM holds it, managed by this project or not.
type Policy struct {
	ID          string
	Description string
	State       string
	// CreatedBy is the iam_id of whoever created the policy, as IAM records it.
	CreatedBy string
	Grant
}

// Active reports whether IAM still enforces the policy; a deleted policy lingers with
// state "deleted" for a while.
func (p Policy) Active() bool { return p.State == "" || p.State == "active" }

// Owner is the ownership marker when the policy is this project's: the marker parses and the
// policy's grant fits the template of the marker's kind for the marker's object. A description
// can be written by anyone; the grant is the proof.
func (p Policy) Owner() (Owner, bool) {
	o, marked := ParseOwner(p.Description)
	if !marked || CheckTemplate(Authorization{Kind: o.Kind, Object: o.Object, Grant: p.Grant}) != nil {
		return Owner{}, false
	}
	return o, true
}

// Imitation reports whether the policy carries this project's marker without being this
// project's: its grant does not fit the marker's template and object. Such a policy is reported,
// never deleted or replaced.
func (p Policy) Imitation() bool {
	_, marked := ParseOwner(p.Description)
	_, ours := p.Owner()
	return marked && !ours
}

// AccountPolicyCap is IAM's limit of policies per account, shared with context-based
// restriction rules (IAM's limits page; facts file, section 2).
const AccountPolicyCap = 4020

// CapLine says how full the account is, as reports print it: count is the authorization
// policies seen, a floor of what counts against the cap.
func CapLine(count int) string {
	return fmt.Sprintf("%d of %d policies (authorization policies seen; IAM's cap per account)", count, AccountPolicyCap)
}
