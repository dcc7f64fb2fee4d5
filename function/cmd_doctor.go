package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	"github.com/s2s-authorizer/s2s-authorizer/internal/localrun"
	"github.com/s2s-authorizer/s2s-authorizer/internal/wiring"
)

const doctorSummary = `Check, without writing anything, that this deployment can work in its account: the
credentials and the account they belong to, the role CRNs IAM offers for the grants (this is
how the README's unconfirmed facts are answered for your account), reading policies, snapshots
in each of IBMCLOUD_REGIONS, KMS instances and their keys, whether the identity holds the roles
it grants, and the account's policy count against IAM's cap.

Each check prints ✓ (works), ✗ (broken; a fix line follows) or ? (this binary cannot tell; a
check line gives the command to find out). --code-engine also prints the ibmcloud commands that
check what deploy.sh manages (this binary has no Code Engine client).

Exit 0: no ✗; 1: at least one ✗; 2: usage or configuration error.`

// Marks of a check's result.
const (
	markPass    = "✓"
	markFail    = "✗"
	markUnknown = "?"
)

// finding is one check's answer: fix says what to do about a ✗, or for ? how to find out.
type finding struct {
	Mark   string
	Name   string
	Detail string
	Fix    string
}

type doctor struct {
	findings []finding
}

func (d *doctor) pass(name, detail string) { d.add(markPass, name, detail, "") }
func (d *doctor) fail(name, detail, fix string) {
	d.add(markFail, name, detail, fix)
}
func (d *doctor) unknown(name, detail, check string) { d.add(markUnknown, name, detail, check) }
func (d *doctor) add(mark, name, detail, fix string) {
	d.findings = append(d.findings, finding{Mark: mark, Name: name, Detail: detail, Fix: fix})
}

func (d *doctor) count(mark string) int {
	n := 0
	for _, f := range d.findings {
		if f.Mark == mark {
			n++
		}
	}
	return n
}

func (d *doctor) write(w io.Writer) {
	for _, f := range d.findings {
		fmt.Fprintf(w, "%s %s: %s\n", f.Mark, f.Name, f.Detail)
		switch {
		case f.Fix == "":
		case f.Mark == markFail:
			fmt.Fprintf(w, "    fix: %s\n", f.Fix)
		default:
			fmt.Fprintf(w, "    check: %s\n", f.Fix)
		}
	}
	fmt.Fprintf(w, "doctor: %d %s, %d %s, %d %s\n", d.count(markPass), markPass, d.count(markFail), markFail, d.count(markUnknown), markUnknown)
}

func runDoctor(ctx context.Context, a *app, args []string) int {
	fs := a.flags("doctor", "[flags]", doctorSummary)
	var l localFlags
	l.register(fs)
	codeEngine := fs.Bool("code-engine", false, "also print the ibmcloud commands that check the Code Engine app, job, subscriptions and the Activity Tracker route")
	project := fs.String("project", "s2s-authorizer", "with --code-engine: the Code Engine project deploy.sh deployed to")
	if done, code := a.parse(fs, args, 0, 0); done {
		return code
	}
	if l.world != "" && !l.local {
		fmt.Fprintln(a.stderr, "doctor: --world needs --local")
		return exitUsage
	}
	cfg, ok := a.loadConfig(nil)
	if !ok {
		return exitUsage
	}
	if l.local {
		world := emulator.SampleWorld()
		if l.world != "" {
			w, err := emulator.LoadWorldFile(l.world)
			if err != nil {
				fmt.Fprintf(a.stderr, "doctor: %v\n", err)
				return exitUsage
			}
			world = w
		}
		srv, err := localrun.Start(world)
		if err != nil {
			fmt.Fprintf(a.stderr, "doctor: %v\n", err)
			return exitFailure
		}
		defer srv.Close()
		// The configured account is one of the things checked, so it survives the emulator's
		// endpoints and credentials.
		configured := cfg.AccountID
		cfg = localrun.PointAt(cfg, srv)
		cfg.AccountID = configured
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(a.stderr, "doctor: %v\n", err)
		return exitUsage
	}
	d := &doctor{}
	d.run(ctx, cfg, a.options())
	d.write(a.stdout)
	if *codeEngine {
		writeCodeEngineChecks(a.stdout, *project)
	}
	if d.count(markFail) > 0 {
		return exitFailure
	}
	return exitOK
}

