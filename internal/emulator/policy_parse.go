package emulator

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// policySource says where a policy document comes from: a POST /v1/policies body carries only
// what a client may send, a world file may carry everything the API returns.
type policySource int

const (
	fromRequest policySource = iota
	fromWorld
)

// maxDescription is IAM's limit on policy descriptions.
const maxDescription = 300

// Attribute names IAM accepts in the subject of an authorization policy (SDK documentation of
// CreatePolicy).
var authorizationSubjectAttributes = []string{
	"serviceName", "serviceInstance", "region", "resourceType", "resource", "accountId", "resourceGroupId",
}

// parsePolicy reads and validates one v1 policy document; errors name the JSON path.
func parsePolicy(path string, raw json.RawMessage, src policySource) (*policy, error) {
	o, err := readObject(path, raw)
	if err != nil {
		return nil, err
	}
	p, err := policyHead(o, 1)
	if err != nil {
		return nil, err
	}
	if p.Subject, err = parseSubjects(o); err != nil {
		return nil, err
	}
	if p.Roles, err = parseRoles(o, "roles"); err != nil {
		return nil, err
	}
	if p.Resource, p.Tags, err = parseResources(o); err != nil {
		return nil, err
	}
	if src == fromWorld {
		if err := parseWorldPolicyFields(o, p); err != nil {
			return nil, err
		}
	}
	if err := o.finish(); err != nil {
		return nil, err
	}
	if err := checkPolicySemantics(p, v1Paths(path)); err != nil {
		return nil, err
	}
	return p, nil
}

// parseWorldPolicyFields reads what only a stored policy has. href is derived from the id and
// last_permit_* are usage statistics the emulator does not model, so they are accepted and
// dropped.
func parseWorldPolicyFields(o *jsonObject, p *policy) error {
	var err error
	if p.ID, err = o.str("id", false); err != nil {
		return err
	}
	o.ignore("href", "last_permit_at", "last_permit_frequency")
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"created_at", &p.CreatedAt}, {"last_modified_at", &p.LastModifiedAt}} {
		s, err := o.str(f.name, false)
		if err != nil {
			return err
		}
		if s == "" {
			continue
		}
		t, perr := time.Parse(time.RFC3339, s)
		if perr != nil {
			return errAt(o.fieldPath(f.name), "%q is not an RFC 3339 time", s)
		}
		*f.dst = t
	}
	if p.CreatedByID, err = o.str("created_by_id", false); err != nil {
		return err
	}
	if p.LastModifiedByID, err = o.str("last_modified_by_id", false); err != nil {
		return err
	}
	state, err := o.str("state", false)
	if err != nil {
		return err
	}
	switch state {
	case "", policyStateActive:
	case policyStateDeleted:
		p.State = policyStateDeleted
	default:
		return errAt(o.fieldPath("state"), "%q is not active or deleted", state)
	}
	if raw, ok := o.take("template"); ok {
		if jsonKind(raw) != "object" {
			return errAt(o.fieldPath("template"), "expected object, got %s", jsonKind(raw))
		}
		p.Template = append(json.RawMessage(nil), raw...)
	}
	return nil
}

