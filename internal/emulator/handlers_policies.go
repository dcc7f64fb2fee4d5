package emulator

import (
	"net/http"
	"net/url"
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
	err := checkSyntax(q.body)
	var p *policy
	if err == nil {
		p, err = parsePolicy("$", q.body, fromRequest)
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
	p.ID = s.st.newID("policy", func(id string) bool { return s.st.policies[id] != nil })
	p.CreatedAt, p.LastModifiedAt = q.now, q.now
	p.CreatedByID, p.LastModifiedByID = q.token.iamID, q.token.iamID
	p.createdByAPI = q.now
	p.rev = 1
	s.st.addPolicy(p)
	return jsonReply(http.StatusCreated, p.wire(q.base)).withHeader("ETag", p.etag())
}

// conflictReply is IAM's 409 for a policy that already exists, in the shape of the facts file
// (the SDK models conflicts_with.policy as a string, so clients read it from the raw map).
func conflictReply(existing *policy, base string) reply {
	return jsonReply(http.StatusConflict, map[string]any{
		"trace": randomHex(16),
		"errors": []map[string]any{{
			"code":    "policy_conflict_error",
			"message": "Failed to create policy.",
			"details": map[string]any{
				"conflicts_with": map[string]any{
					"etag":   existing.etag(),
					"policy": existing.wire(base),
				},
			},
		}},
		"status_code": http.StatusConflict,
	})
}

// handleListPolicies is GET /v1/policies. Pages follow the id order and the start token is the
// last id of the previous page, so paging stays consistent while policies come and go.
// Attribute filters do not exist server-side (facts file); iam_id, access_group_id, sort and
// format are accepted and ignored (the emulator's simplification).
func handleListPolicies(s *Server, q *request) reply {
	account := q.query("account_id")
	if account == "" {
		return errorReply(kindIAM, http.StatusBadRequest, "missing_required_query_parameter", "The account_id query parameter is required.")
	}
	if account != s.st.account {
		return errorReply(kindIAM, http.StatusForbidden, codeForbidden, "You are not allowed to list the policies of account "+account+".")
	}
	typ := q.query("type")
	if typ != "" && typ != "access" && typ != "authorization" {
		return errorReply(kindIAM, http.StatusBadRequest, codeInvalidQuery, "type must be access or authorization.")
	}
	state := q.query("state")
	switch state {
	case "":
		state = policyStateActive
	case policyStateActive, policyStateDeleted:
	default:
		return errorReply(kindIAM, http.StatusBadRequest, codeInvalidQuery, "state must be active or deleted.")
	}
	limit, ok := parseLimit(q.query("limit"), defaultPolicyLimit, maxPolicyLimit)
	if !ok {
		return errorReply(kindIAM, http.StatusBadRequest, codeInvalidQuery, "limit must be an integer from 1 to 100.")
	}
	after := ""
	if start := q.query("start"); start != "" {
		if after, ok = decodeStart(start); !ok {
			return errorReply(kindIAM, http.StatusBadRequest, codeInvalidQuery, "start is not a token returned by this API.")
		}
	}
	var page []policyJSON
	more := false
	var last string
	for p := range s.st.policiesAfter(after) {
		if p.State != state || (typ != "" && p.Type != typ) {
			continue
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, p.wire(q.base))
		last = p.ID
	}
	if page == nil {
		page = []policyJSON{}
	}
	listQuery := url.Values{"account_id": {account}, "limit": {strconv.Itoa(limit)}}
	if typ != "" {
		listQuery.Set("type", typ)
	}
	if q.query("state") != "" {
		listQuery.Set("state", state)
	}
	out := map[string]any{
		"limit":    limit,
		"first":    map[string]string{"href": q.base + "/v1/policies?" + listQuery.Encode()},
		"policies": page,
	}
	if more {
		start := encodeStart(last)
		listQuery.Set("start", start)
		out["next"] = map[string]string{"href": q.base + "/v1/policies?" + listQuery.Encode(), "start": start}
	}
	return jsonReply(http.StatusOK, out)
}

// handleGetPolicy is GET /v1/policies/{id}; deleted policies are still readable.
func handleGetPolicy(s *Server, q *request) reply {
	p := s.st.policies[q.params["id"]]
	if p == nil {
		return policyNotFound(q.params["id"])
	}
	if w := s.faults.NotFoundAfterCreate; w > 0 && !p.createdByAPI.IsZero() && q.now.Sub(p.createdByAPI) < w {
		s.stats.fault(routeOf(s, http.MethodGet, "/v1/policies/{id}"), http.StatusNotFound)
		return policyNotFound(p.ID)
	}
	return jsonReply(http.StatusOK, p.wire(q.base)).withHeader("ETag", p.etag())
}

// handleDeletePolicy is DELETE /v1/policies/{id}: the policy stays, in state deleted.
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
