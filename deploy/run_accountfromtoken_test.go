//go:build accountfromtoken

package deploy_test

import "testing"

// TestDeployedWithTrustedProfileAloneRuns deploys exactly as the README does
// (./deploy.sh --trusted-profile s2s-authorizer), with no IBMCLOUD_ACCOUNT_ID: the binary must
// take the account from the IAM token (its account.bss claim), as IAM's tokens carry it.
//
// Behind the accountfromtoken build tag until that change lands (the binary still requires
// IBMCLOUD_ACCOUNT_ID with a trusted profile, and the emulator's tokens are not JWTs yet); then
// the tag goes and this runs with the others:
//
//	go test -tags accountfromtoken -run TestDeployedWithTrustedProfileAloneRuns ./deploy/
func TestDeployedWithTrustedProfileAloneRuns(t *testing.T) {
	t.Parallel()
	deployAndRun(t, nil, "--trusted-profile", "s2s-authorizer")
}
