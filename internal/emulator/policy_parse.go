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
	p := &policy{State: policyStateActive}
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
	if p.Subjects, err = parseSubjects(o); err != nil {
		return nil, err
	}
	if p.Roles, err = parseRoles(o); err != nil {
		return nil, err
	}
	if p.Resources, err = parseResources(o); err != nil {
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
	if err := checkPolicySemantics(path, p); err != nil {
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
func parseSubjects(o *jsonObject) ([]policySubject, error) {
	items, err := o.array("subjects", true)
	if err != nil {
		return nil, err
	}
	if len(items) != 1 {
		return nil, errAt(o.fieldPath("subjects"), "exactly one subject is allowed, got %d", len(items))
	}
	var out []policySubject
	for i, raw := range items {
		so, err := readObject(fmt.Sprintf("%s[%d]", o.fieldPath("subjects"), i), raw)
		if err != nil {
			return nil, err
		}
		attrs, err := so.array("attributes", true)
		if err != nil {
			return nil, err
		}
		var subject policySubject
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
			subject.Attributes = append(subject.Attributes, a)
		}
		if err := so.finish(); err != nil {
			return nil, err
		}
		out = append(out, subject)
	}
	return out, nil
}

// parseRoles reads "roles"; display names and descriptions are IAM's to fill in.
func parseRoles(o *jsonObject) ([]policyRole, error) {
	items, err := o.array("roles", true)
	if err != nil {
		return nil, err
	}
	var out []policyRole
	seen := map[string]bool{}
	for i, raw := range items {
		ro, err := readObject(fmt.Sprintf("%s[%d]", o.fieldPath("roles"), i), raw)
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
		name, desc := describeRole(id)
		out = append(out, policyRole{RoleID: id, DisplayName: name, Description: desc})
	}
	return out, nil
}

// parseResources reads "resources"; IAM v1 takes exactly one resource.
func parseResources(o *jsonObject) ([]policyResource, error) {
	items, err := o.array("resources", true)
	if err != nil {
		return nil, err
	}
	if len(items) != 1 {
		return nil, errAt(o.fieldPath("resources"), "exactly one resource is allowed, got %d", len(items))
	}
	var out []policyResource
	for i, raw := range items {
		ro, err := readObject(fmt.Sprintf("%s[%d]", o.fieldPath("resources"), i), raw)
		if err != nil {
			return nil, err
		}
		var r policyResource
		if r.Attributes, err = parseResourceAttributes(ro, "attributes", true); err != nil {
			return nil, err
		}
		if r.Tags, err = parseResourceAttributes(ro, "tags", false); err != nil {
			return nil, err
		}
		if err := ro.finish(); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func parseResourceAttributes(o *jsonObject, field string, required bool) ([]resourceAttribute, error) {
	items, err := o.array(field, required)
	if err != nil {
		return nil, err
	}
	var out []resourceAttribute
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
		out = append(out, a)
	}
	return out, nil
}

// checkPolicySemantics applies the rules of IAM's CreatePolicy documentation: both sides carry
// accountId, an authorization subject names a service (or resource group) with the attributes
// authorizations support, an access subject is an iam_id or access group, and the resource
// names what it is.
func checkPolicySemantics(path string, p *policy) error {
	subjPath := path + ".subjects[0].attributes"
	subj := map[string]string{}
	for i, a := range p.Subjects[0].Attributes {
		ap := fmt.Sprintf("%s[%d]", subjPath, i)
		if _, dup := subj[a.Name]; dup {
			return errAt(ap+".name", "duplicate attribute %q", a.Name)
		}
		subj[a.Name] = a.Value
		if p.Type == "authorization" && !slices.Contains(authorizationSubjectAttributes, a.Name) {
			return errAt(ap+".name", "%q is not a subject attribute of authorization policies (%s)", a.Name, quoteList(authorizationSubjectAttributes))
		}
		if a.Name == "accountId" && !isAccountID(a.Value) {
			return errAt(ap+".value", "%q is not an account id (32 lowercase hex digits)", a.Value)
		}
	}
	switch p.Type {
	case "authorization":
		if subj["accountId"] == "" {
			return errAt(subjPath, "an authorization subject needs an accountId attribute")
		}
		if subj["serviceName"] == "" && subj["resourceGroupId"] == "" {
			return errAt(subjPath, "an authorization subject needs a serviceName or resourceGroupId attribute")
		}
	case "access":
		if subj["iam_id"] == "" && subj["access_group_id"] == "" {
			return errAt(subjPath, "an access subject needs an iam_id or access_group_id attribute")
		}
	}
	resPath := path + ".resources[0].attributes"
	res := map[string]string{}
	for i, a := range p.Resources[0].Attributes {
		ap := fmt.Sprintf("%s[%d]", resPath, i)
		if _, dup := res[a.Name]; dup {
			return errAt(ap+".name", "duplicate attribute %q", a.Name)
		}
		res[a.Name] = a.Value
		if a.Name == "accountId" && (a.Operator != "stringEquals" || !isAccountID(a.Value)) {
			return errAt(ap+".value", "%q is not an account id (32 lowercase hex digits, operator stringEquals)", a.Value)
		}
	}
	if res["accountId"] == "" {
		return errAt(resPath, "the resource needs an accountId attribute")
	}
	if res["serviceName"] == "" && res["serviceType"] == "" && res["resourceGroupId"] == "" && res["service_group_id"] == "" {
		return errAt(resPath, "the resource needs a serviceName, serviceType, resourceGroupId or service_group_id attribute")
	}
	return nil
}
