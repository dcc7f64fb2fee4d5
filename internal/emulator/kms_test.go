package emulator_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	kp "github.com/IBM/keyprotect-go-client"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// kpClient is keyprotect-go-client for one instance, with a transport that keeps connections
// (the client's default disables keep-alives).
func kpClient(t *testing.T, srv *emulator.Server, instance string) *kp.Client {
	t.Helper()
	client, err := kp.New(kp.ClientConfig{BaseURL: srv.Endpoints().KMS, InstanceID: instance, Verbose: kp.VerboseNone}, http.DefaultTransport.(*http.Transport).Clone())
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func kpError(t *testing.T, err error) *kp.Error {
	t.Helper()
	var e *kp.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *kp.Error", err, err)
	}
	return e
}

func TestKeyProtectKeys(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	ctx := kp.NewContextWithAuth(context.Background(), "Bearer "+c.token(t))
	client := kpClient(t, srv, kpGUID)

	keys, err := client.GetKeys(ctx, 0, 0)
	if err != nil || keys.Metadata.NumberOfKeys != 2 || len(keys.Keys) != 2 {
		t.Fatalf("GetKeys = %+v, %v", keys, err)
	}
	root, err := client.GetKey(ctx, rootKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if root.Name != "volume-root-key" || root.Extractable || root.State != 1 || root.CRN != emulator.KeyCRN("kms", sampleAccount, "us-south", kpGUID, rootKeyID) ||
		root.CreationDate == nil || root.Deleted == nil || *root.Deleted {
		t.Errorf("root key = %+v", root)
	}
	if std, err := client.GetKeyMetadata(ctx, standardKeyID); err != nil || !std.Extractable {
		t.Errorf("standard key = %+v, %v", std, err)
	}

	newRoot, err := client.CreateRootKey(ctx, "new-root", nil)
	if err != nil || newRoot.Extractable || newRoot.ID == "" || newRoot.State != 1 {
		t.Fatalf("CreateRootKey = %+v, %v", newRoot, err)
	}
	newStd, err := client.CreateStandardKey(ctx, "new-standard", nil)
	if err != nil || !newStd.Extractable {
		t.Fatalf("CreateStandardKey = %+v, %v", newStd, err)
	}
	page, err := client.GetKeys(ctx, 2, 2)
	if err != nil || len(page.Keys) != 2 || page.Keys[0].ID != newRoot.ID {
		t.Errorf("second page = %+v, %v", page, err)
	}

	// Plain delete: 204 and no key back; the key then shows as destroyed.
	if k, err := client.DeleteKey(ctx, newRoot.ID, kp.ReturnMinimal); err != nil || k != nil {
		t.Fatalf("DeleteKey = %+v, %v", k, err)
	}
	gone, err := client.GetKey(ctx, newRoot.ID)
	if err != nil || gone.State != 5 || gone.Deleted == nil || !*gone.Deleted || gone.DeletionDate == nil {
		t.Errorf("deleted key = %+v, %v", gone, err)
	}
	_, err = client.DeleteKey(ctx, newRoot.ID, kp.ReturnMinimal)
	if e := kpError(t, err); e.StatusCode != http.StatusGone || e.Reasons[0].Code != "KEY_DELETED_ERR" {
		t.Errorf("second delete = %+v", e)
	}
	// Deleted keys are listed only when asked for by state.
	live, err := client.GetKeys(ctx, 0, 0)
	if err != nil || len(live.Keys) != 3 {
		t.Errorf("live keys = %d, %v", len(live.Keys), err)
	}
	withDeleted, err := client.ListKeys(ctx, &kp.ListKeysOptions{State: []kp.KeyState{kp.Active, kp.Destroyed}})
	if err != nil || len(withDeleted.Keys) != 4 {
		t.Errorf("keys with deleted = %d, %v", len(withDeleted.Keys), err)
	}

	// The root key encrypts a snapshot: Key Protect holds a registration and wants force.
	_, err = client.DeleteKey(ctx, rootKeyID, kp.ReturnMinimal)
	if e := kpError(t, err); e.StatusCode != http.StatusConflict || e.Reasons[0].Code != "PROTECTED_RESOURCE_ERR" {
		t.Errorf("delete of a protecting key = %+v", e)
	}
	forced, err := client.DeleteKey(ctx, rootKeyID, kp.ReturnRepresentation, kp.ForceOpt{Force: true})
	if err != nil || forced == nil || forced.State != 5 {
		t.Errorf("forced delete = %+v, %v", forced, err)
	}
	var deleted bool
	for _, k := range srv.World().KMSInstances[0].Keys {
		if k.ID == rootKeyID {
			deleted = k.Deleted
		}
	}
	if !deleted {
		t.Error("World() does not show the root key deleted")
	}
}

func TestKeyProtectErrors(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	ctx := kp.NewContextWithAuth(context.Background(), "Bearer "+c.token(t))
	getKey := func(id string) func(context.Context, *kp.Client) error {
		return func(ctx context.Context, cl *kp.Client) error { _, err := cl.GetKey(ctx, id); return err }
	}
	createRootKey := func(name string) func(context.Context, *kp.Client) error {
		return func(ctx context.Context, cl *kp.Client) error { _, err := cl.CreateRootKey(ctx, name, nil); return err }
	}
	listKeys := func(ctx context.Context, cl *kp.Client) error { _, err := cl.GetKeys(ctx, 0, 0); return err }
	wrongToken := kp.NewContextWithAuth(context.Background(), "Bearer wrong")
	tests := []struct {
		name     string
		instance string
		ctx      context.Context
		do       func(ctx context.Context, client *kp.Client) error
		status   int
		reason   string
	}{
		{"unknown key", kpGUID, ctx, getKey("00000000-0000-4000-8000-000000000000"), 404, "KEY_NOT_FOUND_ERR"},
		{"key of another instance", hpcsGUID, ctx, getKey(rootKeyID), 404, "KEY_NOT_FOUND_ERR"},
		{"unknown instance", "00000000-0000-4000-8000-000000000000", ctx, listKeys, 404, "INSTANCE_NOT_FOUND_ERR"},
		{"no instance", "", ctx, listKeys, 400, "BAD_HEADER_ERR"},
		{"bad key name", kpGUID, ctx, createRootKey("x"), 400, "INVALID_FIELD_ERR"},
		{"wrong token", kpGUID, wrongToken, listKeys, 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do(tc.ctx, kpClient(t, srv, tc.instance))
			e := kpError(t, err)
			if e.StatusCode != tc.status || e.Message == "" {
				t.Fatalf("error = %+v", e)
			}
			if tc.reason != "" && (len(e.Reasons) == 0 || e.Reasons[0].Code != tc.reason) {
				t.Errorf("reasons = %+v, want %s", e.Reasons, tc.reason)
			}
		})
	}
}

func TestKeyProtectClientGetsItsOwnToken(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	client, err := kp.New(kp.ClientConfig{
		BaseURL: srv.Endpoints().KMS, APIKey: "kp-api-key", TokenURL: srv.URL() + "/oidc/token",
		InstanceID: hpcsGUID, Verbose: kp.VerboseNone,
	}, http.DefaultTransport.(*http.Transport).Clone())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := client.GetKeys(context.Background(), 0, 0)
	if err != nil || len(keys.Keys) != 1 || keys.Keys[0].ID != hpcsRootKeyID ||
		keys.Keys[0].CRN != emulator.KeyCRN("hs-crypto", sampleAccount, "us-south", hpcsGUID, hpcsRootKeyID) {
		t.Errorf("HPCS keys = %+v, %v", keys, err)
	}
	if got := srv.Stats().Calls["POST /oidc/token"]; got != 1 {
		t.Errorf("token requests = %d", got)
	}
}
