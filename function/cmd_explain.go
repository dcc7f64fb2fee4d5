package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
)

const explainSummary = `Explain why a restore from a snapshot into another account, or Block Storage's use of a
KMS instance's keys, can or cannot work: the chain of facts from the object, through this
project's rules, to IAM's current policies and what the other account still needs on its side.

  explain restore SNAPSHOT --to ACCOUNT          SNAPSHOT is an ID (looked up in --region, or
                                                 in each of IBMCLOUD_REGIONS) or a CRN
  explain encryption INSTANCE|KEY [--for ACCOUNT] INSTANCE is a GUID or CRN, KEY a key's CRN;
                                                 ACCOUNT defaults to this account

Nothing is written. Exit 0: explained (whether or not it can work; see "possible" in --json);
1: IBM Cloud could not be read; 2: usage or configuration error.`

// explanation is the answer of explain, as text and as --json.
type explanation struct {
	Question string            `json:"question"`
	Facts    []explainFact     `json:"facts"`
	Grant    *authz.Grant      `json:"grant,omitempty"`
	Policies []explainedPolicy `json:"policies"`
	// OtherSide is what the other account needs on its side, for the operation to work.
	OtherSide []string `json:"other_account_needs,omitempty"`
	Possible  bool     `json:"possible"`
	Verdict   string   `json:"verdict"`
}

// explainFact is one link of the chain; OK is nil for a plain statement.
type explainFact struct {
	Text string `json:"fact"`
	OK   *bool  `json:"ok,omitempty"`
}

type explainedPolicy struct {
	ID string `json:"id"`
	// Ownership is managed, hand-made or imitation (policies shows the same).
	Ownership string   `json:"ownership"`
	Roles     []string `json:"roles"`
	// Covers says whether the policy gives what the operation needs.
	Covers bool   `json:"covers"`
	Note   string `json:"note,omitempty"`
}

func (e *explanation) fact(ok bool, format string, args ...any) {
	e.Facts = append(e.Facts, explainFact{Text: fmt.Sprintf(format, args...), OK: &ok})
}

func (e *explanation) note(format string, args ...any) {
	e.Facts = append(e.Facts, explainFact{Text: fmt.Sprintf(format, args...)})
}

func (e *explanation) write(w io.Writer) {
	fmt.Fprintln(w, e.Question)
	for _, f := range e.Facts {
		mark := "·"
		if f.OK != nil {
			mark = markFail
			if *f.OK {
				mark = markPass
			}
		}
		fmt.Fprintf(w, "  %s %s\n", mark, f.Text)
	}
	for _, p := range e.Policies {
		covers := "does not cover it"
		if p.Covers {
			covers = "covers it"
		}
		line := fmt.Sprintf("  → IAM has policy %s (%s, %s), which %s", p.ID, p.Ownership, authz.RoleNames(p.Roles), covers)
		if p.Note != "" {
			line += ": " + p.Note
		}
		fmt.Fprintln(w, line)
	}
	for _, o := range e.OtherSide {
		fmt.Fprintf(w, "  → the other account: %s\n", o)
	}
	fmt.Fprintf(w, "verdict: %s\n", e.Verdict)
}

func runExplain(ctx context.Context, a *app, args []string) int {
	fs := a.flags("explain", "restore SNAPSHOT --to ACCOUNT | encryption INSTANCE|KEY [--for ACCOUNT] [flags]", explainSummary)
	var l localFlags
	l.register(fs)
	to := fs.String("to", "", "restore: the `ACCOUNT` that restores")
	forAccount := fs.String("for", "", "encryption: the `ACCOUNT` whose Block Storage uses the keys (default: this account)")
	region := fs.String("region", "", "restore: the snapshot's `REGION` when SNAPSHOT is an ID")
	asJSON := fs.Bool("json", false, "print one JSON document")
	pos, done, code := a.parseInterspersed(fs, args)
	if done {
		return code
	}
	var problems []string
	switch {
	case len(pos) != 2:
		problems = append(problems, "want restore SNAPSHOT or encryption INSTANCE|KEY")
	case pos[0] == "restore":
		if !crn.IsAccountID(*to) {
			problems = append(problems, "restore needs --to ACCOUNT (32 lowercase hex)")
		}
		if *forAccount != "" {
			problems = append(problems, "--for is for encryption; restore takes --to")
		}
	case pos[0] == "encryption":
		if *forAccount != "" && !crn.IsAccountID(*forAccount) {
			problems = append(problems, "--for ACCOUNT must be 32 lowercase hex")
		}
		if *to != "" || *region != "" {
			problems = append(problems, "--to and --region are for restore")
		}
	default:
		problems = append(problems, fmt.Sprintf("unknown question %q: want restore or encryption", pos[0]))
	}
	if len(problems) > 0 {
		fmt.Fprintf(a.stderr, "explain: %s\n", strings.Join(problems, "; "))
		fs.Usage()
		return exitUsage
	}
	s, code := a.open(ctx, l, nil)
	if code != exitOK {
		return code
	}
	defer s.Close()
	rules := s.Config.Rules()
	rules.Roles = s.Cloud.Roles
	x := explainer{s: s, rules: rules}
	var e *explanation
	var err error
	if pos[0] == "restore" {
		e, err = x.restore(ctx, pos[1], *to, *region)
	} else {
		account := *forAccount
		if account == "" {
			account = rules.AccountID
		}
		e, err = x.encryption(ctx, pos[1], account)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "explain: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		a.printJSON(e)
	} else {
		e.write(a.stdout)
	}
	return exitOK
}

