package emulator

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// policy is an IAM v1 policy as the emulator stores it.
type policy struct {
	ID               string
	Type             string
	Description      string
	Subjects         []policySubject
	Roles            []policyRole
	Resources        []policyResource
	CreatedAt        time.Time
	CreatedByID      string
	LastModifiedAt   time.Time
	LastModifiedByID string
	State            string
	Template         json.RawMessage

	// createdByAPI is when POST /v1/policies made the policy (zero for world policies): the
	// NotFoundAfterCreate fault window starts there.
	createdByAPI time.Time
	// rev counts modifications; it feeds the ETag.
	rev int
}

type policySubject struct {
	Attributes []subjectAttribute `json:"attributes"`
}

type subjectAttribute struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type policyRole struct {
	RoleID      string `json:"role_id"`
	DisplayName string `json:"display_name,omitempty"`
	Description string `json:"description,omitempty"`
}

type policyResource struct {
	Attributes []resourceAttribute `json:"attributes"`
	Tags       []resourceAttribute `json:"tags,omitempty"`
}

type resourceAttribute struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Operator string `json:"operator,omitempty"`
}

const (
	policyStateActive  = "active"
	policyStateDeleted = "deleted"
	// defaultOperator is what IAM v1 puts on resource attributes given without an operator (the
	// facts file: resource attributes carry "operator":"stringEquals"); the emulator's
	// assumption is that IAM fills it in, so the stored and returned policy always has one.
	defaultOperator = "stringEquals"
)

// iamTimeLayout is how IAM writes timestamps ("2024-10-17T16:36:56.501Z").
const iamTimeLayout = "2006-01-02T15:04:05.000Z"

func iamTime(t time.Time) string { return t.UTC().Format(iamTimeLayout) }

// policyJSON is the v1 wire shape, fields in the order IAM returns them.
type policyJSON struct {
	ID               string           `json:"id"`
	Type             string           `json:"type"`
	Description      string           `json:"description,omitempty"`
	Subjects         []policySubject  `json:"subjects"`
	Roles            []policyRole     `json:"roles"`
	Resources        []policyResource `json:"resources"`
	Href             string           `json:"href"`
	CreatedAt        string           `json:"created_at"`
	CreatedByID      string           `json:"created_by_id"`
	LastModifiedAt   string           `json:"last_modified_at"`
	LastModifiedByID string           `json:"last_modified_by_id"`
	State            string           `json:"state"`
	Template         json.RawMessage  `json:"template,omitempty"`
}

// wire renders the policy as the API returns it; base is the scheme://host of the IAM endpoint.
func (p *policy) wire(base string) policyJSON {
	return policyJSON{
		ID: p.ID, Type: p.Type, Description: p.Description,
		Subjects: p.Subjects, Roles: p.Roles, Resources: p.Resources,
		Href:             base + "/v1/policies/" + p.ID,
		CreatedAt:        iamTime(p.CreatedAt),
		CreatedByID:      p.CreatedByID,
		LastModifiedAt:   iamTime(p.LastModifiedAt),
		LastModifiedByID: p.LastModifiedByID,
		State:            p.State,
		Template:         p.Template,
	}
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

// identity is what makes two active policies "the same" for the 409 check: type, the subject
// attribute set and the resource attribute set with operators, all order-insensitive. The
// description never counts.
func (p *policy) identity() string {
	var subj []string
	for _, s := range p.Subjects {
		for _, a := range s.Attributes {
			subj = append(subj, a.Name+"="+a.Value)
		}
	}
	var res []string
	for _, r := range p.Resources {
		for _, a := range r.Attributes {
			res = append(res, a.Name+" "+a.Operator+" "+a.Value)
		}
		for _, t := range r.Tags {
			res = append(res, "tag:"+t.Name+" "+t.Operator+" "+t.Value)
		}
	}
	sort.Strings(subj)
	sort.Strings(res)
	id := p.Type + "\x00" + strings.Join(subj, "\x01") + "\x00" + strings.Join(res, "\x01")
	if rolesInConflictIdentity {
		var roles []string
		for _, r := range p.Roles {
			roles = append(roles, r.RoleID)
		}
		sort.Strings(roles)
		id += "\x00" + strings.Join(roles, "\x01")
	}
	return id
}

// resourceAccount is the accountId resource attribute: the account the policy lives in.
func (p *policy) resourceAccount() string {
	for _, r := range p.Resources {
		for _, a := range r.Attributes {
			if a.Name == "accountId" {
				return a.Value
			}
		}
	}
	return ""
}

func (p *policy) clone() *policy {
	c := *p
	c.Subjects = make([]policySubject, len(p.Subjects))
	for i, s := range p.Subjects {
		c.Subjects[i] = policySubject{Attributes: append([]subjectAttribute(nil), s.Attributes...)}
	}
	c.Roles = append([]policyRole(nil), p.Roles...)
	c.Resources = make([]policyResource, len(p.Resources))
	for i, r := range p.Resources {
		c.Resources[i] = policyResource{
			Attributes: append([]resourceAttribute(nil), r.Attributes...),
			Tags:       append([]resourceAttribute(nil), r.Tags...),
		}
	}
	c.Template = append(json.RawMessage(nil), p.Template...)
	return &c
}

// subjectService is the subject's serviceName attribute, or "".
func (p *policy) subjectService() string {
	for _, s := range p.Subjects {
		for _, a := range s.Attributes {
			if a.Name == "serviceName" {
				return a.Value
			}
		}
	}
	return ""
}

// resourceService is the resource's serviceName attribute when it names one service
// (stringEquals), or "".
func (p *policy) resourceService() string {
	for _, r := range p.Resources {
		for _, a := range r.Attributes {
			if a.Name == "serviceName" && a.Operator == "stringEquals" {
				return a.Value
			}
		}
	}
	return ""
}

func (p *policy) roleIDs() []string {
	out := make([]string, 0, len(p.Roles))
	for _, r := range p.Roles {
		out = append(out, r.RoleID)
	}
	return out
}
