package ibm

import (
	"context"
	"fmt"
	"sync"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/vpc-go-sdk/vpcv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// snapshotPageSize is the VPC API's largest page.
const snapshotPageSize = 100

// Snapshots reads VPC block storage snapshots, one SDK client per region (VPC endpoints are
// regional, and an event can name any region).
type Snapshots struct {
	urlFor func(region string) string
	auth   Authenticator
	opts   Options

	mu      sync.Mutex
	regions map[string]*vpcv1.VpcV1
}

// NewSnapshots builds the reader; urlFor gives the VPC API URL of a region.
func NewSnapshots(urlFor func(region string) string, auth Authenticator, o Options) *Snapshots {
	return &Snapshots{urlFor: urlFor, auth: auth, opts: o, regions: map[string]*vpcv1.VpcV1{}}
}

func (s *Snapshots) client(region string) (*vpcv1.VpcV1, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.regions[region]; ok {
		return c, nil
	}
	c, err := vpcv1.NewVpcV1(&vpcv1.VpcV1Options{URL: s.urlFor(region), Authenticator: s.auth})
	if err != nil {
		return nil, fmt.Errorf("VPC client for %s: %w", region, err)
	}
	configure(c.Service, s.opts)
	s.regions[region] = c
	return c, nil
}

// Get reads one snapshot; nil without error when it does not exist or is being deleted, since
// either way it keeps no restore authorization.
func (s *Snapshots) Get(ctx context.Context, region, id string) (*authz.Snapshot, error) {
	c, err := s.client(region)
	if err != nil {
		return nil, err
	}
	snap, resp, err := c.GetSnapshotWithContext(ctx, &vpcv1.GetSnapshotOptions{ID: &id})
	if err != nil {
		err = wrap(fmt.Sprintf("get snapshot %s in %s", id, region), resp, err)
		if apply.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return toSnapshot(snap), nil
}

// List calls fn with each page of a region's snapshots, so that memory stays bounded by a page
// plus what fn keeps.
func (s *Snapshots) List(ctx context.Context, region string, fn func([]authz.Snapshot) error) error {
	c, err := s.client(region)
	if err != nil {
		return err
	}
	pager, err := c.NewSnapshotsPager(&vpcv1.ListSnapshotsOptions{Limit: core.Int64Ptr(snapshotPageSize)})
	if err != nil {
		return fmt.Errorf("list snapshots in %s: %w", region, err)
	}
	for pager.HasNext() {
		page, err := pager.GetNextWithContext(ctx)
		if err != nil {
			return wrap("list snapshots in "+region, responseOf(err), err)
		}
		out := make([]authz.Snapshot, 0, len(page))
		for i := range page {
			if snap := toSnapshot(&page[i]); snap != nil {
				out = append(out, *snap)
			}
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return nil
}

func toSnapshot(s *vpcv1.Snapshot) *authz.Snapshot {
	if s == nil || deref(s.LifecycleState) == vpcv1.SnapshotLifecycleStateDeletingConst {
		return nil
	}
	return &authz.Snapshot{ID: deref(s.ID), CRN: deref(s.CRN), UserTags: s.UserTags}
}
