package emulator_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/platform-services-go-sdk/globaltaggingv1"
	"github.com/IBM/vpc-go-sdk/vpcv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

func TestTagAttachAndDetachChangeSnapshotUserTags(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	crn := emulator.SnapshotCRN(sampleAccount, "us-south", untaggedSnapshotID)
	restoreTag := "s2s-restore:" + otherAccount
	userTags := func() string {
		t.Helper()
		s, _, err := c.vpc(t, "us-south").GetSnapshot(&vpcv1.GetSnapshotOptions{ID: core.StringPtr(untaggedSnapshotID)})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(s.UserTags)
	}
	resource := func(id string) []globaltaggingv1.Resource {
		return []globaltaggingv1.Resource{{ResourceID: core.StringPtr(id)}}
	}
	steps := []struct {
		name   string
		attach bool
		tags   []string
		want   string
	}{
		{"attach", true, []string{restoreTag, "env:dev"}, "[" + restoreTag + " env:dev]"},
		{"attach again is idempotent", true, []string{restoreTag}, "[" + restoreTag + " env:dev]"},
		{"detach one", false, []string{"env:dev"}, "[" + restoreTag + "]"},
		{"detach again is idempotent", false, []string{"env:dev"}, "[" + restoreTag + "]"},
		{"detach the last", false, []string{restoreTag}, "[]"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var res *globaltaggingv1.TagResults
			var err error
			if st.attach {
				res, _, err = c.tagging.AttachTag(c.tagging.NewAttachTagOptions().SetResources(resource(crn)).SetTagNames(st.tags))
			} else {
				res, _, err = c.tagging.DetachTag(c.tagging.NewDetachTagOptions().SetResources(resource(crn)).SetTagNames(st.tags))
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Results) != 1 || *res.Results[0].IsError || *res.Results[0].ResourceID != crn {
				t.Errorf("results = %+v", res.Results)
			}
			if got := userTags(); got != st.want {
				t.Errorf("user_tags = %s, want %s", got, st.want)
			}
		})
	}

	// An unknown resource is reported per resource, not as a failed request.
	unknown := emulator.SnapshotCRN(sampleAccount, "us-south", "r006-unknown")
	res, _, err := c.tagging.AttachTag(c.tagging.NewAttachTagOptions().SetResources(append(resource(unknown), resource(crn)...)).SetTagNames([]string{"x:y"}))
	if err != nil || !*res.Results[0].IsError || *res.Results[1].IsError || res.Results[0].Message == nil {
		t.Errorf("mixed attach = %+v, %v", res, err)
	}

	list, _, err := c.tagging.ListTags(c.tagging.NewListTagsOptions().SetAttachedTo(crn))
	if err != nil || *list.TotalCount != 1 || *list.Items[0].Name != "x:y" {
		t.Errorf("ListTags = %+v, %v", list, err)
	}
	all, _, err := c.tagging.ListTags(c.tagging.NewListTagsOptions().SetLimit(2).SetOffset(1))
	if err != nil || *all.TotalCount != 3 || len(all.Items) != 2 || *all.Items[0].Name != "s2s-restore:"+otherAccount {
		t.Errorf("ListTags of the account = %+v, %v", all, err)
	}
}

func TestTagRequestValidation(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	tok := c.token(t)
	crn := emulator.SnapshotCRN(sampleAccount, "us-south", taggedSnapshotID)
	tests := []struct {
		name, url, body string
		status          int
		message         string
	}{
		{"tag too long", "/v3/tags/attach", `{"resources":[{"resource_id":"` + crn + `"}],"tag_names":["` + strings.Repeat("a", 129) + `"]}`, 400, "longer than 128"},
		{"bad character", "/v3/tags/attach", `{"resources":[{"resource_id":"` + crn + `"}],"tag_names":["a,b"]}`, 400, "may only contain"},
		{"no tags", "/v3/tags/detach", `{"resources":[{"resource_id":"` + crn + `"}]}`, 400, "$.tag_names: required"},
		{"no resources", "/v3/tags/attach", `{"tag_names":["a"]}`, 400, "$.resources: required"},
		{"query", "/v3/tags/attach", `{"query":{"query_string":"name:x"},"tag_names":["a"],"resources":[{"resource_id":"` + crn + `"}]}`, 400, "$.query: not supported"},
		{"access tags", "/v3/tags/attach?tag_type=access", `{"resources":[{"resource_id":"` + crn + `"}],"tag_names":["a"]}`, 400, "only user tags"},
		{"other account", "/v3/tags/attach?account_id=" + otherAccount, `{"resources":[{"resource_id":"` + crn + `"}],"tag_names":["a"]}`, 403, otherAccount},
		{"malformed", "/v3/tags/detach", `{`, 400, "$: invalid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, http.MethodPost, c.ep.Tagging+tc.url, tok, []byte(tc.body))
			if a.status != tc.status {
				t.Fatalf("status = %d: %s", a.status, a.raw)
			}
			if msg, _ := path(a.body, "errors", 0, "message").(string); !strings.Contains(msg, tc.message) {
				t.Errorf("message = %q, want %q", msg, tc.message)
			}
		})
	}
	if tags := srv.World().Snapshots[0].UserTags; len(tags) != 2 {
		t.Errorf("a refused request changed the tags: %v", tags)
	}
}
