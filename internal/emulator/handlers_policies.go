package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

const (
	defaultPolicyLimit = 50
	// maxPolicyLimit is IAM's documented maximum. Above it the emulator answers 400 rather than
	// clamping: the emulator's assumption, since IBM's API validators reject out-of-range
	// values, and a client that asks for more than it can get should find out.
	maxPolicyLimit = 100
	// codeInvalidQuery is not in IAM's published list of error codes; the emulator's choice.
	codeInvalidQuery = "invalid_query_parameter"
	// codeForbidden is spelled as IAM spells it (its published error codes list it so).
	codeForbidden = "insufficent_permissions"
)

// handleCreatePolicy is POST /v1/policies.
func handleCreatePolicy(s *Server, q *request) reply {
	return createPolicy(s, q, parsePolicy)
}

// handleCreateV2Policy is POST /v2/policies (iampolicymanagementv1.CreateV2Policy).
func handleCreateV2Policy(s *Server, q *request) reply {
	return createPolicy(s, q, parsePolicyV2)
}

// createPolicy is the create of both versions over the one store: same checks, same 409 across
// versions, the answer in the shape of the version asked.
func createPolicy(s *Server, q *request, parse func(string, json.RawMessage, policySource) (*policy, error)) reply {
	err := checkSyntax(q.body)
	var p *policy
	if err == nil {
		p, err = parse("$", q.body, fromRequest)
	}
	if err != nil {
		return errorReply(kindIAM, http.StatusBadRequest, "invalid_body", "Invalid body format: "+err.Error())
	}
	if p.resourceAccount() != s.st.account {
		// The policy is stored in the resource's account; the caller's token only reaches its own.
		return errorReply(kindIAM, http.StatusForbidden, codeForbidden,
			"You are not allowed to create a policy in account "+p.resourceAccount()+".")
	}
	if role, target, source := s.st.iam.unofferedRole(p); role != "" {
		return roleNotOffered(role, target, source)
	}
	if existing := s.st.activeConflict(p); existing != nil {
		return conflictReply(existing, q.base)
	}
	// A conflicting create adds nothing, so it gets its 409 even at the cap (the emulator's
	// assumption of the order of IAM's checks).
	if limit := s.st.iam.policyCap(); s.st.active >= limit {
		return policyLimitExceeded(s.st.account, s.st.active, limit)
	}
	p.ID = s.st.newID("policy", func(id string) bool { return s.st.policies[id] != nil })
	p.CreatedAt, p.LastModifiedAt = q.now, q.now
	p.CreatedByID, p.LastModifiedByID = q.token.iamID, q.token.iamID
	p.createdByAPI = q.now
	p.rev = 1
	s.st.addPolicy(p)
	var body any = p.wireV1(q.base)
	if p.version == 2 {
		body = p.wireV2(q.base)
	}
	return jsonReply(http.StatusCreated, body).withHeader("ETag", p.etag())
}

// conflictReply is IAM's 409 for a policy that already exists, in the shape of the facts file:
// details.conflicts_with.policy is the existing policy in the shape of the version that made
// it (the SDK models conflicts_with.policy as a string, so clients read it from the raw map).
func conflictReply(existing *policy, base string) reply {
	return jsonReply(http.StatusConflict, map[string]any{
		"trace": randomHex(16),
		"errors": []map[string]any{{
			"code":    "policy_conflict_error",
			"message": "Failed to create policy.",
			"details": map[string]any{
				"conflicts_with": map[string]any{
					"etag":   existing.etag(),
					"policy": existing.ownWire(base),
				},
			},
		}},
		"status_code": http.StatusConflict,
	})
}

// policyListQuery is what both list endpoints read from the query.
type policyListQuery struct {
	account, typ, state string
	stateGiven          bool
	limit               int
	after               string
	echo                url.Values // the filters, for first/next hrefs
}

