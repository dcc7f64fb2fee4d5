package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
)

const (
	acct  = fixture.Account
	other = fixture.Restorer
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	if _, err := FromEnv(env(nil)); err != nil {
		t.Fatalf("an empty environment is not valid: %v", err)
	}
	c := Defaults()
	c.APIKey = "key"
	want := Config{
		APIKey: "key", IAMURL: DefaultIAMURL, VPCURL: DefaultVPCURL, ResourceControllerURL: DefaultResourceControllerURL,
		KMSURL: DefaultKMSURL, Regions: []string{"us-south"}, RestoreTagPrefix: "s2s-restore",
		KMSScope: authz.ScopeInstance, SyncMode: plan.ModeSync, Port: 8080, LogLevel: "info", PolicyCacheTTL: time.Minute,
		RestoreSubject: authz.RestoreSubjectServerProtect, PolicyCapHeadroom: 100, MaxWritesPerSecond: 5, Backup: authz.BackupAuto,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if got := c.VPCURLFor("eu-de"); got != "https://eu-de.iaas.cloud.ibm.com/v1" {
		t.Errorf("VPCURLFor = %q", got)
	}
	for service, want := range map[string]string{"kms": "https://eu-de.kms.cloud.ibm.com", "hs-crypto": "https://api.eu-de.hs-crypto.cloud.ibm.com"} {
		if got := c.KMSURLFor(service, "eu-de"); got != want {
			t.Errorf("KMSURLFor(%s) = %q, want %q", service, got, want)
		}
	}
}

func TestGoodValues(t *testing.T) {
	c, err := FromEnv(env(map[string]string{
		"IBMCLOUD_TRUSTED_PROFILE": "s2s-authorizer", "IBMCLOUD_ACCOUNT_ID": acct, "IBMCLOUD_KMS_URL": "http://127.0.0.1:9000",
		"IBMCLOUD_VPC_URL": "http://127.0.0.1:9000/vpc/{region}/v1", "IBMCLOUD_REGIONS": " us-south, eu-de ,us-south",
		"RESTORE_ALLOWED_ACCOUNTS": other + ", " + other, "KMS_CONSUMER_ACCOUNTS": other, "KMS_SCOPE": "key",
		"SYNC_MODE": "upsert-only", "DRY_RUN": "true", "PORT": "9090", "LOG_LEVEL": "DEBUG", "POLICY_CACHE_TTL": "0s",
		"EVENT_AUTH_TOKEN":      "0123456789abcdef0123",
		"BACKUP_AUTHORIZATIONS": "always", "BACKUP_SHARES": "true", "BACKUP_ENTERPRISE_ACCOUNT": other,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("a trusted profile without an API key is valid: %v", err)
	}
	if diff := cmp.Diff([]string{"us-south", "eu-de"}, c.Regions); diff != "" {
		t.Errorf("regions: %s", diff)
	}
	if diff := cmp.Diff([]string{other}, c.RestoreAllowedAccounts); diff != "" {
		t.Errorf("allowed accounts: %s", diff)
	}
	if c.KMSScope != authz.ScopeKey || c.SyncMode != plan.ModeUpsertOnly || !c.DryRun || c.Port != 9090 || c.LogLevel != "debug" || c.PolicyCacheTTL != 0 {
		t.Errorf("parsed %+v", c)
	}
	if r := c.Rules(); r.Backup != authz.BackupAlways || !r.BackupShares || r.BackupEnterpriseAccount != other {
		t.Errorf("backup rules %+v, want always, shares, enterprise %s (allowlisted, so valid)", r, other)
	}
	if r := c.Rules(); r.Backup != authz.BackupAlways || !r.BackupShares || r.BackupEnterpriseAccount != other {
		t.Errorf("backup rules %+v, want always, shares, enterprise %s (allowlisted, so valid)", r, other)
	}
	if got := c.VPCURLFor("eu-de"); got != "http://127.0.0.1:9000/vpc/eu-de/v1" {
		t.Errorf("VPCURLFor = %q", got)
	}
	if got := c.KMSURLFor("hs-crypto", "eu-de"); got != "http://127.0.0.1:9000" {
		t.Errorf("an IBMCLOUD_KMS_URL override serves both services; got %q", got)
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		variable, value, want string
	}{
		{"IBMCLOUD_API_KEY", "has space", "white space"},
		{"IBMCLOUD_TRUSTED_PROFILE", "profile;rm", "trusted profile name"},
		{"IBMCLOUD_ACCOUNT_ID", "4B9F2C1D8E7A6B5C4D3E2F1A0B9C8D7E", "32 lowercase hexadecimal"},
		{"IBMCLOUD_ACCOUNT_ID", "abc", "32 lowercase hexadecimal"},
		{"IBMCLOUD_IAM_URL", "iam.cloud.ibm.com", "absolute http or https URL"},
		{"IBMCLOUD_VPC_URL", "ftp://x/v1", "absolute http or https URL"},
		{"IBMCLOUD_RESOURCE_CONTROLLER_URL", "http://", "absolute http or https URL"},
		{"IBMCLOUD_KMS_URL", "/relative", "absolute http or https URL"},
		{"IBMCLOUD_REGIONS", "Dallas", "not a region name"},
		{"IBMCLOUD_REGIONS", ",", "at least one region"},
		{"RESTORE_TAG_PREFIX", "s2s:restore", "no ':'"},
		{"RESTORE_TAG_PREFIX", strings.Repeat("p", 100), "too long"},
		{"RESTORE_ALLOWED_ACCOUNTS", other + ",nope", `"nope" is not an account ID`},
		{"KMS_CONSUMER_ACCOUNTS", "9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D", "not an account ID"},
		{"KMS_SCOPE", "global", "want instance or key"},
		{"RESTORE_SUBJECT", "volume", "want server-protect or is-volume"},
		{"POLICY_CAP_HEADROOM", "-1", "whole number from 0 to 4019"},
		{"POLICY_CAP_HEADROOM", "5000", "whole number from 0 to 4019"},
		{"SYNC_MODE", "create-only", "want sync or upsert-only"},
		{"DRY_RUN", "maybe", "want true or false"},
		{"PORT", "0", "1 to 65535"},
		{"PORT", "http", "1 to 65535"},
		{"EVENT_AUTH_TOKEN", "short", "too short"},
		{"LOG_LEVEL", "verbose", "debug, info, warn or error"},
		{"POLICY_CACHE_TTL", "2h", "duration from 0s"},
		{"POLICY_CACHE_TTL", "-1s", "duration from 0s"},
		{"BACKUP_AUTHORIZATIONS", "sometimes", "want auto, always or never"},
		{"BACKUP_SHARES", "yes please", "want true or false"},
		{"BACKUP_ENTERPRISE_ACCOUNT", "enterprise", "32 lowercase hexadecimal"},
	}
	for _, tt := range tests {
		t.Run(tt.variable+"="+tt.value, func(t *testing.T) {
			_, err := FromEnv(env(map[string]string{"IBMCLOUD_API_KEY": "key", tt.variable: tt.value}))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.variable) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not name %s and say %q", msg, tt.variable, tt.want)
			}
		})
	}
}

func TestAllProblemsAtOnceAndSecretsMasked(t *testing.T) {
	_, err := FromEnv(env(map[string]string{
		"IBMCLOUD_API_KEY": "secret value", "EVENT_AUTH_TOKEN": "tiny", "PORT": "x", "KMS_SCOPE": "y",
	}))
	var cerr *Error
	if err == nil {
		t.Fatal("accepted")
	}
	cerr, _ = err.(*Error)
	if cerr == nil || len(cerr.Problems) != 4 {
		t.Fatalf("want 4 problems, got %v", err)
	}
	msg := err.Error()
	for _, secret := range []string{"secret value", "tiny"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error shows the secret %q:\n%s", secret, msg)
		}
	}
	if !strings.Contains(msg, `IBMCLOUD_API_KEY="****(12 characters)"`) {
		t.Errorf("the masked value is missing:\n%s", msg)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "no credentials", env: map[string]string{}, want: "IBMCLOUD_API_KEY: required unless IBMCLOUD_TRUSTED_PROFILE is set"},
		{name: "own account allowed to restore", env: map[string]string{"IBMCLOUD_API_KEY": "k", "IBMCLOUD_ACCOUNT_ID": acct, "RESTORE_ALLOWED_ACCOUNTS": acct}, want: "RESTORE_ALLOWED_ACCOUNTS"},
		{name: "enterprise account not allowlisted", env: map[string]string{"IBMCLOUD_API_KEY": "k", "IBMCLOUD_ACCOUNT_ID": acct, "BACKUP_ENTERPRISE_ACCOUNT": other},
			want: `BACKUP_ENTERPRISE_ACCOUNT="` + other + `": is not in RESTORE_ALLOWED_ACCOUNTS`},
		{name: "enterprise account is the own account", env: map[string]string{"IBMCLOUD_API_KEY": "k", "IBMCLOUD_ACCOUNT_ID": acct, "BACKUP_ENTERPRISE_ACCOUNT": acct},
			want: "BACKUP_ENTERPRISE_ACCOUNT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
