package emulator

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// Global catalog ids of the key managers, the resource_id of their instances. Key Protect's is
// the one the Terraform provider uses; the HPCS one is the emulator's assumption (unconfirmed),
// kept here so that it is one change.
const (
	KeyProtectResourceID = "ee41347f-b18e-4ca6-bf80-b5467c63f9a6"
	HPCSResourceID       = "hs-crypto"
)

const (
	defaultInstanceLimit = 100
	maxInstanceLimit     = 100
	instanceStateActive  = "active"
	instanceStateRemoved = "removed"
)

func catalogID(service string) string {
	if service == "hs-crypto" {
		return HPCSResourceID
	}
	return KeyProtectResourceID
}

// planID is a stable made-up plan id per service (worlds do not model plans).
func planID(service string) string { return derivedUUID("plan", service) }

func instanceNotFound(id string) reply {
	return errorReply(kindRC, http.StatusNotFound, "RC-ResourceInstanceNotFound", "Instance with id "+id+" was not found")
}

// handleGetInstance is GET /v2/resource_instances/{id}; id is a GUID or a URL-encoded CRN.
// Removed instances stay readable with state "removed", as in Resource Controller.
func handleGetInstance(s *Server, q *request) reply {
	in := s.st.instance(q.params["id"])
	if in == nil {
		return instanceNotFound(q.params["id"])
	}
	return jsonReply(http.StatusOK, instanceWire(s.st.account, in, q.base))
}

// handleListInstances is GET /v2/resource_instances; removed instances are left out unless
// state=removed asks for them. Paging follows the GUID order with next_url holding "start", as
// resourcecontrollerv2's pager expects.
func handleListInstances(s *Server, q *request) reply {
	limit, ok := parseLimit(q.query("limit"), defaultInstanceLimit, maxInstanceLimit)
	if !ok {
		return errorReply(kindRC, http.StatusBadRequest, "RC-BadRequest", "limit must be an integer from 1 to 100")
	}
	after := ""
	if start := q.query("start"); start != "" {
		if after, ok = decodeStart(start); !ok {
			return errorReply(kindRC, http.StatusBadRequest, "RC-BadRequest", "start is not a token returned by this API")
		}
	}
	want := q.query("state")
	if want == "" {
		want = instanceStateActive
	}
	filters := map[string]string{}
	for _, f := range []string{"guid", "name", "resource_id", "resource_group_id", "resource_plan_id", "type"} {
		if v := q.query(f); v != "" {
			filters[f] = v
		}
	}
	var matching []*instanceState
	for _, in := range s.st.instances {
		if in.state() != want {
			continue
		}
		fields := map[string]string{
			"guid": in.GUID, "name": in.Name, "resource_id": catalogID(in.Service),
			"resource_group_id": resourceGroupID(s.st.account), "resource_plan_id": planID(in.Service),
			"type": "service_instance",
		}
		keep := true
		for f, v := range filters {
			keep = keep && fields[f] == v
		}
		if keep {
			matching = append(matching, in)
		}
	}
	sort.Slice(matching, func(i, j int) bool { return matching[i].GUID < matching[j].GUID })
	page := []instanceJSON{}
	var nextURL *string
	for _, in := range matching {
		if in.GUID <= after {
			continue
		}
		if len(page) == limit {
			next := url.Values{"limit": {strconv.Itoa(limit)}, "start": {encodeStart(page[len(page)-1].GUID)}}
			for f, v := range filters {
				next.Set(f, v)
			}
			if q.query("state") != "" {
				next.Set("state", want)
			}
			u := "/v2/resource_instances?" + next.Encode()
			nextURL = &u
			break
		}
		page = append(page, instanceWire(s.st.account, in, q.base))
	}
	return jsonReply(http.StatusOK, map[string]any{
		"rows_count": len(page),
		"next_url":   nextURL,
		"resources":  page,
	})
}

