// Package config reads the function's configuration from the environment (Code Engine injects
// secrets as environment variables), lets subcommand flags override it, and validates all of it
// at once so that a misconfigured deployment reports every problem in one go.
package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
)

// RegionPlaceholder in IBMCLOUD_VPC_URL or IBMCLOUD_KMS_URL is replaced by each region.
const RegionPlaceholder = "{region}"

// Public endpoints, used unless overridden.
const (
	DefaultIAMURL                = "https://iam.cloud.ibm.com"
	DefaultVPCURL                = "https://" + RegionPlaceholder + ".iaas.cloud.ibm.com/v1"
	DefaultResourceControllerURL = "https://resource-controller.cloud.ibm.com"
	DefaultKMSURL                = "https://" + RegionPlaceholder + ".kms.cloud.ibm.com"
	// DefaultHPCSURL is unconfirmed: Hyper Protect Crypto Services instances may have their own
	// key management endpoint (with a port); set IBMCLOUD_KMS_URL to it when they do.
	DefaultHPCSURL = "https://api." + RegionPlaceholder + ".hs-crypto.cloud.ibm.com"
)

// Config is the whole configuration of the function.
type Config struct {
	APIKey                 string
	TrustedProfile         string
	CRTokenFile            string
	AccountID              string
	IAMURL                 string
	VPCURL                 string
	ResourceControllerURL  string
	KMSURL                 string
	Regions                []string
	RestoreTagPrefix       string
	RestoreAllowedAccounts []string
	KMSConsumerAccounts    []string
	KMSScope               authz.Scope
	SyncMode               plan.Mode
	DryRun                 bool
	Port                   int
	EventAuthToken         string
	LogLevel               string
	PolicyCacheTTL         time.Duration
	RestoreSubject         authz.RestoreSubject
	PolicyCapHeadroom      int
	MaxWritesPerSecond     float64
	RecordDir              string
	// Backup for VPC (BACKUP_AUTHORIZATIONS, BACKUP_SHARES, BACKUP_ENTERPRISE_ACCOUNT).
	Backup                  authz.BackupMode
	BackupShares            bool
	BackupEnterpriseAccount string
}

// Problem is one bad setting: the variable, its value (masked when secret) and what is wrong.
type Problem struct {
	Variable string
	Value    string
	Reason   string
}

func (p Problem) String() string {
	if p.Value == "" {
		return fmt.Sprintf("%s: %s", p.Variable, p.Reason)
	}
	return fmt.Sprintf("%s=%q: %s", p.Variable, p.Value, p.Reason)
}

// Error lists every problem found.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = "  " + p.String()
	}
	count := "1 problem"
	if len(e.Problems) != 1 {
		count = fmt.Sprintf("%d problems", len(e.Problems))
	}
	return fmt.Sprintf("invalid configuration (%s):\n%s", count, strings.Join(lines, "\n"))
}

type variable struct {
	name   string
	def    string
	secret bool
	parse  func(c *Config, v string) error
}

