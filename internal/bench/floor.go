package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"
	"github.com/IBM/platform-services-go-sdk/resourcecontrollerv2"
	"github.com/IBM/vpc-go-sdk/vpcv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
)

// floor is the least a program can do for the bench's events: plain SDK clients, no HTTP
// server, no envelope decoding, no logging, no plan. For each event it reads the object
// (GetSnapshot or GetResourceInstance) and creates the policy the object should have when it
// does not know it yet, from a set of grants it listed once before the timed run and updates
// on each create. A per-object lock keeps two senders from creating the same policy, as the
// function's converger does.
type floor struct {
	rules     authz.Rules
	transport *http.Transport
	vpc       map[string]*vpcv1.VpcV1
	iam       *iampolicymanagementv1.IamPolicyManagementV1
	rc        *resourcecontrollerv2.ResourceControllerV2

	mu    sync.Mutex
	have  map[string]bool        // grant keys of the account's active policies
	locks map[string]*sync.Mutex // per object
}

// newFloor builds the SDK clients, all before the first call (the SDK constructors must not
// race with the authenticator's connections).
func newFloor(srv *emulator.Server) (*floor, error) {
	ep := srv.Endpoints()
	t := ibm.NewTransport() // keep-alive sized like the function's, so that neither side churns connections
	client := &http.Client{Transport: t, Timeout: 20 * time.Second}
	auth := &core.IamAuthenticator{ApiKey: "floor", URL: ep.IAM, Client: client}
	f := &floor{
		rules:     authz.Rules{AccountID: account, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: []string{restorer}, KMSScope: authz.ScopeInstance},
		transport: t,
		vpc:       map[string]*vpcv1.VpcV1{},
		have:      map[string]bool{},
		locks:     map[string]*sync.Mutex{},
	}
	for _, region := range regions {
		v, err := vpcv1.NewVpcV1(&vpcv1.VpcV1Options{URL: strings.ReplaceAll(ep.VPC, "{region}", region), Authenticator: auth})
		if err != nil {
			return nil, err
		}
		v.Service.SetHTTPClient(client)
		f.vpc[region] = v
	}
	var err error
	if f.iam, err = iampolicymanagementv1.NewIamPolicyManagementV1(&iampolicymanagementv1.IamPolicyManagementV1Options{URL: ep.IAM, Authenticator: auth}); err != nil {
		return nil, err
	}
	f.iam.Service.SetHTTPClient(client)
	if f.rc, err = resourcecontrollerv2.NewResourceControllerV2(&resourcecontrollerv2.ResourceControllerV2Options{URL: ep.ResourceController, Authenticator: auth}); err != nil {
		return nil, err
	}
	f.rc.Service.SetHTTPClient(client)
	return f, nil
}

func (f *floor) close() { f.transport.CloseIdleConnections() }

// load lists the account's authorization policies once.
func (f *floor) load(ctx context.Context) error {
	pager, err := f.iam.NewPoliciesPager(&iampolicymanagementv1.ListPoliciesOptions{
		AccountID: core.StringPtr(account), Type: core.StringPtr(authz.PolicyType), Limit: core.Int64Ptr(100),
	})
	if err != nil {
		return err
	}
	for pager.HasNext() {
		page, err := pager.GetNextWithContext(ctx)
		if err != nil {
			return fmt.Errorf("floor: list policies: %w", err)
		}
		for _, p := range page {
			g := authz.Grant{Type: deref(p.Type)}
			for _, s := range p.Subjects {
				for _, a := range s.Attributes {
					g.Subjects = append(g.Subjects, authz.Attribute{Name: deref(a.Name), Value: deref(a.Value)})
				}
			}
			for _, r := range p.Resources {
				for _, a := range r.Attributes {
					g.Resources = append(g.Resources, authz.Attribute{Name: deref(a.Name), Value: deref(a.Value), Operator: deref(a.Operator)})
				}
			}
			for _, r := range p.Roles {
				g.Roles = append(g.Roles, deref(r.RoleID))
			}
			f.have[g.Key()] = true
		}
	}
	return nil
}

func (f *floor) lock(object string) func() {
	f.mu.Lock()
	l := f.locks[object]
	if l == nil {
		l = &sync.Mutex{}
		f.locks[object] = l
	}
	f.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// handle does the minimal calls for one event.
func (f *floor) handle(ctx context.Context, ev event) error {
	defer f.lock(ev.object)()
	var desired []authz.Authorization
	switch ev.kind {
	case "snapshot":
		s, _, err := f.vpc[ev.snap.region].GetSnapshotWithContext(ctx, &vpcv1.GetSnapshotOptions{ID: &ev.snap.id})
		if err != nil {
			return fmt.Errorf("floor: get snapshot: %w", err)
		}
		desired, _ = f.rules.ForSnapshot(&authz.Snapshot{ID: deref(s.ID), CRN: deref(s.CRN), UserTags: s.UserTags})
	case "key":
		in, _, err := f.rc.GetResourceInstanceWithContext(ctx, &resourcecontrollerv2.GetResourceInstanceOptions{ID: &ev.inst.guid})
		if err != nil {
			return fmt.Errorf("floor: get instance: %w", err)
		}
		if deref(in.State) == "active" {
			desired = f.rules.ForInstance(&authz.KMSInstance{CRN: deref(in.CRN), Service: ev.inst.service, GUID: deref(in.GUID)})
		}
	}
	for _, a := range desired {
		f.mu.Lock()
		known := f.have[a.Key()]
		f.mu.Unlock()
		if known {
			continue
		}
		if err := f.create(ctx, a); err != nil {
			return err
		}
		f.mu.Lock()
		f.have[a.Key()] = true
		f.mu.Unlock()
	}
	return nil
}

func (f *floor) create(ctx context.Context, a authz.Authorization) error {
	subjects := make([]iampolicymanagementv1.SubjectAttribute, len(a.Subjects))
	for i, s := range a.Subjects {
		subjects[i] = iampolicymanagementv1.SubjectAttribute{Name: core.StringPtr(s.Name), Value: core.StringPtr(s.Value)}
	}
	resources := make([]iampolicymanagementv1.ResourceAttribute, len(a.Resources))
	for i, r := range a.Resources {
		resources[i] = iampolicymanagementv1.ResourceAttribute{Name: core.StringPtr(r.Name), Value: core.StringPtr(r.Value), Operator: core.StringPtr(r.Operator)}
	}
	roles := make([]iampolicymanagementv1.PolicyRole, len(a.Roles))
	for i, r := range a.Roles {
		roles[i] = iampolicymanagementv1.PolicyRole{RoleID: core.StringPtr(r)}
	}
	_, _, err := f.iam.CreatePolicyWithContext(ctx, &iampolicymanagementv1.CreatePolicyOptions{
		Type:        core.StringPtr(a.Type),
		Subjects:    []iampolicymanagementv1.PolicySubject{{Attributes: subjects}},
		Resources:   []iampolicymanagementv1.PolicyResource{{Attributes: resources}},
		Roles:       roles,
		Description: core.StringPtr(a.Description()),
	})
	if err != nil {
		return fmt.Errorf("floor: create policy: %w", err)
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