// fixPermissions points at the README's table, the one place that lists the roles.
const fixPermissions = "give the identity the roles of the README's Permissions table"

// run performs every check that can run; a check whose inputs failed is not attempted (its
// cause is already a ✗).
func (d *doctor) run(ctx context.Context, cfg config.Config, o ibm.Options) {
	settings := wiring.Settings(cfg)
	// The doctor compares the configured account with the token's itself, so that a mismatch is
	// one ✗ among the others rather than the end of the run.
	settings.AccountID = ""
	cloud, err := ibm.Connect(ctx, settings, o)
	if err != nil {
		d.fail("credentials", err.Error(), "check IBMCLOUD_API_KEY (or IBMCLOUD_TRUSTED_PROFILE and the Code Engine link of the trusted profile) and IBMCLOUD_IAM_URL")
		return
	}
	id := cloud.Identity
	d.pass("credentials", fmt.Sprintf("IAM issued a token for %s in account %s", orNone(id.IAMID), id.AccountID))
	switch {
	case cfg.AccountID == "":
		d.pass("account", fmt.Sprintf("%s, from the token (IBMCLOUD_ACCOUNT_ID is not set)", id.AccountID))
	case cfg.AccountID == id.AccountID:
		d.pass("account", fmt.Sprintf("IBMCLOUD_ACCOUNT_ID %s is the token's account", id.AccountID))
	default:
		d.fail("account", (&ibm.AccountMismatchError{Configured: cfg.AccountID, Token: id.AccountID}).Error(),
			fmt.Sprintf("unset IBMCLOUD_ACCOUNT_ID, set it to %s, or use credentials of account %s", id.AccountID, cfg.AccountID))
	}
	d.roles(ctx, cloud, settings)
	d.policies(ctx, cloud, cfg)
	for _, region := range cfg.Regions {
		d.snapshots(ctx, cloud, region)
	}
	d.keys(ctx, cloud)
	d.heldRoles(ctx, cloud, settings.RoleNeeds)
}

func orNone(s string) string {
	if s == "" {
		return "(no iam_id in the token)"
	}
	return s
}

// roles prints each role the templates grant with the CRN IAM offers for it.
func (d *doctor) roles(ctx context.Context, cloud *ibm.Cloud, s ibm.Settings) {
	err := cloud.Roles.Ready(ctx)
	needs := s.RoleNeeds
	resolved := 0
	for _, n := range needs {
		if _, ok := cloud.Roles.RoleCRN(n.Service, n.Source, n.Name); ok {
			resolved++
		}
	}
	if err != nil && resolved == 0 {
		d.fail("roles", err.Error(), "the role list (GET /v2/roles) needs only a valid token: check IBMCLOUD_IAM_URL and that IAM answers")
		return
	}
	for _, n := range needs {
		name := fmt.Sprintf("role %s on %s for %s", n.Name, n.Service, n.Source)
		if c, ok := cloud.Roles.RoleCRN(n.Service, n.Source, n.Name); ok {
			d.pass(name, c)
			continue
		}
		fix := "IAM does not offer this role to Block Storage for authorizations: grants of this kind cannot be made; report it with this output"
		if n.Name == authz.RoleNameSnapshotRestorer {
			fix = "IBM's texts disagree on the restore grant's subject: try RESTORE_SUBJECT=is-volume (or server-protect) and run doctor again (README, What is unconfirmed)"
		}
		d.fail(name, "IAM's role list (GET /v2/roles?service_name="+n.Service+"&source_service_name="+n.Source+"&policy_type=authorization) does not offer it", fix)
	}
}

