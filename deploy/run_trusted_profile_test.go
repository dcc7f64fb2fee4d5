package deploy_test

import "testing"

// TestDeployedWithTrustedProfileAloneRuns deploys exactly as the README does
// (./deploy.sh --trusted-profile s2s-authorizer), with no IBMCLOUD_ACCOUNT_ID: the binary takes
// the account from the IAM token (its account.bss claim), as IAM's tokens carry it.
func TestDeployedWithTrustedProfileAloneRuns(t *testing.T) {
	t.Parallel()
	deployAndRun(t, nil, "--trusted-profile", "s2s-authorizer")
}
