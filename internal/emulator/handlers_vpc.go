package emulator

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

const (
	defaultSnapshotLimit = 50
	maxSnapshotLimit     = 100
	// snapshotSizeGB is the size the emulator gives every snapshot (worlds carry none).
	snapshotSizeGB = 100
)

// vpcVersioned checks what every VPC request carries (facts file, section 3): version=YYYY-MM-DD
// and generation=2. The error codes are the emulator's assumption, in VPC's error shape.
func vpcVersioned(h handlerFunc) handlerFunc {
	return func(s *Server, q *request) reply {
		version := q.query("version")
		if version == "" {
			return vpcParamError("missing_version", "The `version` query parameter is required.", "version")
		}
		if !validVersion(version) {
			return vpcParamError("invalid_version", "The `version` query parameter must be a date in the format YYYY-MM-DD.", "version")
		}
		if g := q.query("generation"); g != "2" {
			return vpcParamError("invalid_generation", "The `generation` query parameter must be 2.", "generation")
		}
		return h(s, q)
	}
}

// findSnapshot looks a snapshot up within the request's region (all regions on the unscoped
// /v1 paths).
func findSnapshot(s *Server, q *request) *snapshotState {
	sn := s.st.snapshot(q.params["id"])
	if sn == nil || (q.region != "" && sn.Region != q.region) {
		return nil
	}
	return sn
}

func snapshotNotFound(id string) reply {
	return errorReply(kindVPC, http.StatusNotFound, "snapshot_not_found", "Snapshot not found: "+id)
}

// handleListSnapshots is GET /v1/snapshots with the tag (one exact user tag) and name filters.
func handleListSnapshots(s *Server, q *request) reply {
	limit, after, bad := vpcPage(q, defaultSnapshotLimit, maxSnapshotLimit)
	if bad != nil {
		return *bad
	}
	tag, name := q.query("tag"), q.query("name")
	// One pass over the id-sorted snapshots: total_count counts every match, the page takes
	// the matches after the start token.
	page := []snapshotJSON{}
	more := false
	total := 0
	for _, sn := range s.st.snapshotOrder {
		if (q.region != "" && sn.Region != q.region) || (tag != "" && !slices.Contains(sn.UserTags, tag)) || (name != "" && sn.Name != name) {
			continue
		}
		total++
		if sn.ID <= after || more {
			continue
		}
		if len(page) == limit {
			more = true
			continue
		}
		page = append(page, snapshotWire(s.st.account, sn, q.base))
	}
	listURL := q.base + q.prefix + "/v1/snapshots"
	query := url.Values{"limit": {strconv.Itoa(limit)}}
	if tag != "" {
		query.Set("tag", tag)
	}
	if name != "" {
		query.Set("name", name)
	}
	out := map[string]any{
		"first":       map[string]string{"href": listURL + "?" + query.Encode()},
		"limit":       limit,
		"snapshots":   page,
		"total_count": total,
	}
	if more {
		// vpcv1's pager reads "start" out of next.href, so it must be a full URL carrying it.
		query.Set("start", encodeStart(page[len(page)-1].ID))
		out["next"] = map[string]string{"href": listURL + "?" + query.Encode()}
	}
	return jsonReply(http.StatusOK, out)
}

// handleGetSnapshot is GET /v1/snapshots/{id}; the ETag is what PATCH and DELETE check
// If-Match against.
func handleGetSnapshot(s *Server, q *request) reply {
	sn := findSnapshot(s, q)
	if sn == nil {
		return snapshotNotFound(q.params["id"])
	}
	return jsonReply(http.StatusOK, snapshotWire(s.st.account, sn, q.base)).withHeader("ETag", sn.etag())
}

// handleUpdateSnapshot is PATCH /v1/snapshots/{id}, a JSON merge patch of name and user_tags.
// VPC requires If-Match when the patch holds an array (vpcv1.UpdateSnapshotOptions.IfMatch);
// without it the emulator answers 428 (its assumption of the status).
func handleUpdateSnapshot(s *Server, q *request) reply {
	sn := findSnapshot(s, q)
	if sn == nil {
		return snapshotNotFound(q.params["id"])
	}
	if err := checkSyntax(q.body); err != nil {
		return errorReply(kindVPC, http.StatusBadRequest, "bad_request", err.Error())
	}
	o, err := readObject("$", q.body)
	if err != nil {
		return errorReply(kindVPC, http.StatusBadRequest, "bad_request", err.Error())
	}
	name, err := o.str("name", false)
	if err != nil {
		return errorReply(kindVPC, http.StatusBadRequest, "bad_request", err.Error())
	}
	if name != "" && !isVPCName(name) {
		return errorReply(kindVPC, http.StatusBadRequest, "invalid_name", "$.name: "+strconv.Quote(name)+" is not a valid name")
	}
	raw, tagsGiven := o.fields["user_tags"]
	tags, err := userTags(o)
	if err != nil {
		return errorReply(kindVPC, http.StatusBadRequest, "invalid_user_tags", err.Error())
	}
	if err := o.finish(); err != nil {
		return errorReply(kindVPC, http.StatusBadRequest, "bad_request", err.Error()+" (only name and user_tags can be patched)")
	}
	ifMatch := q.r.Header.Get("If-Match")
	if tagsGiven && jsonKind(raw) == "array" && ifMatch == "" {
		return errorReply(kindVPC, http.StatusPreconditionRequired, "missing_if_match", "If-Match is required when the patch contains an array.")
	}
	if ifMatch != "" && ifMatch != "*" && ifMatch != sn.etag() {
		return errorReply(kindVPC, http.StatusPreconditionFailed, "precondition_failed", "The If-Match value does not match the current ETag of the snapshot.")
	}
	if name != "" {
		sn.Name = name
	}
	if tagsGiven {
		sn.UserTags = tags // null removes the member in a merge patch: no tags
	}
	sn.rev++
	return jsonReply(http.StatusOK, snapshotWire(s.st.account, sn, q.base)).withHeader("ETag", sn.etag())
}