// policies reads the account's authorization policies and compares their number with the cap,
// the way the policy index refuses creates (POLICY_CAP_HEADROOM below IAM's cap).
func (d *doctor) policies(ctx context.Context, cloud *ibm.Cloud, cfg config.Config) {
	policies, err := cloud.Policies.List(ctx)
	if err != nil {
		d.fail("policies", err.Error(), fixPermissions+" (Administrator on kms, hs-crypto and is lets it read their authorizations)")
		return
	}
	rows := policyRows(policies)
	managed := 0
	for _, r := range rows {
		if r.Managed {
			managed++
		}
	}
	d.pass("policies", fmt.Sprintf("%d authorization policies readable, %d of them with Block Storage as subject, %d managed by s2s-authorizer", len(policies), len(rows), managed))
	limit := authz.AccountPolicyCap - cfg.PolicyCapHeadroom
	if len(policies)+1 > limit {
		d.fail("policy cap", fmt.Sprintf("%s: creates stop at %d (POLICY_CAP_HEADROOM=%d)", authz.CapLine(len(policies)), limit, cfg.PolicyCapHeadroom),
			"delete authorization policies no longer needed (`policies` lists Block Storage's), or ask IBM support for a higher limit")
		return
	}
	d.pass("policy cap", fmt.Sprintf("%s; creates stop at %d", authz.CapLine(len(policies)), limit))
}

// errFirstPage stops a listing after its first page: reading it is the check.
var errFirstPage = errors.New("first page read")

func (d *doctor) snapshots(ctx context.Context, cloud *ibm.Cloud, region string) {
	n := 0
	err := cloud.Snapshots.List(ctx, region, func(page []authz.Snapshot) error {
		n = len(page)
		return errFirstPage
	})
	name := "snapshots in " + region
	if err != nil && !errors.Is(err, errFirstPage) {
		d.fail(name, err.Error(), fixPermissions+" (Viewer on is); if "+region+" is not a region you use, remove it from IBMCLOUD_REGIONS")
		return
	}
	d.pass(name, fmt.Sprintf("readable (%d on the first page)", n))
}

func (d *doctor) keys(ctx context.Context, cloud *ibm.Cloud) {
	instances, err := cloud.Instances.List(ctx)
	if err != nil {
		d.fail("KMS instances", err.Error(), fixPermissions+" (Viewer on resource groups, on kms and on hs-crypto)")
		return
	}
	d.pass("KMS instances", fmt.Sprintf("%d Key Protect or Hyper Protect Crypto Services instances readable", len(instances)))
	for _, inst := range instances {
		name := fmt.Sprintf("keys of %s %s", inst.Service, inst.GUID)
		keys, err := cloud.Keys.RootKeys(ctx, inst)
		if err != nil {
			fix := fixPermissions + " (Reader on " + inst.Service + ")"
			if inst.Service == "hs-crypto" {
				fix += "; for HPCS, check IBMCLOUD_KMS_URL"
			}
			d.fail(name, err.Error(), fix)
			continue
		}
		d.pass(name, fmt.Sprintf("%d root keys readable", len(keys)))
	}
}

// platformBelow are the platform roles each platform role includes.
var platformBelow = map[string][]string{
	"Administrator": {"Editor", "Operator", "Viewer"},
	"Editor":        {"Operator", "Viewer"},
	"Operator":      {"Viewer"},
}

// roleAdministrator is the platform role IAM needs on a target service to remove an
// authorization (facts file, section 1).
const roleAdministrator = "Administrator"