// parseSubjects reads "subjects"; IAM v1 takes exactly one subject.
func parseSubjects(o *jsonObject) ([]attr, error) {
	items, err := o.array("subjects", true)
	if err != nil {
		return nil, err
	}
	if len(items) != 1 {
		return nil, errAt(o.fieldPath("subjects"), "exactly one subject is allowed, got %d", len(items))
	}
	var out []attr
	for i, raw := range items {
		so, err := readObject(fmt.Sprintf("%s[%d]", o.fieldPath("subjects"), i), raw)
		if err != nil {
			return nil, err
		}
		attrs, err := so.array("attributes", true)
		if err != nil {
			return nil, err
		}
		for j, araw := range attrs {
			ao, err := readObject(fmt.Sprintf("%s[%d]", so.fieldPath("attributes"), j), araw)
			if err != nil {
				return nil, err
			}
			var a subjectAttribute
			if a.Name, err = ao.str("name", true); err != nil {
				return nil, err
			}
			if a.Value, err = ao.str("value", true); err != nil {
				return nil, err
			}
			// v1 subject attributes have no operator (facts file): "unknown field" tells a
			// caller who copied a v2 body what is wrong.
			if err := ao.finish(); err != nil {
				return nil, err
			}
			out = append(out, attr{Name: a.Name, Operator: defaultOperator, Value: a.Value})
		}
		if err := so.finish(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseRoles reads a roles array (v1 "roles", v2 "control.grant.roles"); display names and
// descriptions are IAM's to fill in.
func parseRoles(o *jsonObject, field string) ([]string, error) {
	items, err := o.array(field, true)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for i, raw := range items {
		ro, err := readObject(fmt.Sprintf("%s[%d]", o.fieldPath(field), i), raw)
		if err != nil {
			return nil, err
		}
		id, err := ro.str("role_id", true)
		if err != nil {
			return nil, err
		}
		if !isRoleCRN(id) {
			return nil, errAt(ro.fieldPath("role_id"), "%q is not a role CRN (crn:v1:bluemix:public:iam::::role:NAME or …:serviceRole:NAME)", id)
		}
		if seen[id] {
			return nil, errAt(ro.fieldPath("role_id"), "duplicate role %q", id)
		}
		seen[id] = true
		ro.ignore("display_name", "description")
		if err := ro.finish(); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// parseResources reads "resources"; IAM v1 takes exactly one resource.
func parseResources(o *jsonObject) (attrs, tags []attr, err error) {
	items, err := o.array("resources", true)
	if err != nil {
		return nil, nil, err
	}
	if len(items) != 1 {
		return nil, nil, errAt(o.fieldPath("resources"), "exactly one resource is allowed, got %d", len(items))
	}
	ro, err := readObject(o.fieldPath("resources")+"[0]", items[0])
	if err != nil {
		return nil, nil, err
	}
	if attrs, err = parseResourceAttributes(ro, "attributes", true); err != nil {
		return nil, nil, err
	}
	if tags, err = parseResourceAttributes(ro, "tags", false); err != nil {
		return nil, nil, err
	}
	if err := ro.finish(); err != nil {
		return nil, nil, err
	}
	return attrs, tags, nil
}

func parseResourceAttributes(o *jsonObject, field string, required bool) ([]attr, error) {
	items, err := o.array(field, required)
	if err != nil {
		return nil, err
	}
	var out []attr
	for j, raw := range items {
		ao, err := readObject(fmt.Sprintf("%s[%d]", o.fieldPath(field), j), raw)
		if err != nil {
			return nil, err
		}
		var a resourceAttribute
		if a.Name, err = ao.str("name", true); err != nil {
			return nil, err
		}
		if a.Value, err = ao.str("value", true); err != nil {
			return nil, err
		}
		if a.Operator, err = ao.str("operator", false); err != nil {
			return nil, err
		}
		switch a.Operator {
		case "":
			a.Operator = defaultOperator
		case "stringEquals", "stringMatch":
		default:
			return nil, errAt(ao.fieldPath("operator"), "%q is not stringEquals or stringMatch", a.Operator)
		}
		if err := ao.finish(); err != nil {
			return nil, err
		}
		out = append(out, attr{Name: a.Name, Operator: a.Operator, Value: a.Value})
	}
	return out, nil
}

// policyPaths name the places of a policy document in error messages: v1 and v2 spell them
// differently.
type policyPaths struct {
	subject, resource string // paths of the attribute arrays
	name, value       string // field names of an attribute
}

func v1Paths(path string) policyPaths {
	return policyPaths{subject: path + ".subjects[0].attributes", resource: path + ".resources[0].attributes", name: "name", value: "value"}
}

func v2Paths(path string) policyPaths {
	return policyPaths{subject: path + ".subject.attributes", resource: path + ".resource.attributes", name: "key", value: "value"}
}

// checkPolicySemantics applies the rules of IAM's CreatePolicy documentation: both sides carry
// accountId, an authorization subject names a service (or resource group) with the attributes
// authorizations support, an access subject is an iam_id or access group, and the resource
// names what it is.
func checkPolicySemantics(p *policy, paths policyPaths) error {
	subj := map[string]string{}
	for i, a := range p.Subject {
		ap := fmt.Sprintf("%s[%d]", paths.subject, i)
		if _, dup := subj[a.Name]; dup {
			return errAt(ap+"."+paths.name, "duplicate attribute %q", a.Name)
		}
		subj[a.Name] = a.str()
		if p.Type == "authorization" && !slices.Contains(authorizationSubjectAttributes, a.Name) {
			return errAt(ap+"."+paths.name, "%q is not a subject attribute of authorization policies (%s)", a.Name, quoteList(authorizationSubjectAttributes))
		}
		if a.Name == "accountId" && (a.Operator != defaultOperator || !isAccountID(a.str())) {
			return errAt(ap+"."+paths.value, "%s is not an account id (32 lowercase hex digits, operator stringEquals)", jsonText(a.Value))
		}
	}
	switch p.Type {
	case "authorization":
		if subj["accountId"] == "" {
			return errAt(paths.subject, "an authorization subject needs an accountId attribute")
		}
		if subj["serviceName"] == "" && subj["resourceGroupId"] == "" {
			return errAt(paths.subject, "an authorization subject needs a serviceName or resourceGroupId attribute")
		}
	case "access":
		if subj["iam_id"] == "" && subj["access_group_id"] == "" {
			return errAt(paths.subject, "an access subject needs an iam_id or access_group_id attribute")
		}
	}
	res := map[string]bool{}
	for i, a := range p.Resource {
		ap := fmt.Sprintf("%s[%d]", paths.resource, i)
		if res[a.Name] {
			return errAt(ap+"."+paths.name, "duplicate attribute %q", a.Name)
		}
		res[a.Name] = true
		if a.Name == "accountId" && (a.Operator != defaultOperator || !isAccountID(a.str())) {
			return errAt(ap+"."+paths.value, "%s is not an account id (32 lowercase hex digits, operator stringEquals)", jsonText(a.Value))
		}
	}
	if !res["accountId"] {
		return errAt(paths.resource, "the resource needs an accountId attribute")
	}
	if !res["serviceName"] && !res["serviceType"] && !res["resourceGroupId"] && !res["service_group_id"] {
		return errAt(paths.resource, "the resource needs a serviceName, serviceType, resourceGroupId or service_group_id attribute")
	}
	return nil
}

// jsonText renders an attribute value for a message: strings quoted, others as JSON.
func jsonText(v any) string {
	b, _ := json.Marshal(v) // attribute values always encode
	return string(b)
}

// policyHead reads what v1 and v2 policy documents share: type and description.
func policyHead(o *jsonObject, version int) (*policy, error) {
	p := &policy{State: policyStateActive, version: version}
	var err error
	if p.Type, err = o.str("type", true); err != nil {
		return nil, err
	}
	if p.Type != "access" && p.Type != "authorization" {
		return nil, errAt(o.fieldPath("type"), "%q is not access or authorization", p.Type)
	}
	if p.Description, err = o.str("description", false); err != nil {
		return nil, err
	}
	if len(p.Description) > maxDescription {
		return nil, errAt(o.fieldPath("description"), "longer than %d characters", maxDescription)
	}
	return p, nil
}