// handleDeleteSnapshot is DELETE /v1/snapshots/{id}: 202 with no body (what VPC answers; vpcv1
// accepts any 2xx). The snapshot is gone at once, where VPC would show "deleting" for a while.
func handleDeleteSnapshot(s *Server, q *request) reply {
	sn := findSnapshot(s, q)
	if sn == nil {
		return snapshotNotFound(q.params["id"])
	}
	if m := q.r.Header.Get("If-Match"); m != "" && m != "*" && m != sn.etag() {
		return errorReply(kindVPC, http.StatusPreconditionFailed, "precondition_failed", "The If-Match value does not match the current ETag of the snapshot.")
	}
	s.st.removeSnapshot(sn.ID)
	return reply{status: http.StatusAccepted}
}

// etag is VPC's weak entity tag; it changes with every modification.
func (sn *snapshotState) etag() string {
	return `W/"` + shortHash("snapshot", sn.ID, itoa(sn.rev)) + `"`
}

type snapshotJSON struct {
	Bootable          bool              `json:"bootable"`
	CapturedAt        string            `json:"captured_at"`
	Clones            []any             `json:"clones"`
	Copies            []any             `json:"copies"`
	CreatedAt         string            `json:"created_at"`
	CRN               string            `json:"crn"`
	Deletable         bool              `json:"deletable"`
	Encryption        string            `json:"encryption"`
	EncryptionKey     map[string]string `json:"encryption_key,omitempty"`
	Href              string            `json:"href"`
	ID                string            `json:"id"`
	LifecycleState    string            `json:"lifecycle_state"`
	MinimumCapacity   int               `json:"minimum_capacity"`
	Name              string            `json:"name"`
	ResourceGroup     map[string]string `json:"resource_group"`
	ResourceType      string            `json:"resource_type"`
	ServiceTags       []string          `json:"service_tags"`
	Size              int               `json:"size"`
	SourceVolume      map[string]string `json:"source_volume"`
	StorageGeneration int               `json:"storage_generation"`
	UserTags          []string          `json:"user_tags"`
}

// snapshotWire renders a snapshot with every field vpcv1.Snapshot marks required. Hrefs point at
// the snapshot's regional endpoint, as VPC's do. The source volume is derived from the snapshot
// (worlds do not model volumes).
func snapshotWire(account string, sn *snapshotState, base string) snapshotJSON {
	regional := base + "/vpc/" + sn.Region + "/v1"
	volumeID := sn.ID[:min(4, len(sn.ID))] + "-" + derivedUUID("volume", account, sn.ID)
	out := snapshotJSON{
		CapturedAt:        sn.createdAt.UTC().Format(time.RFC3339),
		Clones:            []any{},
		Copies:            []any{},
		CreatedAt:         sn.createdAt.UTC().Format(time.RFC3339),
		CRN:               SnapshotCRN(account, sn.Region, sn.ID),
		Deletable:         true,
		Encryption:        "provider_managed",
		Href:              regional + "/snapshots/" + sn.ID,
		ID:                sn.ID,
		LifecycleState:    "stable",
		MinimumCapacity:   snapshotSizeGB,
		Name:              sn.Name,
		ResourceGroup:     resourceGroupRef(account, base),
		ResourceType:      "snapshot",
		ServiceTags:       []string{},
		Size:              snapshotSizeGB,
		StorageGeneration: 1,
		UserTags:          append([]string{}, sn.UserTags...),
		SourceVolume: map[string]string{
			"crn":           "crn:v1:bluemix:public:is:" + sn.Region + "-1:a/" + account + "::volume:" + volumeID,
			"href":          regional + "/volumes/" + volumeID,
			"id":            volumeID,
			"name":          sn.Name + "-source",
			"resource_type": "volume",
		},
	}
	if sn.EncryptionKeyCRN != "" {
		out.Encryption = "user_managed"
		out.EncryptionKey = map[string]string{"crn": sn.EncryptionKeyCRN}
	}
	return out
}

// resourceGroupRef is the account's default resource group, where everything of a world lives.
func resourceGroupRef(account, base string) map[string]string {
	id := resourceGroupID(account)
	return map[string]string{"href": base + "/v2/resource_groups/" + id, "id": id, "name": "Default"}
}

func resourceGroupID(account string) string { return shortHash("resource-group", account) }

// vpcPage reads a VPC list's limit and start (the token of an earlier page's next.href); bad is
// the VPC API's 400 when either is wrong.
func vpcPage(q *request, defaultLimit, maxLimit int) (limit int, after string, bad *reply) {
	limit, ok := parseLimit(q.query("limit"), defaultLimit, maxLimit)
	if !ok {
		r := vpcParamError("invalid_limit", "The `limit` query parameter must be an integer from 1 to 100.", "limit")
		return 0, "", &r
	}
	if start := q.query("start"); start != "" {
		if after, ok = decodeStart(start); !ok {
			r := vpcParamError("invalid_start", "The `start` query parameter is not a token returned by this API.", "start")
			return 0, "", &r
		}
	}
	return limit, after, nil
}
