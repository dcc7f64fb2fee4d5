package deploy_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

const (
	ownAccount      = "0123456789abcdef0123456789abcdef"
	consumerAccount = "cccccccccccccccccccccccccccccccc"
	restoreAccount  = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
)

// printedGrants reads the 'ibmcloud iam ... --roles R --service-name S' commands that deploy.sh
// prints into roles by service, role names without spaces as in the role CRNs
// ("Authorization Delegator" is AuthorizationDelegator). attributes holds each command's
// --attributes.
func printedGrants(t *testing.T, out string) (roles map[string]map[string]bool, attributes map[string][]string) {
	t.Helper()
	cmd := regexp.MustCompile(`^\s+ibmcloud iam (?:trusted-profile|service)-policy-create .* --roles ('[^']*'|\S+)(.*)$`)
	service := regexp.MustCompile(`--service-name (\S+)`)
	attrs := regexp.MustCompile(`--attributes ('[^']*'|\S+)`)
	roles, attributes = map[string]map[string]bool{}, map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		m := cmd.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := "resource-group"
		if sm := service.FindStringSubmatch(m[2]); sm != nil {
			s = sm[1]
		}
		if roles[s] == nil {
			roles[s] = map[string]bool{}
		}
		for _, r := range strings.Split(strings.Trim(m[1], "'"), ",") {
			roles[s][strings.ReplaceAll(r, " ", "")] = true
		}
		a := ""
		if am := attrs.FindStringSubmatch(m[2]); am != nil {
			a = strings.Trim(am[1], "'")
		}
		attributes[s] = append(attributes[s], a)
	}
	return roles, attributes
}

// grantedRoles is what the templates grant under rules, by target service: role names as the
// last part of the role CRNs.
func grantedRoles(rules authz.Rules) map[string]map[string]bool {
	var all []authz.Authorization
	for _, scope := range []authz.Scope{authz.ScopeInstance, authz.ScopeKey} {
		r := rules
		r.KMSScope = scope
		for _, service := range []string{"kms", "hs-crypto"} {
			inst := authz.KMSInstance{
				CRN:     "crn:v1:bluemix:public:" + service + ":us-south:a/" + ownAccount + ":11111111-2222-3333-4444-555555555555::",
				Service: service, GUID: "11111111-2222-3333-4444-555555555555",
			}
			all = append(all, r.ForInstance(&inst)...)
			all = append(all, r.ForKey(&authz.RootKey{Instance: inst, ID: "key-1", CRN: strings.TrimSuffix(inst.CRN, ":") + "key:key-1"})...)
		}
	}
	got, _ := rules.ForSnapshot(&authz.Snapshot{
		ID:       "r006-snap",
		CRN:      "crn:v1:bluemix:public:is:us-south:a/" + ownAccount + "::snapshot:r006-snap",
		UserTags: []string{rules.RestoreTagPrefix + ":" + restoreAccount},
	})
	all = append(all, got...)
	all = append(all, rules.ForBackup(true)...)
	out := map[string]map[string]bool{}
	for _, a := range all {
		s := a.Resource("serviceName")
		if out[s] == nil {
			out[s] = map[string]bool{}
		}
		for _, role := range a.Roles {
			out[s][role[strings.LastIndex(role, ":")+1:]] = true
		}
	}
	return out
}

// TestPermissionsCoverEveryGrant: the identity can grant only roles it holds itself (IBM,
// "Using authorizations to grant access between services"), so each role that the templates
// grant under the deployed configuration must be in the printed commands for its service, with
// Administrator (needed to delete an authorization), and no grant role that the configuration
// never uses.
func TestPermissionsCoverEveryGrant(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
	}{
		{name: "own account only", env: map[string]string{}},
		{name: "consumers and restores", env: map[string]string{
			"KMS_CONSUMER_ACCOUNTS": consumerAccount, "RESTORE_ALLOWED_ACCOUNTS": restoreAccount,
		}},
		{name: "backups with file shares", env: map[string]string{"BACKUP_SHARES": "true"}},
		{name: "no backups", env: map[string]string{"BACKUP_AUTHORIZATIONS": "never"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"IBMCLOUD_ACCOUNT_ID": ownAccount}
			for k, v := range c.env {
				env[k] = v
			}
			f := newFake(t)
			res := f.mustRun(env, "--trusted-profile", "tp", "--image", "icr.io/team/s2s:1")
			printed, attributes := printedGrants(t, res.stdout)

			rules := authz.Rules{AccountID: ownAccount, RestoreTagPrefix: "s2s-restore"}
			if v := c.env["KMS_CONSUMER_ACCOUNTS"]; v != "" {
				rules.KMSConsumerAccounts = []string{v}
			}
			if v := c.env["RESTORE_ALLOWED_ACCOUNTS"]; v != "" {
				rules.RestoreAllowedAccounts = []string{v}
			}
			rules.Backup, rules.BackupShares = authz.BackupAuto, c.env["BACKUP_SHARES"] == "true"
			if c.env["BACKUP_AUTHORIZATIONS"] == "never" {
				rules.Backup = authz.BackupNever
			}
			granted := grantedRoles(rules)
			if len(granted["kms"]) == 0 || len(granted["hs-crypto"]) == 0 {
				t.Fatalf("the templates grant nothing on kms or hs-crypto: %v", granted)
			}
			for service, roles := range granted {
				for role := range roles {
					if !printed[service][role] {
						t.Errorf("the templates grant %s on %s, which the printed commands do not give the identity:\n%s", role, service, res.stdout)
					}
				}
				if !printed[service]["Administrator"] {
					t.Errorf("no Administrator on %s: the identity could not delete its authorizations", service)
				}
			}
			// Grant roles that no configured grant uses are not asked for.
			for _, service := range []string{"kms", "hs-crypto", "is"} {
				for role := range printed[service] {
					switch role {
					case "Administrator", "Viewer", "Reader":
					default:
						if !granted[service][role] {
							t.Errorf("the commands give %s on %s, which no configured grant uses", role, service)
						}
					}
				}
			}
			if len(printed["is"]) == 0 || !slices.Contains(attributes["is"], "snapshotId=*") {
				t.Errorf("no command for is snapshots (snapshotId=*): %v %v", printed["is"], attributes)
			}
			if !printed["resource-group"]["Viewer"] {
				t.Errorf("no Viewer on resource groups: the identity could not find KMS instances")
			}
		})
	}
}

// TestDeployerPermissions: the printout also says what the person deploying needs, for the
// parts they use.
func TestDeployerPermissions(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	res := f.mustRun(map[string]string{"KAFKA_PASSWORD": "not-a-real-password"},
		"--trusted-profile", "tp", "--kafka-brokers", "b0:9093", "--kafka-topic", "at")
	for _, w := range []string{
		"Administrator and Manager (with Reader, Writer) on container-registry",
		"Administrator on atracker and on the Event Streams",
		"Administrator on iam-identity",
	} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("the deployer's permissions lack %q:\n%s", w, res.stdout)
		}
	}
	f2 := newFake(t)
	res = f2.mustRun(nil, "--trusted-profile", "tp", "--image", "icr.io/team/s2s:1")
	if strings.Contains(res.stdout, "container-registry") {
		t.Errorf("with --image, no build runs: no Container Registry access is needed:\n%s", res.stdout)
	}
}
