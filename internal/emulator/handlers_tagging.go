package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
)

const (
	defaultTagLimit = 100
	maxTagLimit     = 1000
)

// tagRequest is the body of POST /v3/tags/attach and /v3/tags/detach.
type tagRequest struct {
	resourceIDs []string
	tags        []string
}

func parseTagRequest(body []byte) (tagRequest, error) {
	var tr tagRequest
	if err := checkSyntax(body); err != nil {
		return tr, err
	}
	o, err := readObject("$", body)
	if err != nil {
		return tr, err
	}
	items, err := o.array("resources", true)
	if err != nil {
		return tr, err
	}
	for i, raw := range items {
		ro, err := readObject(fmt.Sprintf("$.resources[%d]", i), raw)
		if err != nil {
			return tr, err
		}
		id, err := ro.str("resource_id", true)
		if err != nil {
			return tr, err
		}
		ro.ignore("resource_type")
		if err := ro.finish(); err != nil {
			return tr, err
		}
		tr.resourceIDs = append(tr.resourceIDs, id)
	}
	one, err := o.str("tag_name", false)
	if err != nil {
		return tr, err
	}
	many, _, err := o.strings("tag_names")
	if err != nil {
		return tr, err
	}
	if one != "" {
		many = append([]string{one}, many...)
	}
	if len(many) == 0 {
		return tr, errAt("$.tag_names", "required (tag_name or tag_names)")
	}
	for i, t := range many {
		if msg := tagProblem(t); msg != "" {
			return tr, errAt(fmt.Sprintf("$.tag_names[%d]", i), "%q: %s", t, msg)
		}
		if !slices.Contains(tr.tags, t) {
			tr.tags = append(tr.tags, t)
		}
	}
	if _, ok := o.take("query"); ok {
		// Global Search queries select resources server-side; the emulator has no search index.
		return tr, errAt("$.query", "not supported by the emulator: name the resources")
	}
	return tr, o.finish()
}

// checkTagQuery handles what attach, detach and list share: user tags only (service tags need a
// service identity and access tags must be created first; the emulator models neither) and an
// optional account_id that must be the world's.
func checkTagQuery(s *Server, q *request) *reply {
	if t := q.query("tag_type"); t != "" && t != "user" {
		r := errorReply(kindTagging, http.StatusBadRequest, "bad_request", "tag_type "+strconv.Quote(t)+" is not supported by the emulator; only user tags are")
		return &r
	}
	if a := q.query("account_id"); a != "" && a != s.st.account {
		r := errorReply(kindTagging, http.StatusForbidden, "forbidden", "The token cannot tag resources of account "+a+".")
		return &r
	}
	return nil
}

func handleAttachTags(s *Server, q *request) reply {
	replace := q.query("replace") == "true"
	return changeTags(s, q, func(have, tags []string) []string {
		if replace {
			return append([]string{}, tags...)
		}
		for _, t := range tags {
			if !slices.Contains(have, t) {
				have = append(have, t)
			}
		}
		return have
	})
}

func handleDetachTags(s *Server, q *request) reply {
	return changeTags(s, q, func(have, tags []string) []string {
		return slices.DeleteFunc(have, func(t string) bool { return slices.Contains(tags, t) })
	})
}

// changeTags applies change to the user tags of each named resource; both operations are
// idempotent. A resource the account does not have is an is_error result rather than a failed
// request, as Global Tagging reports per resource. Only VPC snapshots carry tags in the emulator.
func changeTags(s *Server, q *request, change func(have, tags []string) []string) reply {
	if r := checkTagQuery(s, q); r != nil {
		return *r
	}
	tr, err := parseTagRequest(q.body)
	if err != nil {
		return errorReply(kindTagging, http.StatusBadRequest, "bad_request", err.Error())
	}
	results := []map[string]any{}
	for _, id := range tr.resourceIDs {
		sn := s.st.snapshotByCRN(id)
		if sn == nil {
			results = append(results, map[string]any{
				"resource_id": id, "is_error": true,
				"message": "The resource " + id + " was not found in account " + s.st.account + ".",
			})
			continue
		}
		before := append([]string{}, sn.UserTags...)
		sn.UserTags = change(sn.UserTags, tr.tags)
		if !slices.Equal(before, sn.UserTags) {
			sn.rev++
		}
		results = append(results, map[string]any{"resource_id": id, "is_error": false})
	}
	return jsonReply(http.StatusOK, map[string]any{"results": results})
}

// handleListTags is GET /v3/tags: the tags attached to one resource (attached_to) or all user
// tags in use in the account.
func handleListTags(s *Server, q *request) reply {
	if r := checkTagQuery(s, q); r != nil {
		return *r
	}
	limit, ok := parseLimit(q.query("limit"), defaultTagLimit, maxTagLimit)
	if !ok {
		return errorReply(kindTagging, http.StatusBadRequest, "bad_request", "limit must be an integer from 1 to 1000")
	}
	offset := 0
	if o := q.query("offset"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 {
			return errorReply(kindTagging, http.StatusBadRequest, "bad_request", "offset must be a non-negative integer")
		}
		offset = n
	}
	var names []string
	if crn := q.query("attached_to"); crn != "" {
		if sn := s.st.snapshotByCRN(crn); sn != nil {
			names = append(names, sn.UserTags...)
		}
	} else {
		for _, sn := range s.st.snapshots {
			for _, t := range sn.UserTags {
				if !slices.Contains(names, t) {
					names = append(names, t)
				}
			}
		}
	}
	sort.Strings(names)
	if q.query("order_by_name") == "desc" {
		slices.Reverse(names)
	}
	items := []map[string]string{}
	for i := offset; i < len(names) && len(items) < limit; i++ {
		items = append(items, map[string]string{"name": names[i]})
	}
	return jsonReply(http.StatusOK, map[string]any{
		"total_count": len(names),
		"offset":      offset,
		"limit":       limit,
		"items":       items,
	})
}
