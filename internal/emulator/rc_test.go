package emulator_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/IBM/platform-services-go-sdk/resourcecontrollerv2"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

func TestResourceInstancesGet(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	kpCRN := emulator.InstanceCRN("kms", sampleAccount, "us-south", kpGUID)
	tests := []struct {
		name, id, wantCRN, wantResourceID string
	}{
		{"by guid", kpGUID, kpCRN, emulator.KeyProtectResourceID},
		{"by crn", kpCRN, kpCRN, emulator.KeyProtectResourceID},
		{"hpcs", hpcsGUID, emulator.InstanceCRN("hs-crypto", sampleAccount, "us-south", hpcsGUID), emulator.HPCSResourceID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, _, err := c.rc.GetResourceInstance(c.rc.NewGetResourceInstanceOptions(tc.id))
			if err != nil {
				t.Fatal(err)
			}
			if *in.ID != tc.wantCRN || *in.CRN != tc.wantCRN || *in.AccountID != sampleAccount || *in.RegionID != "us-south" ||
				*in.State != "active" || *in.Type != "service_instance" || *in.ResourceID != tc.wantResourceID || *in.GUID == "" || *in.Name == "" {
				t.Errorf("instance = %+v", in)
			}
		})
	}
	_, resp, err := c.rc.GetResourceInstance(c.rc.NewGetResourceInstanceOptions("00000000-0000-4000-8000-000000000000"))
	if err == nil || resp.StatusCode != http.StatusNotFound || path(resp.Result, "message") == nil || path(resp.Result, "status_code") != float64(404) {
		t.Errorf("unknown instance: %v, %v", resp, err)
	}
}

func TestResourceInstancesList(t *testing.T) {
	ctx := context.Background()
	srv := start(t, sampleWorldWith(func(w *emulator.World) {
		for i := range 3 {
			w.KMSInstances = append(w.KMSInstances, emulator.KMSInstance{
				GUID: fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i), Service: "kms", Region: "eu-de", Name: fmt.Sprintf("kp-%d", i),
			})
		}
	}))
	c := newClients(t, srv)
	tests := []struct {
		name     string
		opts     *resourcecontrollerv2.ListResourceInstancesOptions
		wantN    int
		wantReqs int
	}{
		{"all in pages of 2", c.rc.NewListResourceInstancesOptions().SetLimit(2), 5, 3},
		{"key protect only", c.rc.NewListResourceInstancesOptions().SetResourceID(emulator.KeyProtectResourceID), 4, 1},
		{"hpcs only", c.rc.NewListResourceInstancesOptions().SetResourceID(emulator.HPCSResourceID).SetType("service_instance"), 1, 1},
		{"other type", c.rc.NewListResourceInstancesOptions().SetType("composite_instance"), 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.ResetStats()
			pager, err := c.rc.NewResourceInstancesPager(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			all, err := pager.GetAllWithContext(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != tc.wantN {
				t.Errorf("got %d instances, want %d", len(all), tc.wantN)
			}
			if got := srv.Stats().Calls["GET /v2/resource_instances"]; got != tc.wantReqs {
				t.Errorf("requests = %d, want %d", got, tc.wantReqs)
			}
		})
	}
}

func TestResourceInstanceDelete(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	// Key Protect refuses to de-provision an instance with active keys.
	resp, err := c.rc.DeleteResourceInstanceWithContext(ctx, c.rc.NewDeleteResourceInstanceOptions(kpGUID))
	if err == nil || resp.StatusCode != http.StatusUnprocessableEntity || path(resp.Result, "error_code") != "RC-ServiceBrokerErrorResponse" {
		t.Fatalf("delete with active keys: %v, %v", resp, err)
	}
	// Without keys it goes.
	if err := srv.Reset(sampleWorldWith(func(w *emulator.World) { w.KMSInstances[1].Keys = nil })); err != nil {
		t.Fatal(err)
	}
	hpcsCRN := emulator.InstanceCRN("hs-crypto", sampleAccount, "us-south", hpcsGUID)
	resp, err = c.rc.DeleteResourceInstanceWithContext(ctx, c.rc.NewDeleteResourceInstanceOptions(hpcsCRN))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %v, %v", resp, err)
	}
	in, _, err := c.rc.GetResourceInstanceWithContext(ctx, c.rc.NewGetResourceInstanceOptions(hpcsGUID))
	if err != nil || *in.State != "removed" || in.DeletedAt == nil {
		t.Errorf("removed instance = %+v, %v", in, err)
	}
	list, _, err := c.rc.ListResourceInstancesWithContext(ctx, c.rc.NewListResourceInstancesOptions())
	if err != nil || len(list.Resources) != 1 || *list.Resources[0].GUID != kpGUID {
		t.Errorf("list after delete = %+v, %v", list, err)
	}
	resp, err = c.rc.DeleteResourceInstanceWithContext(ctx, c.rc.NewDeleteResourceInstanceOptions(hpcsGUID))
	if err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("second delete: %v, %v", resp, err)
	}
	if n := len(srv.World().KMSInstances); n != 1 {
		t.Errorf("world keeps %d instances, want 1", n)
	}
}
