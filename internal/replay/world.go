package replay

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/IBM/go-sdk-core/v5/core"
	kp "github.com/IBM/keyprotect-go-client"
	"github.com/IBM/platform-services-go-sdk/globaltaggingv1"
	"github.com/IBM/vpc-go-sdk/vpcv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// user changes the emulated account the way a person would: through IBM's public APIs with
// IBM's SDK clients, so that the function sees the same state it would see in the cloud.
type user struct {
	emu       *emulator.Server
	auth      *core.IamAuthenticator
	tagging   *globaltaggingv1.GlobalTaggingV1
	vpc       map[string]*vpcv1.VpcV1 // by region
	transport http.RoundTripper
}

// userAPIKey is what the user presents to the emulator, which accepts any key.
const userAPIKey = "scenario-user-key"

// newUser builds every client up front: vpcv1's option validation reads the authenticator's
// HTTP client, which must not race with requests already in flight.
func newUser(emu *emulator.Server) (*user, error) {
	ep := emu.Endpoints()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	client := &http.Client{Timeout: 30 * time.Second, Transport: transport}
	auth := &core.IamAuthenticator{ApiKey: userAPIKey, URL: ep.IAM, Client: client}
	if err := auth.Validate(); err != nil {
		return nil, fmt.Errorf("user authenticator: %w", err)
	}
	u := &user{emu: emu, auth: auth, vpc: map[string]*vpcv1.VpcV1{}, transport: transport}
	var err error
	if u.tagging, err = globaltaggingv1.NewGlobalTaggingV1(&globaltaggingv1.GlobalTaggingV1Options{URL: ep.Tagging, Authenticator: auth}); err != nil {
		return nil, fmt.Errorf("tagging client: %w", err)
	}
	u.tagging.Service.SetHTTPClient(client)
	for _, s := range emu.World().Snapshots {
		if u.vpc[s.Region] != nil {
			continue
		}
		c, err := vpcv1.NewVpcV1(&vpcv1.VpcV1Options{URL: strings.ReplaceAll(ep.VPC, "{region}", s.Region), Authenticator: auth})
		if err != nil {
			return nil, fmt.Errorf("VPC client for %s: %w", s.Region, err)
		}
		c.Service.SetHTTPClient(client)
		u.vpc[s.Region] = c
	}
	return u, nil
}

// snapshot finds a snapshot of the world by ID or CRN: its CRN and region.
func (u *user) snapshot(ref string) (snapshotCRN, region string, err error) {
	w := u.emu.World()
	if c, perr := crn.Parse(ref); perr == nil {
		return ref, c.Location, nil
	}
	for _, s := range w.Snapshots {
		if s.ID == ref {
			return emulator.SnapshotCRN(w.AccountID, s.Region, s.ID), s.Region, nil
		}
	}
	return "", "", fmt.Errorf("snapshot %s is not in the world (snapshots: %s)", ref, snapshotIDs(w))
}

