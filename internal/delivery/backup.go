package delivery

import (
	"fmt"
	"slices"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
)

// backupActions are the Backup for VPC policy lifecycle actions, named like the snapshot ones
// (<service>.<resource-type>.<resource-type>.<verb>, ibm-cloud-facts §4): the first and the last
// backup policy decide whether the account's backup grants exist.
var backupActions = map[string]bool{
	"is.backup-policy.backup-policy.create": true,
	"is.backup-policy.backup-policy.delete": true,
}

// classifyBackup routes a backup policy event to the account's backup configuration: whichever
// policy it names, the converger asks only whether the account still has one.
func classifyBackup(ev *ActivityEvent, rules authz.Rules, regions []string) (Decision, error) {
	if ev.Outcome != "success" {
		return Decision{Ignore: fmt.Sprintf("outcome is %q: the action changed nothing", Abbreviate(ev.Outcome))}, nil
	}
	if ev.Target.ID == "" {
		return Decision{}, fmt.Errorf("target.id: missing; want the CRN of the backup policy")
	}
	c, err := crn.Parse(ev.Target.ID)
	if err != nil {
		return Decision{}, fmt.Errorf("target.id: %w", err)
	}
	target, err := rules.Target(c)
	switch {
	case target.Foreign:
		return Decision{Ignore: fmt.Sprintf("target belongs to account %q, not to %s: another account's resources are never acted on", target.Account, rules.AccountID), Warn: true}, nil
	case err != nil || target.Kind != authz.ObjectBackup || c.ResourceType != authz.BackupPolicyResourceType:
		return Decision{}, fmt.Errorf("target.id: %s is not the CRN of a VPC backup policy", Abbreviate(ev.Target.ID))
	}
	if regions != nil && !slices.Contains(regions, c.Location) {
		// The backup grants follow the backup policies of IBMCLOUD_REGIONS only, as the full
		// reconcile reads them; acting on this one would be undone there.
		return Decision{Ignore: fmt.Sprintf("out_of_scope: backup policy in %s, outside IBMCLOUD_REGIONS (%s); the backup grants follow the backup policies of those regions: add %s to IBMCLOUD_REGIONS to count it",
			Abbreviate(c.Location), strings.Join(regions, ","), Abbreviate(c.Location)), Warn: true, OutOfScope: slices.Contains(VPCRegions, c.Location)}, nil
	}
	return Decision{Object: &converge.Object{Target: target}}, nil
}