// parseInterspersed parses flags wherever they are, since the questions read best with the
// flag last (explain restore SNAPSHOT --to ACCOUNT); it handles help and errors as parse does.
func (a *app) parseInterspersed(fs *flag.FlagSet, args []string) (positional []string, done bool, code int) {
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(a.stderr)
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(a.stdout)
			fs.Usage()
			return nil, true, exitOK
		}
		if err != nil {
			fs.SetOutput(a.stderr)
			fmt.Fprintf(a.stderr, "%s: %v\n", fs.Name(), err)
			fs.Usage()
			return nil, true, exitUsage
		}
		if fs.NArg() == 0 {
			return positional, false, exitOK
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

type explainer struct {
	s     *session
	rules authz.Rules
}

// ownership names who made a policy, as policies shows it.
func ownership(p authz.Policy) string {
	switch {
	case p.Imitation():
		return "imitation: carries this project's marker but is not its grant"
	case func() bool { _, ok := p.Owner(); return ok }():
		return "managed"
	}
	return "hand-made"
}

// restoreRoleNote is what the restoring account needs in its own account (IBM's VPC snapshot
// documentation, "Restoring a volume from a snapshot in another account"; facts file, section 1).
const restoreRoleNote = "its users who start the restore need the VolumeRemoteAccountSnapshotRestorer role in their own account (IBM's VPC snapshot documentation)"

func (x explainer) restore(ctx context.Context, snapshot, to, region string) (*explanation, error) {
	e := &explanation{Question: fmt.Sprintf("Can account %s restore volumes from snapshot %s?", to, snapshot), Policies: []explainedPolicy{}}
	id, regions := snapshot, x.s.Config.Regions
	if strings.HasPrefix(snapshot, "crn:") {
		c, err := crn.Parse(snapshot)
		if err != nil {
			return nil, err
		}
		t, err := x.rules.Target(c)
		if err != nil || t.Kind != authz.ObjectSnapshot {
			return nil, fmt.Errorf("%s is not a snapshot's CRN", snapshot)
		}
		if t.Foreign {
			e.fact(false, "the snapshot belongs to account %s, not %s: its restore grant lives there; run explain with that account's credentials", t.Account, x.rules.AccountID)
			e.Verdict = "not answerable from this account"
			return e, nil
		}
		id, regions = c.Resource, []string{c.Location}
	}
	if region != "" {
		regions = []string{region}
	}
	var snap *authz.Snapshot
	found := ""
	for _, r := range regions {
		got, err := x.s.Cloud.Snapshots.Get(ctx, r, id)
		if err != nil {
			return nil, err
		}
		if got != nil {
			snap, found = got, r
			break
		}
	}
	if snap == nil {
		e.fact(false, "snapshot %s does not exist in %s (or is being deleted)", id, strings.Join(regions, ", "))
		e.Verdict = "no: there is no snapshot to restore from (give --region or its CRN if it lives in another region)"
		return e, nil
	}
	e.fact(true, "snapshot %s exists in %s (%s)", snap.ID, found, snap.CRN)
	if to == x.rules.AccountID {
		e.note("account %s owns the snapshot: restoring in the own account needs no authorization", to)
		e.Possible, e.Verdict = true, "yes: no authorization is involved"
		return e, nil
	}
	if len(snap.UserTags) == 0 {
		e.note("it has no user tags")
	} else {
		e.note("its tags: %s", strings.Join(snap.UserTags, ", "))
	}
	tag := x.rules.RestoreTagPrefix + ":" + to
	tagged := slices.ContainsFunc(snap.UserTags, func(t string) bool {
		account, matched, err := authz.ParseRestoreTag(x.rules.RestoreTagPrefix, t)
		return matched && err == nil && account == to
	})
	if tagged {
		e.fact(true, "the tag %s is there", tag)
	} else {
		e.fact(false, "the tag %s is not there: tag the snapshot with it to ask for the grant", tag)
	}
	allowed := slices.Contains(x.rules.RestoreAllowedAccounts, to)
	if allowed {
		e.fact(true, "%s is in RESTORE_ALLOWED_ACCOUNTS", to)
	} else {
		e.fact(false, "%s is not in RESTORE_ALLOWED_ACCOUNTS: the tag is refused until it is added", to)
	}
	wanted, refusals := x.rules.ForSnapshot(snap)
	for _, r := range refusals {
		// Not being allowlisted is said above already.
		if strings.HasSuffix(r.Tag, to) && (allowed || !strings.Contains(r.Reason, "RESTORE_ALLOWED_ACCOUNTS")) {
			e.fact(false, "refused: %s", r)
		}
	}
	var want *authz.Authorization
	for i := range wanted {
		if wanted[i].Subject("accountId") == to {
			want = &wanted[i]
		}
	}
	// What a policy must give, wanted or not: the grant the rules would make were the snapshot
	// tagged and the account allowed. A hand-made policy gives it just the same.
	hypo := x.rules
	hypo.RestoreAllowedAccounts = []string{to}
	would, _ := hypo.ForSnapshot(&authz.Snapshot{ID: snap.ID, CRN: snap.CRN, UserTags: []string{tag}})
	if want != nil {
		e.setGrant(want.Grant)
	} else {
		e.note("no grant should exist by this project's rules")
	}
	e.OtherSide = []string{restoreRoleNote}
	err := x.judge(ctx, e, func(p authz.Policy) bool { return p.Resource("snapshotId") == snap.ID && p.Subject("accountId") == to },
		func(p authz.Policy) bool { return len(would) == 1 && slices.Contains(would[0].CoveringKeys(), p.Key()) },
		"no longer wanted: the next event or reconcile deletes it (unless SYNC_MODE=upsert-only)",
		"yes, as far as this account goes: IAM holds a policy that gives the restore", "gives the restore")
	if err != nil {
		return nil, err
	}
	return e, nil
}

// setGrant records the grant that should exist, and notes a role IAM does not offer: the grant
// then keeps the bare role name and nothing is created (doctor shows the role list).
func (e *explanation) setGrant(g authz.Grant) {
	e.Grant = &g
	e.note("the grant that should exist: %s", g)
	for _, r := range g.Roles {
		if !strings.HasPrefix(r, "crn:") {
			e.fact(false, "IAM does not offer the role %s for this grant: nothing can be created (run doctor)", r)
		}
	}
}

func (x explainer) encryption(ctx context.Context, object, account string) (*explanation, error) {
	e := &explanation{Question: fmt.Sprintf("Can Block Storage of account %s use the keys of %s?", account, object), Policies: []explainedPolicy{}}
	var keyID string
	var inst *authz.KMSInstance
	if strings.HasPrefix(object, "crn:") {
		c, err := crn.Parse(object)
		if err != nil {
			return nil, err
		}
		t, err := x.rules.Target(c)
		if err != nil || t.Kind == authz.ObjectSnapshot {
			return nil, fmt.Errorf("%s is not the CRN of a Key Protect or Hyper Protect Crypto Services instance or key", object)
		}
		if t.Foreign {
			e.fact(false, "%s belongs to account %s, not %s: its authorization lives there (facts: the policy lives in the key's account); run explain with that account's credentials", object, t.Account, x.rules.AccountID)
			e.Verdict = "not answerable from this account"
			return e, nil
		}
		if t.Kind == authz.ObjectKMSKey {
			keyID = c.Resource
		}
		object = c.Instance().String()
	}
	got, err := x.s.Cloud.Instances.Get(ctx, object)
	if err != nil {
		return nil, err
	}
	if got == nil {
		e.fact(false, "no active Key Protect or Hyper Protect Crypto Services instance %s", object)
		e.Verdict = "no: there is no instance"
		return e, nil
	}
	inst = got
	e.fact(true, "instance %s is an active %s instance (%s)", inst.GUID, inst.Service, inst.CRN)
	var root *authz.RootKey
	if keyID != "" {
		key, err := x.s.Cloud.Keys.Get(ctx, *inst, keyID)
		if err != nil {
			return nil, err
		}
		switch {
		case key == nil:
			e.fact(false, "the instance has no key %s", keyID)
		case key.Deleted:
			e.fact(false, "key %s is deleted", keyID)
		case !key.Root:
			e.fact(false, "key %s is a standard key: Block Storage encrypts only with root keys", keyID)
		default:
			e.fact(true, "key %s is an active root key", keyID)
			root = &key.RootKey
		}
		if root == nil {
			e.Verdict = "no: the key cannot encrypt volumes"
			return e, nil
		}
	}
	own := account == x.rules.AccountID
	if own {
		e.note("%s is this account: its Block Storage always gets Reader", account)
	} else if slices.Contains(x.rules.KMSConsumerAccounts, account) {
		e.fact(true, "%s is in KMS_CONSUMER_ACCOUNTS: it gets Reader + AuthorizationDelegator", account)
	} else {
		e.fact(false, "%s is not in KMS_CONSUMER_ACCOUNTS: no grant is made for it until it is added", account)
	}
	e.note("KMS_SCOPE=%s: one policy per %s", x.rules.KMSScope, map[authz.Scope]string{authz.ScopeInstance: "KMS instance", authz.ScopeKey: "root key"}[x.rules.KMSScope])
	var wanted []authz.Authorization
	switch {
	case x.rules.KMSScope == authz.ScopeInstance:
		wanted = x.rules.ForInstance(inst)
	case root != nil:
		wanted = x.rules.ForKey(root)
	default:
		e.note("in key scope the instance itself has no grant: explain a root key's CRN")
	}
	for i := range wanted {
		if wanted[i].Subject("accountId") == account {
			e.setGrant(wanted[i].Grant)
		}
	}
	if e.Grant == nil {
		e.note("no grant should exist by this project's rules")
	}
	// A policy on the whole instance, or on this root key, gives the use of the key, whoever made it.
	hypo := x.rules
	hypo.KMSConsumerAccounts = []string{account}
	var covering []string
	hypo.KMSScope = authz.ScopeInstance
	for _, a := range hypo.ForInstance(inst) {
		if a.Subject("accountId") == account {
			covering = append(covering, a.CoveringKeys()...)
		}
	}
	if root != nil {
		hypo.KMSScope = authz.ScopeKey
		for _, a := range hypo.ForKey(root) {
			if a.Subject("accountId") == account {
				covering = append(covering, a.CoveringKeys()...)
			}
		}
	}
	if !own {
		e.OtherSide = []string{"nothing in IAM: the authorization lives in the key's account, this one (facts §1); it creates its volumes naming the key's CRN"}
	}
	// A key-scope policy names its key: only this key's counts.
	match := func(p authz.Policy) bool {
		k := p.Resource("resource")
		return p.Resource("serviceInstance") == inst.GUID && p.Subject("accountId") == account && (k == "" || k == keyID)
	}
	err = x.judge(ctx, e, match, func(p authz.Policy) bool { return slices.Contains(covering, p.Key()) }, "",
		"yes: IAM holds a policy that lets Block Storage read the key", "lets Block Storage read the key")
	if err != nil {
		return nil, err
	}
	return e, nil
}

// judge reads IAM's policies with Block Storage as subject that match the question, records
// each with whether it covers the operation (and unwanted as its note when it is managed and
// the rules ask for no grant), and concludes: possible when one covers it; else not yet when
// the rules ask for a grant (e.Grant), else no. yes is the verdict when possible; gives says
// what a policy would have to do.
func (x explainer) judge(ctx context.Context, e *explanation, match, covers func(authz.Policy) bool, unwanted, yes, gives string) error {
	policies, err := x.s.Cloud.Policies.List(ctx)
	if err != nil {
		return err
	}
	for _, p := range policies {
		if !blockStorageSubject(p) || !match(p) {
			continue
		}
		ep := explainedPolicy{ID: p.ID, Ownership: ownership(p), Roles: p.Roles, Covers: covers(p)}
		if _, ours := p.Owner(); ours && e.Grant == nil {
			ep.Note = unwanted
		}
		e.Possible = e.Possible || ep.Covers
		e.Policies = append(e.Policies, ep)
	}
	if len(e.Policies) == 0 {
		msg := "IAM has no policy for it"
		if e.Grant != nil {
			msg += ": the next event or reconcile creates it (reconcile --dry-run shows it)"
		}
		e.fact(false, "%s", msg)
	}
	switch {
	case e.Possible:
		e.Verdict = yes
	case e.Grant != nil:
		e.Verdict = "not yet: the grant is wanted and missing"
	default:
		e.Verdict = "no: no policy " + gives + ", and the rules ask for none"
	}
	return nil
}