// variables is the one table of configuration: name, default, and how the value is read.
var variables = []variable{
	{name: "IBMCLOUD_API_KEY", secret: true, parse: func(c *Config, v string) error { c.APIKey = v; return checkSecret(v) }},
	{name: "IBMCLOUD_TRUSTED_PROFILE", parse: func(c *Config, v string) error { c.TrustedProfile = v; return checkProfile(v) }},
	{name: "IBMCLOUD_CR_TOKEN_FILE", parse: func(c *Config, v string) error { c.CRTokenFile = v; return nil }},
	{name: "IBMCLOUD_ACCOUNT_ID", parse: func(c *Config, v string) error { c.AccountID = v; return checkOptionalAccount(v) }},
	{name: "IBMCLOUD_IAM_URL", def: DefaultIAMURL, parse: func(c *Config, v string) error { c.IAMURL = v; return checkURL(v) }},
	{name: "IBMCLOUD_VPC_URL", def: DefaultVPCURL, parse: func(c *Config, v string) error { c.VPCURL = v; return checkURL(v) }},
	{name: "IBMCLOUD_RESOURCE_CONTROLLER_URL", def: DefaultResourceControllerURL, parse: func(c *Config, v string) error { c.ResourceControllerURL = v; return checkURL(v) }},
	{name: "IBMCLOUD_KMS_URL", def: DefaultKMSURL, parse: func(c *Config, v string) error { c.KMSURL = v; return checkURL(v) }},
	{name: "IBMCLOUD_REGIONS", def: "us-south", parse: parseRegions},
	{name: "RESTORE_TAG_PREFIX", def: "s2s-restore", parse: parsePrefix},
	{name: "RESTORE_ALLOWED_ACCOUNTS", parse: func(c *Config, v string) (err error) { c.RestoreAllowedAccounts, err = parseAccounts(v); return err }},
	{name: "KMS_CONSUMER_ACCOUNTS", parse: func(c *Config, v string) (err error) { c.KMSConsumerAccounts, err = parseAccounts(v); return err }},
	{name: "KMS_SCOPE", def: string(authz.ScopeInstance), parse: parseScope},
	{name: "SYNC_MODE", def: string(plan.ModeSync), parse: parseMode},
	{name: "DRY_RUN", def: "false", parse: func(c *Config, v string) (err error) { c.DryRun, err = parseBool(v); return err }},
	{name: "PORT", def: "8080", parse: parsePort},
	{name: "EVENT_AUTH_TOKEN", secret: true, parse: func(c *Config, v string) error { c.EventAuthToken = v; return checkToken(v) }},
	{name: "LOG_LEVEL", def: "info", parse: parseLogLevel},
	{name: "POLICY_CACHE_TTL", def: "60s", parse: parseTTL},
	{name: "MAX_WRITES_PER_SECOND", def: "5", parse: parseWriteRate},
	{name: "RESTORE_SUBJECT", def: string(authz.RestoreSubjectServerProtect), parse: parseRestoreSubject},
	{name: "POLICY_CAP_HEADROOM", def: "100", parse: parseHeadroom},
	{name: "RECORD_DIR", parse: func(c *Config, v string) error { c.RecordDir = v; return nil }},
	{name: "BACKUP_AUTHORIZATIONS", def: string(authz.BackupAuto), parse: parseBackup},
	{name: "BACKUP_SHARES", def: "false", parse: func(c *Config, v string) (err error) { c.BackupShares, err = parseBool(v); return err }},
	{name: "BACKUP_ENTERPRISE_ACCOUNT", parse: func(c *Config, v string) error { c.BackupEnterpriseAccount = v; return checkOptionalAccount(v) }},
}

// FromEnv reads every variable through lookup (os.LookupEnv in production). It reports all bad
// values together; cross-variable rules are checked by Validate, after flags have had their say.
func FromEnv(lookup func(string) (string, bool)) (Config, error) {
	var c Config
	var problems []Problem
	for _, v := range variables {
		value, ok := lookup(v.name)
		value = strings.TrimSpace(value)
		if !ok || value == "" {
			value = v.def
		}
		if err := v.parse(&c, value); err != nil {
			problems = append(problems, Problem{Variable: v.name, Value: shown(v, value), Reason: err.Error()})
		}
	}
	if len(problems) > 0 {
		return c, &Error{Problems: problems}
	}
	return c, nil
}

// Defaults is the configuration of an empty environment (valid but for the missing credentials;
// the tests hold it to that), for runs that set what they need themselves.
func Defaults() Config {
	c, _ := FromEnv(func(string) (string, bool) { return "", false })
	return c
}

// Validate checks the rules that span variables. Missing credentials are an error, never
// silently replaced by anything: local runs set the emulator's API key before validating.
func (c Config) Validate() error {
	var problems []Problem
	if c.APIKey == "" && c.TrustedProfile == "" {
		problems = append(problems, Problem{Variable: "IBMCLOUD_API_KEY", Reason: "required unless IBMCLOUD_TRUSTED_PROFILE is set"})
	}
	if slices.Contains(c.RestoreAllowedAccounts, c.AccountID) && c.AccountID != "" {
		problems = append(problems, Problem{Variable: "RESTORE_ALLOWED_ACCOUNTS", Value: c.AccountID,
			Reason: "is IBMCLOUD_ACCOUNT_ID; restoring within the own account needs no authorization"})
	}
	problems = append(problems, c.backupProblems()...)
	if len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}

