package emulator

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// policy is an IAM policy as the emulator stores it: one store for both API versions, in a
// neutral form that each version renders in its own shape.
type policy struct {
	ID          string
	Type        string
	Description string
	// version is the API that made the policy (1 or 2): a v1 list shows v2-made policies only as
	// placeholders (facts file, section 2).
	version int
	// Subject and Resource attributes carry an operator in both versions: v1 subject attributes
	// have none on the wire and are stored with stringEquals, the operator v2 shows for them.
	Subject  []attr
	Resource []attr
	Tags     []attr // resource tags
	Roles    []string
	Pattern  string          // v2 only
	Rule     json.RawMessage // v2 only, compact JSON

	CreatedAt        time.Time
	CreatedByID      string
	LastModifiedAt   time.Time
	LastModifiedByID string
	State            string
	Template         json.RawMessage

	// createdByAPI is when POST /v1/policies or /v2/policies made the policy (zero for world
	// policies): the NotFoundAfterCreate fault window starts there.
	createdByAPI time.Time
	// rev counts modifications; it feeds the ETag.
	rev int
}

// attr is a subject or resource attribute (or resource tag). Value is a string, except for v2
// attributes, where stringExists takes a boolean and the AnyOf operators a list of strings.
type attr struct {
	Name     string
	Operator string
	Value    any
}

// str is the value of a string attribute, or "".
func (a attr) str() string {
	s, _ := a.Value.(string)
	return s
}

const (
	policyStateActive  = "active"
	policyStateDeleted = "deleted"
	// defaultOperator is what IAM v1 puts on resource attributes given without an operator (the
	// facts file: resource attributes carry "operator":"stringEquals"); the emulator's
	// assumption is that IAM fills it in, so the stored and returned policy always has one. v1
	// subject attributes are stored with it too (v2 shows them with stringEquals).
	defaultOperator = "stringEquals"
)

// iamTimeLayout is how IAM writes timestamps ("2024-10-17T16:36:56.501Z").
const iamTimeLayout = "2006-01-02T15:04:05.000Z"

func iamTime(t time.Time) string { return t.UTC().Format(iamTimeLayout) }

// v1 wire shapes, fields in the order IAM returns them.
type (
	policySubject struct {
		Attributes []subjectAttribute `json:"attributes"`
	}
	subjectAttribute struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	policyRole struct {
		RoleID      string `json:"role_id"`
		DisplayName string `json:"display_name,omitempty"`
		Description string `json:"description,omitempty"`
	}
	policyResource struct {
		Attributes []resourceAttribute `json:"attributes"`
		Tags       []resourceAttribute `json:"tags,omitempty"`
	}
	resourceAttribute struct {
		Name     string `json:"name"`
		Value    string `json:"value"`
		Operator string `json:"operator,omitempty"`
	}
	policyJSON struct {
		ID          string           `json:"id"`
		Type        string           `json:"type"`
		Description string           `json:"description,omitempty"`
		Subjects    []policySubject  `json:"subjects"`
		Roles       []policyRole     `json:"roles"`
		Resources   []policyResource `json:"resources"`
		Href        string           `json:"href"`
		policyMeta
	}
	// policyMeta are the fields IAM renders alike in v1 and v2 policies.
	policyMeta struct {
		CreatedAt        string          `json:"created_at"`
		CreatedByID      string          `json:"created_by_id"`
		LastModifiedAt   string          `json:"last_modified_at"`
		LastModifiedByID string          `json:"last_modified_by_id"`
		State            string          `json:"state"`
		Template         json.RawMessage `json:"template,omitempty"`
	}
)

// meta is p's policyMeta, its times in IAM's format.
func (p *policy) meta() policyMeta {
	return policyMeta{CreatedAt: iamTime(p.CreatedAt), CreatedByID: p.CreatedByID, LastModifiedAt: iamTime(p.LastModifiedAt),
		LastModifiedByID: p.LastModifiedByID, State: p.State, Template: p.Template}
}

// The v1 placeholder of a v2-made policy (facts file, section 2, from IAM's "Policy
// version 2" documentation in ibm-cloud-docs/account).
const (
	placeholderDescription = "This is a unsupported policy version placeholder, to view the full content, please call GET with provided href"
	placeholderIAMID       = "unsupported version"
	placeholderRole        = "crn:v1:bluemix:public:iam::::role:UnsupportedVersion"
)