// readPolicyListQuery checks account_id, type, state, limit and start as both versions share
// them; a problem comes back as the reply to send.
func readPolicyListQuery(s *Server, q *request) (policyListQuery, *reply) {
	fail := func(r reply) (policyListQuery, *reply) { return policyListQuery{}, &r }
	var lq policyListQuery
	lq.account = q.query("account_id")
	if lq.account == "" {
		return fail(errorReply(kindIAM, http.StatusBadRequest, "missing_required_query_parameter", "The account_id query parameter is required."))
	}
	if lq.account != s.st.account {
		return fail(errorReply(kindIAM, http.StatusForbidden, codeForbidden, "You are not allowed to list the policies of account "+lq.account+"."))
	}
	lq.typ = q.query("type")
	if lq.typ != "" && lq.typ != "access" && lq.typ != "authorization" {
		return fail(errorReply(kindIAM, http.StatusBadRequest, codeInvalidQuery, "type must be access or authorization."))
	}
	lq.state = q.query("state")
	lq.stateGiven = lq.state != ""
	switch lq.state {
	case "":
		lq.state = policyStateActive
	case policyStateActive, policyStateDeleted:
	default:
		return fail(errorReply(kindIAM, http.StatusBadRequest, codeInvalidQuery, "state must be active or deleted."))
	}
	var ok bool
	if lq.limit, ok = parseLimit(q.query("limit"), defaultPolicyLimit, maxPolicyLimit); !ok {
		return fail(errorReply(kindIAM, http.StatusBadRequest, codeInvalidQuery, "limit must be an integer from 1 to 100."))
	}
	if start := q.query("start"); start != "" {
		if lq.after, ok = decodeStart(start); !ok {
			return fail(errorReply(kindIAM, http.StatusBadRequest, codeInvalidQuery, "start is not a token returned by this API."))
		}
	}
	lq.echo = url.Values{"account_id": {lq.account}, "limit": {strconv.Itoa(lq.limit)}}
	if lq.typ != "" {
		lq.echo.Set("type", lq.typ)
	}
	if lq.stateGiven {
		lq.echo.Set("state", lq.state)
	}
	return lq, nil
}

// listPolicies pages the store for both versions. Pages follow the id order and the start token
// is the last id of the previous page, so paging stays consistent while policies come and go.
func listPolicies(s *Server, q *request, lq policyListQuery, path string, keep func(*policy) bool, render func(*policy) any) reply {
	page := []any{}
	more := false
	var last string
	for p := range s.st.policiesAfter(lq.after) {
		if p.State != lq.state || (lq.typ != "" && p.Type != lq.typ) || !keep(p) {
			continue
		}
		if len(page) == lq.limit {
			more = true
			break
		}
		page = append(page, render(p))
		last = p.ID
	}
	out := map[string]any{
		"limit":    lq.limit,
		"first":    map[string]string{"href": q.base + path + "?" + lq.echo.Encode()},
		"policies": page,
	}
	if more {
		start := encodeStart(last)
		lq.echo.Set("start", start)
		out["next"] = map[string]string{"href": q.base + path + "?" + lq.echo.Encode(), "start": start}
	}
	return jsonReply(http.StatusOK, out)
}

// handleListPolicies is GET /v1/policies: v2-made policies appear as placeholders. Attribute
// filters do not exist server-side (facts file); iam_id, access_group_id, sort and format are
// accepted and ignored (the emulator's simplification).
func handleListPolicies(s *Server, q *request) reply {
	lq, problem := readPolicyListQuery(s, q)
	if problem != nil {
		return *problem
	}
	return listPolicies(s, q, lq, "/v1/policies", func(*policy) bool { return true },
		func(p *policy) any { return p.wireV1(q.base) })
}

// v2ListFilters are the v2 list filters on attributes (iampolicymanagementv1.ListV2PoliciesOptions):
// query parameter → (side, attribute). service_name narrows to policies whose resource
// serviceName equals it (facts file, section 2).
var v2ListFilters = []struct {
	param, attribute string
	subject          bool
}{
	{"service_name", "serviceName", false},
	{"service_type", "serviceType", false},
	{"service_group_id", "service_group_id", false},
	{"iam_id", "iam_id", true},
	{"access_group_id", "access_group_id", true},
}

// v2Formats are the documented values of format (ListV2PoliciesOptionsFormat* constants). The
// emulator's simplification: both render the same (no last-permit data, no enriched roles).
var v2Formats = []string{"include_last_permit", "display"}