// backupProblems holds the enterprise account of central backups to the allowlist of accounts
// that may reach this account's snapshot data, RESTORE_ALLOWED_ACCOUNTS: an enterprise's Backup
// service creates, copies and restores this account's snapshots, which is what that list is
// about, and a second list of the same trust would drift from the first.
func (c Config) backupProblems() []Problem {
	e := c.BackupEnterpriseAccount
	switch {
	case e == "":
		return nil
	case e == c.AccountID:
		return []Problem{{Variable: "BACKUP_ENTERPRISE_ACCOUNT", Value: e, Reason: "is IBMCLOUD_ACCOUNT_ID; the account's own backup grants need no enterprise account"}}
	case !slices.Contains(c.RestoreAllowedAccounts, e):
		return []Problem{{Variable: "BACKUP_ENTERPRISE_ACCOUNT", Value: e, Reason: "is not in RESTORE_ALLOWED_ACCOUNTS, the accounts that may reach this account's snapshots: add it there too"}}
	}
	return nil
}

// Rules is the part of the configuration the domain model decides with.
func (c Config) Rules() authz.Rules {
	return authz.Rules{
		AccountID:               c.AccountID,
		RestoreTagPrefix:        c.RestoreTagPrefix,
		RestoreAllowedAccounts:  c.RestoreAllowedAccounts,
		KMSConsumerAccounts:     c.KMSConsumerAccounts,
		KMSScope:                c.KMSScope,
		RestoreSubject:          c.RestoreSubject,
		Backup:                  c.Backup,
		BackupShares:            c.BackupShares,
		BackupEnterpriseAccount: c.BackupEnterpriseAccount,
	}
}

// VPCURLFor is the VPC API URL of one region.
func (c Config) VPCURLFor(region string) string {
	return strings.ReplaceAll(c.VPCURL, RegionPlaceholder, region)
}

// KMSURLFor is the key API URL of a KMS service in one region. An IBMCLOUD_KMS_URL override
// serves both services; without one, Hyper Protect Crypto Services has its own public endpoint.
func (c Config) KMSURLFor(service, region string) string {
	url := c.KMSURL
	if service == "hs-crypto" && url == DefaultKMSURL {
		url = DefaultHPCSURL
	}
	return strings.ReplaceAll(url, RegionPlaceholder, region)
}

func shown(v variable, value string) string {
	if v.secret && value != "" {
		return fmt.Sprintf("****(%d characters)", len(value))
	}
	return value
}

func checkSecret(v string) error {
	if strings.ContainsAny(v, " \t\r\n") {
		return fmt.Errorf("contains white space")
	}
	return nil
}

var profilePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$`)

func checkProfile(v string) error {
	if v != "" && !profilePattern.MatchString(v) {
		return fmt.Errorf("want a trusted profile name or ID (letters, digits, space, . _ -; at most 100)")
	}
	return nil
}

func checkOptionalAccount(v string) error {
	if v != "" && !crn.IsAccountID(v) {
		return fmt.Errorf("want an account ID: 32 lowercase hexadecimal characters")
	}
	return nil
}

func checkURL(v string) error {
	u, err := url.Parse(strings.ReplaceAll(v, RegionPlaceholder, "region"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an absolute http or https URL")
	}
	return nil
}

var regionPattern = regexp.MustCompile(`^[a-z]{2}-[a-z]+(-[0-9])?$`)

func parseRegions(c *Config, v string) error {
	c.Regions = nil
	for _, r := range splitList(v) {
		if !regionPattern.MatchString(r) {
			return fmt.Errorf("%q is not a region name such as us-south or eu-de", r)
		}
		if !slices.Contains(c.Regions, r) {
			c.Regions = append(c.Regions, r)
		}
	}
	if len(c.Regions) == 0 {
		return fmt.Errorf("want at least one region")
	}
	return nil
}

// prefixPattern is IBM's tag alphabet without ':', which separates the prefix from the account.
var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9 _.-]+$`)

