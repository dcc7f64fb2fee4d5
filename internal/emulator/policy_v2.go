package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// v2 wire shapes (iampolicymanagementv1.V2Policy, V2PolicyTemplateMetaData).
type (
	v2Attribute struct {
		Key      string `json:"key"`
		Operator string `json:"operator"`
		Value    any    `json:"value"`
	}
	v2Subject struct {
		Attributes []v2Attribute `json:"attributes"`
	}
	v2Resource struct {
		Attributes []v2Attribute `json:"attributes"`
		Tags       []v2Attribute `json:"tags,omitempty"`
	}
	v2Role struct {
		RoleID string `json:"role_id"`
	}
	v2Control struct {
		Grant struct {
			Roles []v2Role `json:"roles"`
		} `json:"grant"`
	}
	policyV2JSON struct {
		ID          string          `json:"id"`
		Type        string          `json:"type"`
		Description string          `json:"description,omitempty"`
		Subject     v2Subject       `json:"subject"`
		Resource    v2Resource      `json:"resource"`
		Pattern     string          `json:"pattern,omitempty"`
		Rule        json.RawMessage `json:"rule,omitempty"`
		Href        string          `json:"href"`
		Control     v2Control       `json:"control"`
		policyMeta
	}
)

// wireV2 renders any policy as /v2/policies returns it: v1-made policies too, their subject
// attributes with operator stringEquals (facts file, section 2).
func (p *policy) wireV2(base string) policyV2JSON {
	out := policyV2JSON{
		ID: p.ID, Type: p.Type, Description: p.Description,
		Subject:    v2Subject{Attributes: v2Attributes(p.Subject)},
		Resource:   v2Resource{Attributes: v2Attributes(p.Resource)},
		Pattern:    p.Pattern,
		Rule:       p.Rule,
		Href:       base + "/v2/policies/" + p.ID,
		policyMeta: p.meta(),
	}
	if len(p.Tags) > 0 {
		out.Resource.Tags = v2Attributes(p.Tags)
	}
	out.Control.Grant.Roles = []v2Role{}
	for _, r := range p.Roles {
		out.Control.Grant.Roles = append(out.Control.Grant.Roles, v2Role{RoleID: r})
	}
	return out
}

func v2Attributes(attrs []attr) []v2Attribute {
	out := make([]v2Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, v2Attribute{Key: a.Name, Operator: a.Operator, Value: a.Value})
	}
	return out
}

// Operators of v2 attributes (iampolicymanagementv1 V2PolicySubjectAttributeOperator*,
// V2PolicyResourceAttributeOperator*, V2PolicyResourceTagOperator* constants).
var (
	v2SubjectOperators  = []string{"stringEquals", "stringExists"}
	v2ResourceOperators = []string{"stringEquals", "stringEqualsAnyOf", "stringExists", "stringMatch", "stringMatchAnyOf"}
	v2TagOperators      = []string{"stringEquals", "stringMatch"}
)

// parsePolicyV2 reads and validates one v2 policy document (a POST /v2/policies body or a
// world's policies_v2 entry); errors name the JSON path.
func parsePolicyV2(path string, raw json.RawMessage, src policySource) (*policy, error) {
	o, err := readObject(path, raw)
	if err != nil {
		return nil, err
	}
	p, err := policyHead(o, 2)
	if err != nil {
		return nil, err
	}
	if p.Subject, err = parseV2Attributes(o, "subject", v2SubjectOperators); err != nil {
		return nil, err
	}
	if p.Resource, p.Tags, err = parseV2Resource(o); err != nil {
		return nil, err
	}
	if p.Roles, err = parseV2Control(o); err != nil {
		return nil, err
	}
	if p.Pattern, err = o.str("pattern", false); err != nil {
		return nil, err
	}
	if raw, ok := o.take("rule"); ok {
		if jsonKind(raw) != "object" {
			return nil, errAt(o.fieldPath("rule"), "expected object, got %s", jsonKind(raw))
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, errAt(o.fieldPath("rule"), "invalid object: %v", err)
		}
		p.Rule = buf.Bytes()
	}
	if src == fromWorld {
		if err := parseWorldPolicyFields(o, p); err != nil {
			return nil, err
		}
	}
	if err := o.finish(); err != nil {
		return nil, err
	}
	if err := checkPolicySemantics(p, v2Paths(path)); err != nil {
		return nil, err
	}
	return p, nil
}