// handleDeleteInstance is DELETE /v2/resource_instances/{id}. Key Protect refuses to
// de-provision an instance that still holds active keys, which Resource Controller relays as
// 422 RC-ServiceBrokerErrorResponse (IBM's documented answer); otherwise 202 and the instance
// is "removed" at once.
func handleDeleteInstance(s *Server, q *request) reply {
	in := s.st.instance(q.params["id"])
	if in == nil || !in.removedAt.IsZero() {
		return instanceNotFound(q.params["id"])
	}
	active := 0
	for _, k := range in.keys {
		if !k.Deleted {
			active++
		}
	}
	if active > 0 {
		msg := "Please contact the Service Provider for this error. [409, Conflict] CONTAINS_ACTIVE_KEYS: Remove all keys before de-provisioning: Instance contains " +
			strconv.Itoa(active) + " active keys"
		return errorReply(kindRC, http.StatusUnprocessableEntity, "RC-ServiceBrokerErrorResponse", msg)
	}
	in.removedAt, in.removedBy = q.now, q.token.iamID
	return reply{status: http.StatusAccepted}
}

func (in *instanceState) state() string {
	if in.removedAt.IsZero() {
		return instanceStateActive
	}
	return instanceStateRemoved
}

type instanceJSON struct {
	ID                  string         `json:"id"`
	GUID                string         `json:"guid"`
	URL                 string         `json:"url"`
	CreatedAt           string         `json:"created_at"`
	UpdatedAt           string         `json:"updated_at"`
	DeletedAt           *string        `json:"deleted_at"`
	CreatedBy           string         `json:"created_by"`
	UpdatedBy           string         `json:"updated_by"`
	DeletedBy           string         `json:"deleted_by"`
	Name                string         `json:"name"`
	RegionID            string         `json:"region_id"`
	AccountID           string         `json:"account_id"`
	ResourcePlanID      string         `json:"resource_plan_id"`
	ResourceGroupID     string         `json:"resource_group_id"`
	ResourceGroupCRN    string         `json:"resource_group_crn"`
	TargetCRN           string         `json:"target_crn"`
	AllowCleanup        bool           `json:"allow_cleanup"`
	CRN                 string         `json:"crn"`
	State               string         `json:"state"`
	Type                string         `json:"type"`
	ResourceID          string         `json:"resource_id"`
	DashboardURL        string         `json:"dashboard_url"`
	LastOperation       map[string]any `json:"last_operation"`
	ResourceAliasesURL  string         `json:"resource_aliases_url"`
	ResourceBindingsURL string         `json:"resource_bindings_url"`
	ResourceKeysURL     string         `json:"resource_keys_url"`
	Migrated            bool           `json:"migrated"`
	Extensions          map[string]any `json:"extensions"`
	Locked              bool           `json:"locked"`
}

// instanceWire renders a resource instance; like Resource Controller, its id is its CRN.
func instanceWire(account string, in *instanceState, base string) instanceJSON {
	crn := in.crn(account)
	created := worldEpoch().Format(time.RFC3339)
	out := instanceJSON{
		ID: crn, GUID: in.GUID, URL: "/v2/resource_instances/" + in.GUID,
		CreatedAt: created, UpdatedAt: created,
		CreatedBy: worldCreator, UpdatedBy: worldCreator,
		Name: in.Name, RegionID: in.Region, AccountID: account,
		ResourcePlanID:   planID(in.Service),
		ResourceGroupID:  resourceGroupID(account),
		ResourceGroupCRN: "crn:v1:bluemix:public:resource-controller::a/" + account + "::resource-group:" + resourceGroupID(account),
		TargetCRN:        "crn:v1:bluemix:public:globalcatalog::::deployment:" + planID(in.Service) + ":" + in.Region,
		CRN:              crn, State: in.state(), Type: "service_instance",
		ResourceID:          catalogID(in.Service),
		DashboardURL:        base + "/services/" + in.Service + "/" + url.PathEscape(crn),
		LastOperation:       map[string]any{"type": "create", "state": "succeeded", "async": false},
		ResourceAliasesURL:  "/v2/resource_instances/" + in.GUID + "/resource_aliases",
		ResourceBindingsURL: "/v2/resource_instances/" + in.GUID + "/resource_bindings",
		ResourceKeysURL:     "/v2/resource_instances/" + in.GUID + "/resource_keys",
		Extensions:          map[string]any{},
	}
	if !in.removedAt.IsZero() {
		d := in.removedAt.UTC().Format(time.RFC3339)
		out.DeletedAt, out.UpdatedAt = &d, d
		out.DeletedBy, out.UpdatedBy = in.removedBy, in.removedBy
		out.LastOperation = map[string]any{"type": "delete", "state": "succeeded", "async": false}
	}
	return out
}