func parsePrefix(c *Config, v string) error {
	c.RestoreTagPrefix = v
	if !prefixPattern.MatchString(v) {
		return fmt.Errorf("want letters, digits, space, _ . - (no ':')")
	}
	if len(v)+1+32 > authz.MaxTagLength {
		return fmt.Errorf("too long: %q plus ':' and an account ID exceeds %d characters", v, authz.MaxTagLength)
	}
	return nil
}

func parseAccounts(v string) ([]string, error) {
	var out []string
	for _, a := range splitList(v) {
		if !crn.IsAccountID(a) {
			return nil, fmt.Errorf("%q is not an account ID (32 lowercase hexadecimal characters)", a)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func parseScope(c *Config, v string) error {
	c.KMSScope = authz.Scope(v)
	if c.KMSScope != authz.ScopeInstance && c.KMSScope != authz.ScopeKey {
		return fmt.Errorf("want instance or key")
	}
	return nil
}

func parseMode(c *Config, v string) error {
	c.SyncMode = plan.Mode(v)
	if c.SyncMode != plan.ModeSync && c.SyncMode != plan.ModeUpsertOnly {
		return fmt.Errorf("want sync or upsert-only")
	}
	return nil
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("want true or false")
	}
	return b, nil
}

func parsePort(c *Config, v string) error {
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("want a port number from 1 to 65535")
	}
	c.Port = p
	return nil
}

// minTokenLength keeps a guessable shared secret out of production.
const minTokenLength = 16

func checkToken(v string) error {
	if v != "" && len(v) < minTokenLength {
		return fmt.Errorf("too short: want at least %d characters", minTokenLength)
	}
	return checkSecret(v)
}

func parseLogLevel(c *Config, v string) error {
	c.LogLevel = strings.ToLower(v)
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		return fmt.Errorf("want debug, info, warn or error")
	}
	return nil
}

// maxCacheTTL bounds how stale the function's view of IAM may get; the reconcile heals the rest.
const maxCacheTTL = time.Hour

func parseTTL(c *Config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxCacheTTL {
		return fmt.Errorf("want a duration from 0s (no cache) to %s, e.g. 60s", maxCacheTTL)
	}
	c.PolicyCacheTTL = d
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseRestoreSubject reads the restore grants' subject form: IBM's API, CLI and Terraform texts
// say server-protect, its console steps say is with resourceType volume (facts file, section 1).
func parseRestoreSubject(c *Config, v string) error {
	switch s := authz.RestoreSubject(v); s {
	case authz.RestoreSubjectServerProtect, authz.RestoreSubjectISVolume:
		c.RestoreSubject = s
		return nil
	}
	return fmt.Errorf("want %s or %s", authz.RestoreSubjectServerProtect, authz.RestoreSubjectISVolume)
}

// parseHeadroom reads how far below IAM's policy cap creates stop (facts file, section 2: 4,020
// policies per account, shared with context-based restriction rules).
func parseHeadroom(c *Config, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n >= 4020 {
		return fmt.Errorf("want a whole number from 0 to 4019")
	}
	c.PolicyCapHeadroom = n
	return nil
}

// parseWriteRate reads the pace of IAM policy writes per process, events and the full reconcile
// together: IAM rate-limits writes (429), and a bulk tagging burst must not trip it.
func parseWriteRate(c *Config, v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1000 {
		return fmt.Errorf("want a number of writes per second above 0, at most 1000")
	}
	c.MaxWritesPerSecond = f
	return nil
}

// parseBackup reads when Backup for VPC's grants exist: auto follows the account's backup
// policies, always makes them before the first one (creating a backup policy needs them), never
// turns the kind off.
func parseBackup(c *Config, v string) error {
	switch m := authz.BackupMode(v); m {
	case authz.BackupAuto, authz.BackupAlways, authz.BackupNever:
		c.Backup = m
		return nil
	}
	return fmt.Errorf("want %s, %s or %s", authz.BackupAuto, authz.BackupAlways, authz.BackupNever)
}