// parseV2Attributes reads "<field>": {"attributes": [{key, operator, value}]}.
func parseV2Attributes(o *jsonObject, field string, operators []string) ([]attr, error) {
	raw, ok := o.take(field)
	if !ok {
		return nil, errAt(o.fieldPath(field), "required")
	}
	so, err := readObject(o.fieldPath(field), raw)
	if err != nil {
		return nil, err
	}
	attrs, err := parseV2AttributeList(so, "attributes", true, operators)
	if err != nil {
		return nil, err
	}
	if err := so.finish(); err != nil {
		return nil, err
	}
	return attrs, nil
}

func parseV2Resource(o *jsonObject) (attrs, tags []attr, err error) {
	raw, ok := o.take("resource")
	if !ok {
		return nil, nil, errAt(o.fieldPath("resource"), "required")
	}
	ro, err := readObject(o.fieldPath("resource"), raw)
	if err != nil {
		return nil, nil, err
	}
	if attrs, err = parseV2AttributeList(ro, "attributes", true, v2ResourceOperators); err != nil {
		return nil, nil, err
	}
	if tags, err = parseV2AttributeList(ro, "tags", false, v2TagOperators); err != nil {
		return nil, nil, err
	}
	for i, t := range tags {
		if _, ok := t.Value.(string); !ok {
			return nil, nil, errAt(fmt.Sprintf("%s[%d].value", ro.fieldPath("tags"), i), "expected string, got %s", jsonKindOf(t.Value))
		}
	}
	if err := ro.finish(); err != nil {
		return nil, nil, err
	}
	return attrs, tags, nil
}

// parseV2AttributeList reads [{key, operator, value}]. The value is a string, or true/false
// with stringExists ("all resources of a type": Terraform's v2 form, facts file section 1), or
// a list of strings with the AnyOf operators.
func parseV2AttributeList(o *jsonObject, field string, required bool, operators []string) ([]attr, error) {
	items, err := o.array(field, required)
	if err != nil {
		return nil, err
	}
	var out []attr
	for i, raw := range items {
		ao, err := readObject(fmt.Sprintf("%s[%d]", o.fieldPath(field), i), raw)
		if err != nil {
			return nil, err
		}
		var a attr
		if a.Name, err = ao.str("key", true); err != nil {
			return nil, err
		}
		if a.Operator, err = ao.str("operator", true); err != nil {
			return nil, err
		}
		if !slices.Contains(operators, a.Operator) {
			return nil, errAt(ao.fieldPath("operator"), "%q is not %s", a.Operator, quoteList(operators))
		}
		vraw, ok := ao.take("value")
		if !ok {
			return nil, errAt(ao.fieldPath("value"), "required")
		}
		if a.Value, err = v2Value(ao.fieldPath("value"), vraw, a.Operator); err != nil {
			return nil, err
		}
		if err := ao.finish(); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func v2Value(path string, raw json.RawMessage, operator string) (any, error) {
	kind := jsonKind(raw)
	switch {
	case operator == "stringExists":
		var b bool
		if kind != "boolean" || json.Unmarshal(raw, &b) != nil {
			return nil, errAt(path, "expected boolean with stringExists, got %s", kind)
		}
		return b, nil
	case operator == "stringEqualsAnyOf" || operator == "stringMatchAnyOf":
		var list []string
		if kind != "array" || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
			return nil, errAt(path, "expected a non-empty array of strings with %s, got %s", operator, kind)
		}
		out := make([]any, len(list))
		for i, s := range list {
			out[i] = s
		}
		return out, nil
	}
	var s string
	if kind != "string" || json.Unmarshal(raw, &s) != nil {
		return nil, errAt(path, "expected string, got %s", kind)
	}
	if s == "" {
		return nil, errAt(path, "required")
	}
	return s, nil
}

func jsonKindOf(v any) string {
	b, _ := json.Marshal(v) // attribute values always encode
	return jsonKind(b)
}

// parseV2Control reads "control": {"grant": {"roles": [{"role_id"}]}}.
func parseV2Control(o *jsonObject) ([]string, error) {
	raw, ok := o.take("control")
	if !ok {
		return nil, errAt(o.fieldPath("control"), "required")
	}
	co, err := readObject(o.fieldPath("control"), raw)
	if err != nil {
		return nil, err
	}
	graw, ok := co.take("grant")
	if !ok {
		return nil, errAt(co.fieldPath("grant"), "required")
	}
	gro, err := readObject(co.fieldPath("grant"), graw)
	if err != nil {
		return nil, err
	}
	roles, err := parseRoles(gro, "roles")
	if err != nil {
		return nil, err
	}
	if err := gro.finish(); err != nil {
		return nil, err
	}
	if err := co.finish(); err != nil {
		return nil, err
	}
	return roles, nil
}