func snapshotIDs(w *emulator.World) string {
	var ids []string
	for _, s := range w.Snapshots {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// tag attaches or detaches user tags with the Global Tagging API.
func (u *user) tag(ctx context.Context, attach bool, t tagSpec) (string, error) {
	target, _, err := u.snapshot(t.Snapshot)
	if err != nil {
		return "", err
	}
	resources := []globaltaggingv1.Resource{{ResourceID: core.StringPtr(target)}}
	var res *globaltaggingv1.TagResults
	verb := "attached"
	if attach {
		res, _, err = u.tagging.AttachTagWithContext(ctx, u.tagging.NewAttachTagOptions().SetResources(resources).SetTagNames(t.Tags))
	} else {
		verb = "detached"
		res, _, err = u.tagging.DetachTagWithContext(ctx, u.tagging.NewDetachTagOptions().SetResources(resources).SetTagNames(t.Tags))
	}
	if err != nil {
		return "", fmt.Errorf("tagging API: %w", err)
	}
	for _, r := range res.Results {
		if r.IsError != nil && *r.IsError {
			msg := "error"
			if r.Message != nil {
				msg = *r.Message
			}
			return "", fmt.Errorf("tagging API: %s: %s", target, msg)
		}
	}
	return fmt.Sprintf("%s %s on snapshot %s", verb, strings.Join(t.Tags, ", "), shortID(t.Snapshot)), nil
}

// deleteSnapshot deletes a snapshot with the VPC API.
func (u *user) deleteSnapshot(ctx context.Context, ref string) (string, error) {
	target, region, err := u.snapshot(ref)
	if err != nil {
		return "", err
	}
	c := u.vpc[region]
	if c == nil {
		return "", fmt.Errorf("no snapshot of the world is in region %s", region)
	}
	id, _ := crn.Parse(target)
	if _, err := c.DeleteSnapshotWithContext(ctx, &vpcv1.DeleteSnapshotOptions{ID: core.StringPtr(id.Resource)}); err != nil {
		return "", fmt.Errorf("VPC: delete snapshot %s: %w", id.Resource, err)
	}
	return "deleted snapshot " + shortID(id.Resource), nil
}

// keys is a Key Protect client for one instance, and a context carrying the user's token.
func (u *user) keys(ctx context.Context, instance string) (*kp.Client, context.Context, error) {
	c, err := kp.New(kp.ClientConfig{BaseURL: u.emu.Endpoints().KMS, InstanceID: instance, Verbose: kp.VerboseNone}, u.transport)
	if err != nil {
		return nil, nil, fmt.Errorf("key client: %w", err)
	}
	token, err := u.auth.GetToken()
	if err != nil {
		return nil, nil, fmt.Errorf("IAM token: %w", err)
	}
	return c, kp.NewContextWithAuth(ctx, "Bearer "+token), nil
}

// createKey creates a key with the Key Protect API and returns its ID.
func (u *user) createKey(ctx context.Context, k keyCreateSpec) (id, detail string, err error) {
	c, kctx, err := u.keys(ctx, k.Instance)
	if err != nil {
		return "", "", err
	}
	var key *kp.Key
	kind := "root key"
	if k.Type == "standard_key" {
		kind = "standard key"
		key, err = c.CreateStandardKey(kctx, k.Name, nil)
	} else {
		key, err = c.CreateRootKey(kctx, k.Name, nil)
	}
	if err != nil {
		return "", "", fmt.Errorf("key API: create %s %q in %s: %w", kind, k.Name, k.Instance, err)
	}
	detail = fmt.Sprintf("created %s %q in instance %s: key %s", kind, k.Name, shortID(k.Instance), key.ID)
	if k.As != "" {
		detail += ", named ${" + k.As + "}"
	}
	return key.ID, detail, nil
}

// deleteKey deletes a key with the Key Protect API.
func (u *user) deleteKey(ctx context.Context, k keyDeleteSpec) (string, error) {
	c, kctx, err := u.keys(ctx, k.Instance)
	if err != nil {
		return "", err
	}
	if _, err := c.DeleteKey(kctx, k.Key, kp.ReturnMinimal, kp.ForceOpt{Force: k.Force}); err != nil {
		return "", fmt.Errorf("key API: delete key %s: %w", k.Key, err)
	}
	return fmt.Sprintf("deleted key %s of instance %s", k.Key, shortID(k.Instance)), nil
}

// createBackupPolicy adds a Backup for VPC policy. The emulator does not serve the VPC API's
// create (a real one needs a plan, a schedule and the backup grants themselves), so the step
// changes the world directly, as IBM would once the create succeeded.
func (u *user) createBackupPolicy(b emulator.BackupPolicy) (string, error) {
	if err := u.emu.AddBackupPolicy(b); err != nil {
		return "", fmt.Errorf("backup policy %s: %w", b.ID, err)
	}
	return fmt.Sprintf("created backup policy %s %q in %s", b.ID, b.Name, b.Region), nil
}

// deleteBackupPolicy removes a Backup for VPC policy.
func (u *user) deleteBackupPolicy(id string) (string, error) {
	if !u.emu.DeleteBackupPolicy(id) {
		return "", fmt.Errorf("backup policy %s is not in the world", id)
	}
	return "deleted backup policy " + id, nil
}

func (u *user) close() { u.auth.Client.CloseIdleConnections() }

// shortID keeps the part of an ID or CRN that tells objects apart in a line.
func shortID(s string) string {
	if c, err := crn.Parse(s); err == nil && c.Resource != "" {
		return c.Resource
	}
	return s
}
