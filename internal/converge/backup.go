package converge

import (
	"context"
	"fmt"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// BackupPolicies counts a region's Backup for VPC policies.
type BackupPolicies interface {
	CountBackupPolicies(ctx context.Context, region string) (int, error)
}

// backupSource is where the converger learns whether the account backs up: the backup policies
// of the regions the full reconcile reads, so that an event and the reconcile agree.
type backupSource struct {
	policies BackupPolicies
	regions  []string
}

// WithBackupPolicies lets the converger read the account's backup policies in regions
// (IBMCLOUD_REGIONS), which BACKUP_AUTHORIZATIONS=auto needs; without it an auto backup event
// fails rather than guessing.
func (c *Converger) WithBackupPolicies(p BackupPolicies, regions []string) *Converger {
	c.backups = &backupSource{policies: p, regions: regions}
	return c
}

// readBackup reads what the account's backup grants should be: whatever backup policy an event
// named, the question is only whether the account has one at all.
func (c *Converger) readBackup(ctx context.Context, t authz.Target) (state, *Result) {
	mode := c.opts.Rules.Backup
	present, where := false, ""
	if mode.NeedsBackupPolicies() {
		if c.backups == nil {
			r := failed(t.Object, fmt.Errorf("backup policies cannot be read here: BACKUP_AUTHORIZATIONS=auto needs them"))
			return state{}, &r
		}
		var err error
		if present, where, err = c.backups.any(ctx); err != nil {
			r := failed(t.Object, err)
			return state{}, &r
		}
	}
	st := state{desired: c.opts.Rules.ForBackup(present)}
	switch {
	case mode == authz.BackupNever:
		st.reason = "BACKUP_AUTHORIZATIONS=never: no backup grants"
	case mode == authz.BackupAlways:
		st.reason = "BACKUP_AUTHORIZATIONS=always: the backup grants exist with or without backup policies"
	case present:
		st.reason = "the account has a backup policy in " + where
	default:
		st.reason = "no backup policy in " + strings.Join(c.backups.regions, ", ") + ": no backup grants"
	}
	return st, nil
}

// any reports whether a region has a backup policy, and the first that has. One found settles
// it, whatever other regions answered; otherwise an unreadable region fails the answer, since
// "none" would delete grants a backup policy there needs.
func (b *backupSource) any(ctx context.Context) (bool, string, error) {
	var firstErr error
	for _, region := range b.regions {
		n, err := b.policies.CountBackupPolicies(ctx, region)
		switch {
		case err != nil && firstErr == nil:
			firstErr = err
		case n > 0:
			return true, region, nil
		}
	}
	return false, "", firstErr
}
