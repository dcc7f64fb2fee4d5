package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// policyRow is one line of the policies listing.
type policyRow struct {
	Kind           string   `json:"kind"`
	SubjectAccount string   `json:"subject_account"`
	Target         string   `json:"target"`
	Roles          []string `json:"roles"`
	Managed        bool     `json:"managed"`
	// Imitation marks a policy that carries this project's marker without being its grant.
	Imitation bool   `json:"imitation,omitempty"`
	Object    string `json:"object,omitempty"`
	ID        string `json:"id"`
	CreatedBy string `json:"created_by_id,omitempty"`
}

func runPolicies(ctx context.Context, a *app, args []string) int {
	fs := a.flags("policies", "[flags]", "List the authorization policies whose subject is Block Storage for VPC (server-protect, or\nis/volume): what `ibmcloud iam authorization-policies` shows, narrowed to this project's\nconcern, and how close the account is to IAM's cap of policies.")
	var l localFlags
	l.register(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if done, code := a.parse(fs, args, 0, 0); done {
		return code
	}
	s, policies, code := a.policies(ctx, l, "policies")
	if code != exitOK {
		return code
	}
	defer s.Close()
	rows := policyRows(policies)
	if *asJSON {
		a.printJSON(struct {
			Policies []policyRow `json:"policies"`
			Count    int         `json:"authorization_policies"`
			Cap      int         `json:"account_cap"`
		}{rows, len(policies), authz.AccountPolicyCap})
		return exitOK
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSUBJECT ACCOUNT\tTARGET\tROLES\tMANAGED\tID\tCREATED BY")
	for _, r := range rows {
		managed := "no"
		switch {
		case r.Managed:
			managed = "yes"
		case r.Imitation:
			managed = "imitation"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Kind, r.SubjectAccount, r.Target, authz.RoleNames(r.Roles), managed, r.ID, r.CreatedBy)
	}
	_ = tw.Flush()
	fmt.Fprintln(a.stdout, authz.CapLine(len(policies)))
	return exitOK
}

func policyRows(policies []authz.Policy) []policyRow {
	rows := []policyRow{}
	for _, p := range policies {
		if !blockStorageSubject(p) {
			continue
		}
		row := policyRow{Kind: kindOf(p), SubjectAccount: p.Subject("accountId"), Target: target(p), Roles: p.Roles, ID: p.ID,
			CreatedBy: p.CreatedBy, Imitation: p.Imitation()}
		if o, ok := p.Owner(); ok {
			row.Managed, row.Object = true, o.Object
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Target != rows[j].Target {
			return rows[i].Target < rows[j].Target
		}
		return rows[i].SubjectAccount < rows[j].SubjectAccount
	})
	return rows
}

// blockStorageSubject reports whether the policy's subject is Block Storage for VPC, in either
// form IBM documents (server-protect; is with resourceType volume), or Backup for VPC (is with
// resourceType backup-policy), whose grants this project keeps too.
func blockStorageSubject(p authz.Policy) bool {
	s := p.Subject("serviceName")
	return s == authz.SourceService || (s == authz.RestoreService && p.Subject("resourceType") == "volume") || authz.IsBackupSubject(p.Grant)
}

// kindOf names a policy's kind: from the marker when it is ours, from its shape otherwise.
func kindOf(p authz.Policy) string {
	if o, ok := p.Owner(); ok {
		return string(o.Kind)
	}
	switch service := p.Resource("serviceName"); {
	case authz.IsBackupSubject(p.Grant):
		return string(authz.KindBackup)
	case authz.IsKMSService(service) && p.Subject("accountId") == p.Resource("accountId"):
		return string(authz.KindEncryption)
	case authz.IsKMSService(service):
		return string(authz.KindEncryptionCrossAccount)
	case service == authz.RestoreService:
		return string(authz.KindRestore)
	}
	return "other"
}

func target(p authz.Policy) string {
	var parts []string
	for _, name := range []string{"serviceName", "serviceInstance", "resourceType", "resource", "snapshotId"} {
		if v := p.Resource(name); v != "" && !authz.IsBackupSubject(p.Grant) {
			parts = append(parts, v)
		}
	}
	if authz.IsBackupSubject(p.Grant) {
		// Backup grants name every resource of a type: "is/every volumeId", whatever the form.
		parts = append(parts, p.Resource("serviceName"), "every "+backupTarget(p))
	}
	return strings.Join(parts, "/")
}

// backupTarget is the ID attribute a backup grant names every resource of.
func backupTarget(p authz.Policy) string {
	for _, a := range p.Resources {
		if a.Name != "serviceName" && a.Name != "accountId" {
			return a.Name
		}
	}
	return "resource"
}

// policies opens a session and lists the account's authorization policies, for the commands
// that show them; a code other than exitOK means the command stops with it (the session is
// closed then).
func (a *app) policies(ctx context.Context, l localFlags, command string) (*session, []authz.Policy, int) {
	s, code := a.open(ctx, l, nil)
	if code != exitOK {
		return nil, nil, code
	}
	policies, err := s.Cloud.Policies.List(ctx)
	if err != nil {
		fmt.Fprintf(a.stderr, "%s: %v\n", command, err)
		s.Close()
		return nil, nil, exitFailure
	}
	return s, policies, exitOK
}
