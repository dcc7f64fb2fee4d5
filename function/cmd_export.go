package main

import (
	"context"
	"fmt"

	"github.com/s2s-authorizer/s2s-authorizer/internal/tfexport"
)

const exportSummary = `Print the Block Storage authorizations that exist in the account as Terraform for the IBM
provider: one ibm_iam_authorization_policy per policy (subject_attributes and
resource_attributes blocks with the policy's attributes, roles by name, the description) and an
import block with the policy's ID, so that terraform plan shows no change after the import.
Resource names come from the kind and the object (<kind>_<object>[_<account>]) and stay the
same from one export to the next.

FORMAT is terraform. Only the policies this project manages are exported, unless --all: then
hand-made ones too (named unmanaged_<kind>_…). Policies that imitate this project's marker are
never exported. The managed policies keep their marker: while s2s-authorizer runs, it still
deletes them when no longer wanted; remove the marker from description to hand one over.

Exit 0: printed; 1: the policies could not be read; 2: usage or configuration error.`

func runExport(ctx context.Context, a *app, args []string) int {
	fs := a.flags("export", "[flags] FORMAT", exportSummary)
	var l localFlags
	l.register(fs)
	all := fs.Bool("all", false, "also export Block Storage authorizations made by hand")
	if done, code := a.parse(fs, args, 1, 1); done {
		return code
	}
	if format := fs.Arg(0); format != "terraform" {
		fmt.Fprintf(a.stderr, "export: format %q: only terraform is supported\n", format)
		fs.Usage()
		return exitUsage
	}
	s, policies, code := a.policies(ctx, l, "export")
	if code != exitOK {
		return code
	}
	defer s.Close()
	var entries []tfexport.Entry
	for _, p := range policies {
		if !blockStorageSubject(p) || p.Imitation() {
			continue
		}
		_, managed := p.Owner()
		if managed || *all {
			entries = append(entries, tfexport.Entry{Policy: p, Kind: kindOf(p), Managed: managed})
		}
	}
	if err := tfexport.Write(a.stdout, entries); err != nil {
		fmt.Fprintf(a.stderr, "export: %v\n", err)
		return exitFailure
	}
	if len(entries) == 0 {
		fmt.Fprintln(a.stderr, "export: no Block Storage authorizations to export")
	}
	return exitOK
}
