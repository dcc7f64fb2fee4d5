package reconcile

import (
	"context"
	"fmt"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// BackupPolicies counts a region's Backup for VPC policies.
type BackupPolicies interface {
	CountBackupPolicies(ctx context.Context, region string) (int, error)
}

// WithBackupPolicies lets the run read the backup policies of its regions, which
// BACKUP_AUTHORIZATIONS=auto needs; without them an auto run leaves the backup grants alone.
func (r *Reconciler) WithBackupPolicies(b BackupPolicies) *Reconciler {
	r.backups = b
	return r
}

// backup gives the backup grants the account should have and whether this run knows it, so
// that managed backup grants are deleted only when every region's backup policies were read
// and none was found (or the mode does not depend on them).
func (r *Reconciler) backup(ctx context.Context, rep *Report) (desired []authz.Authorization, known bool) {
	mode := r.opts.Rules.Backup
	if !mode.NeedsBackupPolicies() {
		return r.opts.Rules.ForBackup(false), true
	}
	if r.backups == nil {
		return nil, false
	}
	present, complete := false, true
	for _, region := range r.opts.Regions {
		n, err := r.backups.CountBackupPolicies(ctx, region)
		if err != nil {
			rep.ReadErrors = append(rep.ReadErrors, fmt.Errorf("list backup policies in %s: %w", region, err))
			complete = false
			continue
		}
		rep.BackupPolicies += n
		present = present || n > 0
	}
	// One backup policy anywhere settles it; "none" only counts when every region answered.
	if !present && !complete {
		return nil, false
	}
	return r.opts.Rules.ForBackup(present), true
}