// handleListV2Policies is GET /v2/policies: every policy, in v2 shape. sort is accepted and
// ignored (the emulator's simplification: pages are in id order).
func handleListV2Policies(s *Server, q *request) reply {
	lq, problem := readPolicyListQuery(s, q)
	if problem != nil {
		return *problem
	}
	if f := q.query("format"); f != "" && !slices.Contains(v2Formats, f) {
		return errorReply(kindIAM, http.StatusBadRequest, codeInvalidQuery, "format must be include_last_permit or display.")
	}
	type filter struct {
		attrs func(*policy) []attr
		name  string
		value string
	}
	var filters []filter
	for _, f := range v2ListFilters {
		v := q.query(f.param)
		if v == "" {
			continue
		}
		lq.echo.Set(f.param, v)
		side := func(p *policy) []attr { return p.Resource }
		if f.subject {
			side = func(p *policy) []attr { return p.Subject }
		}
		filters = append(filters, filter{attrs: side, name: f.attribute, value: v})
	}
	keep := func(p *policy) bool {
		for _, f := range filters {
			if attrValue(f.attrs(p), f.name, true) != f.value {
				return false
			}
		}
		return true
	}
	return listPolicies(s, q, lq, "/v2/policies", keep, func(p *policy) any { return p.wireV2(q.base) })
}

// findPolicy is the GET of both versions: deleted policies are still readable, and a policy
// just created answers 404 for the NotFoundAfterCreate window.
func findPolicy(s *Server, q *request, template string) (*policy, *reply) {
	p := s.st.policies[q.params["id"]]
	if p == nil {
		r := policyNotFound(q.params["id"])
		return nil, &r
	}
	if w := s.faults.NotFoundAfterCreate; w > 0 && !p.createdByAPI.IsZero() && q.now.Sub(p.createdByAPI) < w {
		s.stats.fault(routeOf(s, http.MethodGet, template), http.StatusNotFound)
		r := policyNotFound(p.ID)
		return nil, &r
	}
	return p, nil
}

// handleGetPolicy is GET /v1/policies/{id}; a v2-made policy answers its placeholder (the
// emulator's assumption: IAM documents the placeholder for lists only).
func handleGetPolicy(s *Server, q *request) reply {
	p, problem := findPolicy(s, q, "/v1/policies/{id}")
	if problem != nil {
		return *problem
	}
	return jsonReply(http.StatusOK, p.wireV1(q.base)).withHeader("ETag", p.etag())
}

// handleGetV2Policy is GET /v2/policies/{id}: any policy in v2 shape; format as for the list.
func handleGetV2Policy(s *Server, q *request) reply {
	if f := q.query("format"); f != "" && !slices.Contains(v2Formats, f) {
		return errorReply(kindIAM, http.StatusBadRequest, codeInvalidQuery, "format must be include_last_permit or display.")
	}
	p, problem := findPolicy(s, q, "/v2/policies/{id}")
	if problem != nil {
		return *problem
	}
	return jsonReply(http.StatusOK, p.wireV2(q.base)).withHeader("ETag", p.etag())
}

// handleDeletePolicy is DELETE /v1/policies/{id} and DELETE /v2/policies/{id}: the policy
// stays, in state deleted. IBM advises deleting with the version that made a policy; the
// emulator's assumption is that either version deletes either.
func handleDeletePolicy(s *Server, q *request) reply {
	p := s.st.policies[q.params["id"]]
	if p == nil || p.State != policyStateActive {
		return policyNotFound(q.params["id"])
	}
	s.st.deletePolicy(p)
	p.LastModifiedAt, p.LastModifiedByID = q.now, q.token.iamID
	p.rev++
	return reply{status: http.StatusNoContent}
}

func policyNotFound(id string) reply {
	return errorReply(kindIAM, http.StatusNotFound, "policy_not_found", "Policy with id "+id+" not found.")
}

// handleListRoles is GET /v2/roles, as iampolicymanagementv1.ListRoles calls it: account_id,
// service_name, source_service_name, policy_type and service_group_id in the query,
// Accept-Language as a header (accepted; the emulator answers in English only). The answer is
// a RoleCollection: custom_roles, service_roles and system_roles, all always present.
func handleListRoles(s *Server, q *request) reply {
	serviceRoles, systemRoles := s.st.iam.rolesFor(q.query("service_name"), q.query("source_service_name"), q.query("policy_type"))
	return jsonReply(http.StatusOK, map[string]any{
		"custom_roles":  []any{},
		"service_roles": serviceRoles,
		"system_roles":  systemRoles,
	})
}

// parseLimit reads a page size: empty gives def, anything but an integer in [1,max] is refused.
func parseLimit(s string, def, maxLimit int) (int, bool) {
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, false
	}
	return n, true
}

// routeOf finds a route by key, for counting faults decided inside a handler.
func routeOf(s *Server, method, template string) *route {
	for _, rt := range s.routes {
		if rt.method == method && rt.template == template {
			return rt
		}
	}
	return &route{method: method, template: template}
}
