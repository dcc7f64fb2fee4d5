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
// (GetSnapshot or GetResourceInstance); a policy the object should have and that it knows is
// confirmed with GetV2Policy, one it does not know is created (CreateV2Policy) and the object
// read again, as the function's many-writers guarantee asks. What it knows is the set of grants
// it listed once (IAM v2) before the timed run, updated on each create. A per-object lock keeps
// two senders from creating the same policy, as the function's converger does.
type floor struct {
	rules     authz.Rules
	transport *http.Transport
	vpc       map[string]*vpcv1.VpcV1
	iam       *iampolicymanagementv1.IamPolicyManagementV1
	rc        *resourcecontrollerv2.ResourceControllerV2

	mu    sync.Mutex
	have  map[string]string      // grant key → ID of the account's active policies
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
		have:      map[string]string{},
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

// load lists the account's authorization policies once, through IAM's v2 API as the function
// does.
func (f *floor) load(ctx context.Context) error {
	pager, err := f.iam.NewV2PoliciesPager(&iampolicymanagementv1.ListV2PoliciesOptions{
		AccountID: core.StringPtr(account), Type: core.StringPtr(authz.PolicyType), Limit: core.Int64Ptr(listPageSize),
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
			if deref(p.State) != "active" {
				continue
			}
			g := authz.Grant{Type: deref(p.Type)}
			if p.Subject != nil {
				for _, a := range p.Subject.Attributes {
					op := deref(a.Operator)
					if op == "stringEquals" {
						op = ""
					}
					g.Subjects = append(g.Subjects, authz.Attribute{Name: deref(a.Key), Value: fmt.Sprint(a.Value), Operator: op})
				}
			}
			if p.Resource != nil {
				for _, a := range p.Resource.Attributes {
					g.Resources = append(g.Resources, authz.Attribute{Name: deref(a.Key), Value: fmt.Sprint(a.Value), Operator: deref(a.Operator)})
				}
			}
			if c, ok := p.Control.(*iampolicymanagementv1.ControlResponse); ok && c.Grant != nil {
				for _, r := range c.Grant.Roles {
					g.Roles = append(g.Roles, deref(r.RoleID))
				}
			}
			f.have[g.Key()] = deref(p.ID)
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

// handle does the least calls that give the function's guarantees for one event: read the
// object; confirm each kept grant with a GET of its policy by ID; create a missing one and then
// read the object again (the verify after writing of the many-writers design).
func (f *floor) handle(ctx context.Context, ev event) error {
	defer f.lock(ev.object)()
	desired, err := f.desired(ctx, ev)
	if err != nil {
		return err
	}
	wrote := false
	for _, a := range desired {
		f.mu.Lock()
		id := f.have[a.Key()]
		f.mu.Unlock()
		if id != "" {
			got, _, err := f.iam.GetV2PolicyWithContext(ctx, &iampolicymanagementv1.GetV2PolicyOptions{ID: &id})
			if err != nil {
				return fmt.Errorf("floor: get policy: %w", err)
			}
			if deref(got.State) == "active" {
				continue
			}
		}
		if id, err = f.create(ctx, a); err != nil {
			return err
		}
		wrote = true
		f.mu.Lock()
		f.have[a.Key()] = id
		f.mu.Unlock()
	}
	if wrote {
		_, err = f.desired(ctx, ev)
	}
	return err
}

// desired reads the event's object and says what it should have.
func (f *floor) desired(ctx context.Context, ev event) ([]authz.Authorization, error) {
	switch ev.kind {
	case "snapshot":
		s, _, err := f.vpc[ev.snap.region].GetSnapshotWithContext(ctx, &vpcv1.GetSnapshotOptions{ID: &ev.snap.id})
		if err != nil {
			return nil, fmt.Errorf("floor: get snapshot: %w", err)
		}
		desired, _ := f.rules.ForSnapshot(&authz.Snapshot{ID: deref(s.ID), CRN: deref(s.CRN), UserTags: s.UserTags})
		return desired, nil
	case "key":
		in, _, err := f.rc.GetResourceInstanceWithContext(ctx, &resourcecontrollerv2.GetResourceInstanceOptions{ID: &ev.inst.guid})
		if err != nil {
			return nil, fmt.Errorf("floor: get instance: %w", err)
		}
		if deref(in.State) == "active" {
			return f.rules.ForInstance(&authz.KMSInstance{CRN: deref(in.CRN), Service: ev.inst.service, GUID: deref(in.GUID)}), nil
		}
	}
	return nil, nil
}

func (f *floor) create(ctx context.Context, a authz.Authorization) (string, error) {
	subjects := make([]iampolicymanagementv1.V2PolicySubjectAttribute, len(a.Subjects))
	for i, s := range a.Subjects {
		subjects[i] = iampolicymanagementv1.V2PolicySubjectAttribute{Key: core.StringPtr(s.Name), Operator: core.StringPtr(operator(s.Operator)), Value: s.Value}
	}
	resources := make([]iampolicymanagementv1.V2PolicyResourceAttribute, len(a.Resources))
	for i, r := range a.Resources {
		var value any = r.Value
		if r.Operator == authz.OperatorStringExists {
			value = r.Value == "true"
		}
		resources[i] = iampolicymanagementv1.V2PolicyResourceAttribute{Key: core.StringPtr(r.Name), Operator: core.StringPtr(operator(r.Operator)), Value: value}
	}
	roles := make([]iampolicymanagementv1.Roles, len(a.Roles))
	for i, r := range a.Roles {
		roles[i] = iampolicymanagementv1.Roles{RoleID: core.StringPtr(r)}
	}
	created, _, err := f.iam.CreateV2PolicyWithContext(ctx, &iampolicymanagementv1.CreateV2PolicyOptions{
		Type:        core.StringPtr(a.Type),
		Subject:     &iampolicymanagementv1.V2PolicySubject{Attributes: subjects},
		Resource:    &iampolicymanagementv1.V2PolicyResource{Attributes: resources},
		Control:     &iampolicymanagementv1.Control{Grant: &iampolicymanagementv1.Grant{Roles: roles}},
		Description: core.StringPtr(a.Description()),
	})
	if err != nil {
		return "", fmt.Errorf("floor: create policy: %w", err)
	}
	return deref(created.ID), nil
}

func operator(op string) string {
	if op == "" {
		return "stringEquals"
	}
	return op
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
