package emulator_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/vpc-go-sdk/vpcv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

func TestConcurrentCreatesOfOnePolicy(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	c.token(t)
	const n = 16
	statuses := make([]int, n)
	conflictIDs := make([]any, n)
	createdIDs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, resp, _ := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, kpGUID))
			if resp == nil {
				return
			}
			statuses[i] = resp.StatusCode
			if p != nil {
				createdIDs[i] = *p.ID
			} else {
				conflictIDs[i] = path(resp.Result, "errors", 0, "details", "conflicts_with", "policy", "id")
			}
		})
	}
	wg.Wait()
	var winner string
	created, conflicts := 0, 0
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
			winner = createdIDs[i]
		case http.StatusConflict:
			conflicts++
		default:
			t.Errorf("request %d: status %d", i, s)
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("%d created, %d conflicts", created, conflicts)
	}
	for i, id := range conflictIDs {
		if statuses[i] == http.StatusConflict && id != winner {
			t.Errorf("409 %d names %v, want %s", i, id, winner)
		}
	}
	if st := srv.Stats(); st.PolicyWrites != n {
		t.Errorf("policy writes = %d", st.PolicyWrites)
	}
}

// TestConcurrentMixedTraffic is for the race detector: every service at once, with faults and
// stats being read and changed meanwhile.
func TestConcurrentMixedTraffic(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	c.token(t)
	vpc := c.vpc(t, "us-south")
	crn := emulator.SnapshotCRN(sampleAccount, "us-south", taggedSnapshotID)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 10 {
				_, _, _ = c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, instanceGUID(i)))
				_, _, _ = c.policies.ListPoliciesWithContext(ctx, c.policies.NewListPoliciesOptions(sampleAccount))
				_, _, _ = vpc.GetSnapshotWithContext(ctx, &vpcv1.GetSnapshotOptions{ID: core.StringPtr(taggedSnapshotID)})
				_, _, _ = c.tagging.AttachTagWithContext(ctx, c.tagging.NewAttachTagOptions().
					SetResources(resourceOf(crn)).SetTagNames([]string{"t:x"}))
				_, _, _ = c.rc.GetResourceInstanceWithContext(ctx, c.rc.NewGetResourceInstanceOptions(kpGUID))
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			srv.SetFaults(emulator.Faults{P500: 0.1})
			_ = srv.Stats()
			_ = srv.World()
			srv.ResetStats()
		}
	})
	wg.Wait()
	if n := len(srv.World().Policies); n != 9 {
		t.Errorf("policies = %d, want 9 (8 created + the sample's)", n)
	}
}
