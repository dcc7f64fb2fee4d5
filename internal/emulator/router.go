package emulator

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// serviceKind says which IBM service a route belongs to: it decides the error body shape and
// whether the route is an IBM API call at all.
type serviceKind int

const (
	kindToken serviceKind = iota
	kindIAM               // policies, roles and API key details share IAM's error shape
	kindVPC
	kindTagging
	kindRC
	kindKMS
)

type handlerFunc func(s *Server, q *request) reply

type route struct {
	method      string
	template    string
	kind        serviceKind
	write       bool
	policyWrite bool
	handle      handlerFunc
}

func (r *route) key() string { return r.method + " " + r.template }

func newRoute(method, template string, kind serviceKind, h handlerFunc) *route {
	return &route{
		method: method, template: template, kind: kind, handle: h,
		write: method == http.MethodPost || method == http.MethodPatch || method == http.MethodDelete,
		policyWrite: (template == "/v1/policies" || template == "/v2/policies") && method == http.MethodPost ||
			(template == "/v1/policies/{id}" || template == "/v2/policies/{id}") && method == http.MethodDelete,
	}
}

// routeTable is every IBM API route the emulator serves. All services share one address: their
// paths do not collide.
func routeTable() []*route {
	const get, post, patch, del = http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete
	return []*route{
		newRoute(post, "/identity/token", kindToken, handleToken),
		// Key Protect's own client asks IAM's OIDC path for tokens.
		newRoute(post, "/oidc/token", kindToken, handleToken),
		newRoute(get, "/v1/apikeys/details", kindIAM, handleAPIKeyDetails),
		newRoute(get, "/v1/policies", kindIAM, handleListPolicies),
		newRoute(post, "/v1/policies", kindIAM, handleCreatePolicy),
		newRoute(get, "/v1/policies/{id}", kindIAM, handleGetPolicy),
		newRoute(del, "/v1/policies/{id}", kindIAM, handleDeletePolicy),
		newRoute(get, "/v2/policies", kindIAM, handleListV2Policies),
		newRoute(post, "/v2/policies", kindIAM, handleCreateV2Policy),
		newRoute(get, "/v2/policies/{id}", kindIAM, handleGetV2Policy),
		newRoute(del, "/v2/policies/{id}", kindIAM, handleDeletePolicy),
		newRoute(get, "/v2/roles", kindIAM, handleListRoles),
		newRoute(get, "/v1/backup_policies", kindVPC, vpcVersioned(handleListBackupPolicies)),
		newRoute(get, "/v1/backup_policies/{id}", kindVPC, vpcVersioned(handleGetBackupPolicy)),
		newRoute(get, "/v1/snapshots", kindVPC, vpcVersioned(handleListSnapshots)),
		newRoute(get, "/v1/snapshots/{id}", kindVPC, vpcVersioned(handleGetSnapshot)),
		newRoute(patch, "/v1/snapshots/{id}", kindVPC, vpcVersioned(handleUpdateSnapshot)),
		newRoute(del, "/v1/snapshots/{id}", kindVPC, vpcVersioned(handleDeleteSnapshot)),
		newRoute(get, "/v3/tags", kindTagging, handleListTags),
		newRoute(post, "/v3/tags/attach", kindTagging, handleAttachTags),
		newRoute(post, "/v3/tags/detach", kindTagging, handleDetachTags),
		newRoute(get, "/v2/resource_instances", kindRC, handleListInstances),
		newRoute(get, "/v2/resource_instances/{id}", kindRC, handleGetInstance),
		newRoute(del, "/v2/resource_instances/{id}", kindRC, handleDeleteInstance),
		newRoute(get, "/api/v2/keys", kindKMS, kmsInstanceScoped(handleListKeys)),
		newRoute(post, "/api/v2/keys", kindKMS, kmsInstanceScoped(handleCreateKey)),
		newRoute(get, "/api/v2/keys/{id}", kindKMS, kmsInstanceScoped(handleGetKey)),
		newRoute(get, "/api/v2/keys/{id}/metadata", kindKMS, kmsInstanceScoped(handleGetKey)),
		newRoute(del, "/api/v2/keys/{id}", kindKMS, kmsInstanceScoped(handleDeleteKey)),
	}
}

// routeKeys lists "METHOD /template" of every route, for validating Faults.Routes.
func routeKeys() []string {
	var keys []string
	for _, r := range routeTable() {
		keys = append(keys, r.key())
	}
	return keys
}

// match is a request resolved to a route.
type match struct {
	rt     *route
	params map[string]string
	// region is set when a VPC route was reached through /vpc/{region}: the request then sees
	// only that region, as one regional VPC endpoint does.
	region string
	// prefix is the path before the API's own path ("/vpc/us-south"), for building hrefs.
	prefix string
}

// resolve finds the route of method and escaped path. Path parameters are matched on the
// escaped path and unescaped afterwards, so that a URL-encoded CRN ("a%2F…") stays one segment.
// It answers 404 for an unknown path and 405 (with the allowed methods) for a known path asked
// with the wrong method.
func resolve(routes []*route, method, escapedPath string) (match, int, []string) {
	segs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	var m match
	vpcOnly := false
	if len(segs) >= 3 && segs[0] == "vpc" && segs[2] == "v1" {
		region, err := url.PathUnescape(segs[1])
		if err != nil || !isRegion(region) {
			return m, http.StatusNotFound, nil
		}
		m.region, m.prefix, vpcOnly = region, "/vpc/"+segs[1], true
		segs = segs[2:]
	}
	var allowed []string
	for _, rt := range routes {
		if vpcOnly && rt.kind != kindVPC {
			continue
		}
		params, ok := matchTemplate(rt.template, segs)
		if !ok {
			continue
		}
		if rt.method != method {
			if !slices.Contains(allowed, rt.method) {
				allowed = append(allowed, rt.method)
			}
			continue
		}
		m.rt, m.params = rt, params
		return m, 0, nil
	}
	if len(allowed) > 0 {
		return m, http.StatusMethodNotAllowed, allowed
	}
	return m, http.StatusNotFound, nil
}

func matchTemplate(template string, segs []string) (map[string]string, bool) {
	tsegs := strings.Split(strings.TrimPrefix(template, "/"), "/")
	if len(tsegs) != len(segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, t := range tsegs {
		if name, ok := strings.CutPrefix(t, "{"); ok {
			v, err := url.PathUnescape(segs[i])
			if err != nil || v == "" {
				return nil, false
			}
			params[strings.TrimSuffix(name, "}")] = v
			continue
		}
		if t != segs[i] {
			return nil, false
		}
	}
	return params, true
}
