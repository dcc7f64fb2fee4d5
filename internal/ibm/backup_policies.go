package ibm

import (
	"context"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/vpc-go-sdk/vpcv1"
)

// CountBackupPolicies counts the Backup for VPC policies of a region (GET /v1/backup_policies,
// vpcv1 ListBackupPolicies): whether the account backs up decides whether the backup grants
// exist (BACKUP_AUTHORIZATIONS=auto). One page of one is enough, since the collection carries
// total_count. It uses the snapshots' regional VPC clients: the same API, the same endpoints.
func (s *Snapshots) CountBackupPolicies(ctx context.Context, region string) (int, error) {
	c, err := s.client(region)
	if err != nil {
		return 0, err
	}
	got, resp, err := c.ListBackupPoliciesWithContext(ctx, &vpcv1.ListBackupPoliciesOptions{Limit: core.Int64Ptr(1)})
	if err != nil {
		return 0, wrap("list backup policies in "+region, resp, err)
	}
	if got.TotalCount != nil {
		return int(*got.TotalCount), nil
	}
	// Without a total, the page still says whether there is at least one, which is all auto needs.
	return len(got.BackupPolicies), nil
}