// wireV1 renders the policy as /v1/policies returns it; base is the scheme://host of the IAM
// endpoint. A v2-made policy is only a placeholder there whose href leads to /v2/policies.
func (p *policy) wireV1(base string) policyJSON {
	out := policyJSON{
		ID: p.ID, Type: p.Type, Description: p.Description,
		Href:       base + "/v1/policies/" + p.ID,
		policyMeta: p.meta(),
	}
	if p.version == 2 {
		out.Description = placeholderDescription
		out.Subjects = []policySubject{{Attributes: []subjectAttribute{{Name: "iam_id", Value: placeholderIAMID}}}}
		out.Roles = []policyRole{{RoleID: placeholderRole, DisplayName: "UnsupportedVersion"}}
		out.Resources = []policyResource{{Attributes: []resourceAttribute{{Name: "accountId", Value: p.resourceAccount(), Operator: defaultOperator}}}}
		out.Href = base + "/v2/policies/" + p.ID
		out.Template = nil
		return out
	}
	subject := policySubject{Attributes: []subjectAttribute{}}
	for _, a := range p.Subject {
		subject.Attributes = append(subject.Attributes, subjectAttribute{Name: a.Name, Value: a.str()})
	}
	out.Subjects = []policySubject{subject}
	for _, r := range p.Roles {
		name, desc := describeRole(r)
		out.Roles = append(out.Roles, policyRole{RoleID: r, DisplayName: name, Description: desc})
	}
	res := policyResource{Attributes: []resourceAttribute{}}
	for _, a := range p.Resource {
		res.Attributes = append(res.Attributes, resourceAttribute{Name: a.Name, Value: a.str(), Operator: a.Operator})
	}
	for _, a := range p.Tags {
		res.Tags = append(res.Tags, resourceAttribute{Name: a.Name, Value: a.str(), Operator: a.Operator})
	}
	out.Resources = []policyResource{res}
	return out
}

// ownWire is the policy in the shape of the API version that made it: what a 409 shows in
// details.conflicts_with.policy (facts file, section 2).
func (p *policy) ownWire(base string) any {
	if p.version == 2 {
		return p.wireV2(base)
	}
	return p.wireV1(base)
}

// etag is IAM's "<revision>-<hash>" entity tag.
func (p *policy) etag() string {
	return itoa(p.rev) + "-" + shortHash("policy", p.ID, itoa(p.rev))
}

// rolesInConflictIdentity says whether two policies that differ only in their roles conflict.
// IAM's own 409 text reads "an access policy with identical attributes already exists. Please
// update the roles in the existing policy", so the emulator's assumption is that roles are NOT
// part of the identity: same type, subject attributes and resource attributes → 409.
const rolesInConflictIdentity = false

// identity is what makes two active policies "the same" for the 409 check, across API
// versions: type, the subject attribute set and the resource attribute set with operators and
// values (a v1 subject attribute counts as stringEquals), resource tags, and a v2 policy's
// pattern and rule, all order-insensitive. The description never counts. The emulator's
// assumption: a rule (time-based condition) makes a different policy.
func (p *policy) identity() string {
	var subj, res []string
	for _, a := range p.Subject {
		subj = append(subj, a.identity())
	}
	for _, a := range p.Resource {
		res = append(res, a.identity())
	}
	for _, t := range p.Tags {
		res = append(res, "tag:"+t.identity())
	}
	sort.Strings(subj)
	sort.Strings(res)
	id := p.Type + "\x00" + strings.Join(subj, "\x01") + "\x00" + strings.Join(res, "\x01") + "\x00" + p.Pattern + "\x00" + string(p.Rule)
	if rolesInConflictIdentity {
		roles := append([]string(nil), p.Roles...)
		sort.Strings(roles)
		id += "\x00" + strings.Join(roles, "\x01")
	}
	return id
}

func (a attr) identity() string {
	v, _ := json.Marshal(a.Value) // strings, booleans and lists of strings always encode
	return a.Name + "\x02" + a.Operator + "\x02" + string(v)
}

// resourceAccount is the accountId resource attribute: the account the policy lives in.
func (p *policy) resourceAccount() string { return attrValue(p.Resource, "accountId", false) }

// subjectService is the subject's serviceName attribute, or "".
func (p *policy) subjectService() string { return attrValue(p.Subject, "serviceName", true) }

// resourceService is the resource's serviceName attribute when it names one service
// (stringEquals), or "".
func (p *policy) resourceService() string { return attrValue(p.Resource, "serviceName", true) }

// attrValue is the string value of the named attribute, or ""; equalsOnly skips attributes
// whose operator is not stringEquals.
func attrValue(attrs []attr, name string, equalsOnly bool) string {
	for _, a := range attrs {
		if a.Name == name && (!equalsOnly || a.Operator == defaultOperator) {
			return a.str()
		}
	}
	return ""
}

func (p *policy) roleIDs() []string { return append([]string(nil), p.Roles...) }

func (p *policy) clone() *policy {
	c := *p
	c.Subject = append([]attr(nil), p.Subject...)
	c.Resource = append([]attr(nil), p.Resource...)
	c.Tags = append([]attr(nil), p.Tags...)
	c.Roles = append([]string(nil), p.Roles...)
	c.Rule = append(json.RawMessage(nil), p.Rule...)
	c.Template = append(json.RawMessage(nil), p.Template...)
	return &c
}
