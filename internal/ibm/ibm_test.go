package ibm_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/IBM/go-sdk-core/v5/core"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

func restoreAuth(snapshot string) authz.Authorization {
	return fixture.RestoreOf(snapshot, te.Restorer)
}

func TestPolicies(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	ctx := context.Background()
	p := e.Runtime.Cloud.Policies

	created, err := p.Create(ctx, restoreAuth(te.Snap))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.ID == "" || created.Key() != restoreAuth(te.Snap).Key() || created.Description != restoreAuth(te.Snap).Description() {
		t.Fatalf("created %+v", created)
	}

	_, err = p.Create(ctx, restoreAuth(te.Snap))
	var conflict *apply.ConflictError
	if !errors.As(err, &conflict) || conflict.Existing.ID != created.ID {
		t.Fatalf("duplicate create: %v, want a conflict naming %s", err, created.ID)
	}
	if o, ok := conflict.Existing.Owner(); !ok || o.Object != restoreAuth(te.Snap).Object {
		t.Errorf("the conflicting policy's marker was not read from the 409 body: %+v", conflict.Existing)
	}

	got, err := p.Get(ctx, created.ID)
	if err != nil || got.Key() != created.Key() || !got.Active() {
		t.Fatalf("get: %+v, %v", got, err)
	}
	if err := p.Delete(ctx, created.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got, err := p.Get(ctx, created.ID); err != nil || got.State != "deleted" || got.Active() {
		t.Errorf("after delete: %+v, %v; want state deleted", got, err)
	}
	if err := p.Delete(ctx, created.ID); !errors.Is(err, apply.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := p.Get(ctx, "no-such-policy"); !errors.Is(err, apply.ErrNotFound) {
		t.Errorf("get unknown: %v, want ErrNotFound", err)
	}
}

func TestPoliciesListAcrossPages(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	ctx := context.Background()
	p := e.Runtime.Cloud.Policies
	for i := range 250 {
		if _, err := p.Create(ctx, restoreAuth(fmt.Sprintf("r006-%04d", i))); err != nil {
			t.Fatal(err)
		}
	}
	e.Emulator.ResetStats()
	all, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 251 {
		t.Errorf("listed %d policies, want 250 + the sample world's one", len(all))
	}
	if pages := e.Emulator.Stats().Calls["GET /v2/policies"]; pages != 3 {
		t.Errorf("%d list calls, want 3 pages of 100", pages)
	}
}

func TestSnapshots(t *testing.T) {
	w := te.World()
	for i := range 230 {
		w.Snapshots = append(w.Snapshots, emulator.Snapshot{ID: fmt.Sprintf("r006-extra-%03d", i), Region: "us-south", Name: fmt.Sprintf("x%d", i)})
	}
	e := te.Start(t, w, nil)
	ctx := context.Background()
	s := e.Runtime.Cloud.Snapshots
	got, err := s.Get(ctx, "us-south", te.Snap)
	if err != nil || got == nil || got.CRN != te.SnapCRN || len(got.UserTags) != 2 {
		t.Fatalf("get: %+v, %v", got, err)
	}
	if got, err := s.Get(ctx, "us-south", "r006-gone"); got != nil || err != nil {
		t.Errorf("missing snapshot: %+v, %v; want nil, nil", got, err)
	}
	if got, err := s.Get(ctx, "eu-de", te.Snap); got != nil || err != nil {
		t.Errorf("a us-south snapshot read in eu-de: %+v, %v; want nil, nil", got, err)
	}
	e.Emulator.ResetStats()
	n := 0
	if err := s.List(ctx, "us-south", func(page []authz.Snapshot) error { n += len(page); return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 232 {
		t.Errorf("listed %d us-south snapshots, want 232", n)
	}
	if pages := e.Emulator.Stats().Calls["GET /v1/snapshots"]; pages != 3 {
		t.Errorf("%d list calls, want 3", pages)
	}
}

func TestInstancesAndKeys(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	ctx := context.Background()
	c := e.Runtime.Cloud
	inst, err := c.Instances.Get(ctx, te.KPGUID)
	if err != nil || inst == nil || inst.CRN != te.KPCRN || inst.Service != "kms" {
		t.Fatalf("instance: %+v, %v", inst, err)
	}
	if got, err := c.Instances.Get(ctx, "00000000-0000-4000-8000-000000000000"); got != nil || err != nil {
		t.Errorf("missing instance: %+v, %v", got, err)
	}
	all, err := c.Instances.List(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("list: %+v, %v", all, err)
	}
	root, err := c.Keys.Get(ctx, *inst, te.RootKey)
	if err != nil || root == nil || !root.Root || root.Deleted || root.CRN != te.RootKeyCRN {
		t.Fatalf("root key: %+v, %v", root, err)
	}
	std, err := c.Keys.Get(ctx, *inst, te.StdKey)
	if err != nil || std == nil || std.Root {
		t.Fatalf("standard key: %+v, %v", std, err)
	}
	if got, err := c.Keys.Get(ctx, *inst, "no-such-key"); got != nil || err != nil {
		t.Errorf("missing key: %+v, %v", got, err)
	}
	roots, err := c.Keys.RootKeys(ctx, *inst)
	if err != nil || len(roots) != 1 || roots[0].ID != te.RootKey {
		t.Errorf("root keys: %+v, %v", roots, err)
	}
}

func TestAccountOfAPIKey(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	if e.Runtime.Cloud.AccountID != te.Account {
		t.Errorf("account %q, want %q looked up through the API key", e.Runtime.Cloud.AccountID, te.Account)
	}
}

func TestErrors(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	ctx := context.Background()

	bad := &badToken{core.BearerTokenAuthenticator{BearerToken: "not-a-token-the-emulator-issued"}}
	p, err := ibm.NewPolicies(e.Runtime.Config.IAMURL, te.Account, bad, te.FastOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.List(ctx)
	var apiErr *ibm.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || apply.IsTransient(err) {
		t.Errorf("unauthenticated list: %v; want a 401 that is not transient", err)
	}

	e.Emulator.SetFaults(emulator.Faults{P503: 1, Routes: []string{"GET /v1/snapshots/{id}"}})
	_, err = e.Runtime.Cloud.Snapshots.Get(ctx, "us-south", te.Snap)
	if !apply.IsTransient(err) || !errors.As(err, &apiErr) || apiErr.Status != 503 {
		t.Errorf("unavailable VPC: %v; want a transient 503", err)
	}
	if n := e.Emulator.Stats().Faults["GET /v1/snapshots/{id} 503"]; n != 1+te.FastOptions().MaxRetries {
		t.Errorf("%d attempts, want 1 + %d retries", n, te.FastOptions().MaxRetries)
	}
}

type badToken struct{ core.BearerTokenAuthenticator }

func (b *badToken) GetToken() (string, error) { return b.BearerToken, nil }

func TestNoCredentials(t *testing.T) {
	if _, err := ibm.NewAuthenticator(ibm.Credentials{IAMURL: "https://iam.cloud.ibm.com"}, ibm.DefaultOptions()); err == nil {
		t.Error("an authenticator without credentials was built")
	}
	a, err := ibm.NewAuthenticator(ibm.Credentials{TrustedProfile: "Profile-1234", IAMURL: "https://iam.cloud.ibm.com"}, ibm.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if ca, ok := ibm.Unwrap(a).(*core.ContainerAuthenticator); !ok || ca.IAMProfileID != "Profile-1234" || ca.IAMProfileName != "" {
		t.Errorf("trusted profile ID not used as an ID: %+v", ibm.Unwrap(a))
	}
	a, _ = ibm.NewAuthenticator(ibm.Credentials{TrustedProfile: "s2s-authorizer", IAMURL: "https://iam.cloud.ibm.com"}, ibm.DefaultOptions())
	if ca, ok := ibm.Unwrap(a).(*core.ContainerAuthenticator); !ok || ca.IAMProfileName != "s2s-authorizer" {
		t.Errorf("trusted profile name not used as a name: %+v", ibm.Unwrap(a))
	}
}

func TestRetryBackoffHasJitter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		d := ibm.JitteredBackoff(100*time.Millisecond, time.Second, 2, nil)
		if d < 200*time.Millisecond || d > 400*time.Millisecond {
			t.Fatalf("attempt 2 waits %s, want between 200ms and 400ms", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct waits in 50 draws: no jitter", len(seen))
	}
	if d := ibm.JitteredBackoff(100*time.Millisecond, time.Second, 30, nil); d > time.Second {
		t.Errorf("late attempt waits %s, more than the maximum", d)
	}
	resp := &http.Response{Header: http.Header{"Retry-After": []string{"3"}}}
	if d := ibm.JitteredBackoff(100*time.Millisecond, time.Second, 1, resp); d != 3*time.Second {
		t.Errorf("Retry-After 3 gave %s", d)
	}
}