// heldRoles tells, where IAM lets it, whether the identity holds on each target service the
// roles it grants there (IBM: "You can grant only the level of access that you have") and
// Administrator (needed to remove an authorization). Only its own access policies are visible
// (not those of its access groups), so what is not seen there is "?", never "✗".
func (d *doctor) heldRoles(ctx context.Context, cloud *ibm.Cloud, needs []authz.RoleNeed) {
	id := cloud.Identity
	check := "ibmcloud iam service-policies SERVICE_ID, ibmcloud iam trusted-profile-policies PROFILE or ibmcloud iam user-policies USER, and the policies of its access groups (ibmcloud iam access-group-policies GROUP)"
	if id.IAMID == "" {
		d.unknown("roles held", "the token names no iam_id", check)
		return
	}
	policies, err := cloud.Policies.AccessPolicies(ctx, id.IAMID)
	if err != nil {
		d.unknown("roles held", "its access policies could not be listed: "+err.Error(), check)
		return
	}
	for _, service := range grantServices(needs) {
		need := append([]string{roleAdministrator}, grantedRoles(needs, service)...)
		held := map[string]bool{}
		for _, p := range policies {
			if coversService(p, cloud.AccountID, service) {
				for _, r := range p.Roles {
					name := r[strings.LastIndex(r, ":")+1:]
					held[name] = true
					// IAM's platform roles nest: each includes the ones below it (IAM's
					// "IAM roles and actions": Administrator ⊃ Editor ⊃ Operator ⊃ Viewer).
					for _, below := range platformBelow[name] {
						held[below] = true
					}
				}
			}
		}
		var missing []string
		for _, name := range need {
			if !held[name] {
				missing = append(missing, name)
			}
		}
		name := "roles held on " + service
		if len(missing) == 0 {
			d.pass(name, fmt.Sprintf("%s holds %s through its own access policies", id.IAMID, strings.Join(need, ", ")))
			continue
		}
		d.unknown(name, fmt.Sprintf("its own access policies do not show %s on %s (access groups may give them)", strings.Join(missing, ", "), service), check)
	}
}

// grantServices are the target services of the templates, once each, in order.
func grantServices(needs []authz.RoleNeed) []string {
	var out []string
	for _, n := range needs {
		if !slices.Contains(out, n.Service) {
			out = append(out, n.Service)
		}
	}
	return out
}

func grantedRoles(needs []authz.RoleNeed, service string) []string {
	var out []string
	for _, n := range needs {
		if n.Service == service {
			out = append(out, n.Name)
		}
	}
	return out
}

// coversService reports whether an access policy applies to the whole of service in account:
// its resource names that service (or no service: all of them) and nothing narrower.
func coversService(p authz.Policy, account, service string) bool {
	for _, a := range p.Resources {
		switch a.Name {
		case "accountId":
			if a.Value != account {
				return false
			}
		case "serviceName":
			if a.Value != service {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// writeCodeEngineChecks prints what to run to check what deploy.sh manages: the Code Engine
// SDK is not among this project's dependencies, and the CLI answers the same questions.
func writeCodeEngineChecks(w io.Writer, project string) {
	fmt.Fprintf(w, "\nCode Engine and Activity Tracker (run these; look for what follows each):\n")
	steps := []struct{ cmd, want string }{
		{"ibmcloud ce project select --name " + project, "the project deploy.sh deployed to"},
		{"ibmcloud ce application get --name s2s-authorizer", "Status Ready; command serve; the configuration variables and secrets set"},
		{"ibmcloud ce job get --name s2s-authorizer-reconcile", "argument job; the same image and configuration as the app"},
		{"ibmcloud ce subscription cron get --name s2s-authorizer-daily-reconcile", "destination job s2s-authorizer-reconcile; the schedule"},
		{"ibmcloud ce subscription kafka get --name s2s-authorizer-activity-events", "destination app s2s-authorizer; the Activity Tracker topic; Ready"},
		{"ibmcloud atracker route ls", "a route to the Event Streams target whose locations include global (tag events are emitted only there) and your regions"},
		{"ibmcloud atracker target ls", "the Event Streams target with the topic the Kafka subscription reads"},
	}
	for _, s := range steps {
		fmt.Fprintf(w, "  %s\n      want: %s\n", s.cmd, s.want)
	}
}
