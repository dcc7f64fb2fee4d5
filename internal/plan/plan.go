// Package plan compares the authorizations that should exist with the policies that do and
// says what to change. It is pure: the caller reads the state and applies the result.
package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// Mode is the SYNC_MODE policy, as external-dns names it.
type Mode string

const (
	ModeSync       Mode = "sync"        // create and delete
	ModeUpsertOnly Mode = "upsert-only" // create, never delete
)

// Action is what happens to one authorization.
type Action string

const (
	Create  Action = "create"  // wanted, missing: create it
	Delete  Action = "delete"  // ours, no longer wanted: delete it
	Keep    Action = "keep"    // ours and wanted: nothing to do
	Covered Action = "covered" // wanted, and an equal policy not ours exists: leave both alone
	Retain  Action = "retain"  // ours, no longer wanted, but upsert-only forbids the delete
	// Replace: ours, for the same subject and resource but other roles (a template changed).
	// IAM allows one active policy per subject and resource, so the old one goes first.
	Replace Action = "replace"
	// Blocked: wanted, but a policy not ours holds the same subject and resource with other
	// roles; IAM would refuse ours, and theirs is never touched. Reported for a person to decide.
	Blocked Action = "blocked"
	// Imitation: a policy that carries this project's marker but whose grant does not fit the
	// marker's template for the marker's object (anyone can write a description). Reported with
	// who created it, never deleted or replaced.
	Imitation Action = "imitation"
)

// Change is one line of a plan. Authorization is set for create, keep, covered, replace and
// blocked; Policy for every action but create (for replace, the policy replaced).
type Change struct {
	Action        Action
	Authorization authz.Authorization
	Policy        authz.Policy
	// MayReplace lets a create replace our own policy for the same subject and resource that
	// IAM names in a 409 (the plan did not know of it). The mode's filter clears it where
	// deletes are forbidden.
	MayReplace bool
}

// Plan is the list of changes for one object or for the whole account, in a stable order.
type Plan struct {
	Changes []Change
}

// Compute plans desired against existing, then applies the mode's filter (policy.go). existing
// must hold the managed policies in scope (every one of them that is not wanted is deleted) and
// may hold any other policy; unmanaged ones are only used to notice that an equal grant already
// exists. Inactive policies are ignored: a policy IAM already deleted covers nothing.
func Compute(desired []authz.Authorization, existing []authz.Policy, mode Mode) Plan {
	return mode.Filter(diff(desired, existing))
}

// diff is the plan of sync mode: everything that should change.
func diff(desired []authz.Authorization, existing []authz.Policy) Plan {
	byKey := map[string][]authz.Policy{}
	byAttrs := map[string][]authz.Policy{}
	// Proving ownership checks the grant against its template; once per policy is enough.
	ours := make(map[string]bool, len(existing))
	for _, p := range existing {
		_, ours[p.ID] = p.Owner()
		if p.Active() {
			byKey[p.Key()] = append(byKey[p.Key()], p)
			byAttrs[p.AttributesKey()] = append(byAttrs[p.AttributesKey()], p)
		}
	}
	var changes []Change
	used := map[string]bool{}
	covering := map[string]bool{}
	wanted := map[string]bool{}
	for _, d := range desired {
		k := d.Key()
		if wanted[k] {
			continue
		}
		wanted[k] = true
		// A policy not ours that gives the same first: ours would only duplicate it (IAM
		// refuses a second one of the same form, but another form IBM documents can coexist),
		// so an equal copy of ours is surplus and goes.
		if p := firstCovering(d, byKey, ours); p != nil {
			covering[p.ID] = true
			changes = append(changes, Change{Action: Covered, Authorization: d, Policy: *p})
			continue
		}
		if p := firstManaged(byKey[k], ours, used); p != nil {
			used[p.ID] = true
			changes = append(changes, Change{Action: Keep, Authorization: d, Policy: *p})
			continue
		}
		same := byAttrs[d.AttributesKey()]
		if p := firstManaged(same, ours, used); p != nil {
			used[p.ID] = true
			changes = append(changes, Change{Action: Replace, Authorization: d, Policy: *p})
			continue
		}
		if p := firstUnmanaged(same, ours); p != nil {
			changes = append(changes, Change{Action: Blocked, Authorization: d, Policy: *p})
			continue
		}
		changes = append(changes, Change{Action: Create, Authorization: d, MayReplace: true})
	}
	for _, p := range existing {
		if _, marked := authz.ParseOwner(p.Description); marked && !ours[p.ID] && p.Active() && !covering[p.ID] {
			changes = append(changes, Change{Action: Imitation, Policy: p})
			continue
		}
		if !ours[p.ID] || !p.Active() || used[p.ID] {
			continue
		}
		// A second managed copy of a wanted grant is surplus too, so it goes like any other.
		used[p.ID] = true
		changes = append(changes, Change{Action: Delete, Policy: p})
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].sortKey() < changes[j].sortKey() })
	return Plan{Changes: changes}
}

func firstManaged(ps []authz.Policy, ours, used map[string]bool) *authz.Policy {
	for i := range ps {
		if ours[ps[i].ID] && !used[ps[i].ID] {
			return &ps[i]
		}
	}
	return nil
}

// firstCovering is a policy not ours that gives what d asks for, in d's own form or another form
// IBM documents for it (authz.Authorization.CoveringKeys).
func firstCovering(d authz.Authorization, byKey map[string][]authz.Policy, ours map[string]bool) *authz.Policy {
	for _, k := range d.CoveringKeys() {
		if p := firstUnmanaged(byKey[k], ours); p != nil {
			return p
		}
	}
	return nil
}

func firstUnmanaged(ps []authz.Policy, ours map[string]bool) *authz.Policy {
	for i := range ps {
		if !ours[ps[i].ID] {
			return &ps[i]
		}
	}
	return nil
}

// wants reports whether the change is about a wanted authorization (rather than an
// existing policy that is not wanted).
func (c Change) wants() bool {
	return c.Action != Delete && c.Action != Retain && c.Action != Imitation
}

// Object is the CRN of the snapshot, instance or key a change concerns.
func (c Change) Object() string {
	if c.wants() && c.Action != Keep {
		return c.Authorization.Object
	}
	// The marker's claim: proven for ours, only claimed for an imitation.
	if o, ok := authz.ParseOwner(c.Policy.Description); ok {
		return o.Object
	}
	return c.Authorization.Object
}

func (c Change) sortKey() string { return c.Object() + "\x00" + c.Grant().Key() + "\x00" + c.Policy.ID }

// Kind is the kind of authorization the change is about: the wanted one's, or the one in the
// unwanted policy's marker.
func (c Change) Kind() authz.Kind {
	if c.wants() {
		return c.Authorization.Kind
	}
	o, _ := authz.ParseOwner(c.Policy.Description)
	return o.Kind
}

// Grant is the grant the change is about: the wanted one, or the unwanted policy's.
func (c Change) Grant() authz.Grant {
	if c.wants() {
		return c.Authorization.Grant
	}
	return c.Policy.Grant
}

// Symbol is the plan-line prefix, as terraform plan prints it.
func (c Change) Symbol() string {
	switch c.Action {
	case Create:
		return "+"
	case Delete:
		return "-"
	case Replace:
		return "-/+"
	case Blocked, Imitation:
		return "!"
	default:
		return "="
	}
}

// String is one line of the plan: symbol, action, the grant, and the policy it concerns.
func (c Change) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-7s %s", c.Symbol(), c.Action, c.Grant())
	switch c.Action {
	case Create:
	case Covered:
		fmt.Fprintf(&b, " [policy %s, not managed]", c.Policy.ID)
	case Retain:
		fmt.Fprintf(&b, " [policy %s, kept: upsert-only]", c.Policy.ID)
	case Replace:
		fmt.Fprintf(&b, " [replaces policy %s with roles %s]", c.Policy.ID, authz.RoleNames(c.Policy.Roles))
	case Blocked:
		fmt.Fprintf(&b, " [blocked by policy %s, not managed, with roles %s]", c.Policy.ID, authz.RoleNames(c.Policy.Roles))
	case Imitation:
		fmt.Fprintf(&b, " [policy %s carries this project's marker but is not its grant; created by %s; left alone]", c.Policy.ID, orUnknown(c.Policy.CreatedBy))
	default:
		fmt.Fprintf(&b, " [policy %s]", c.Policy.ID)
	}
	return b.String()
}

// Count returns how many changes have each action.
func (p Plan) Count() map[Action]int {
	n := map[Action]int{}
	for _, c := range p.Changes {
		n[c.Action]++
	}
	return n
}

// Pending reports whether the plan would write anything.
func (p Plan) Pending() bool {
	n := p.Count()
	return n[Create]+n[Delete]+n[Replace] > 0
}

// Summary is the count line, as terraform plan ends.
func (p Plan) Summary() string {
	n := p.Count()
	text := fmt.Sprintf("Plan: %d to create, %d to delete, %d unchanged, %d covered by policies not managed, %d retained (upsert-only).",
		n[Create], n[Delete], n[Keep], n[Covered], n[Retain])
	if n[Replace] > 0 || n[Blocked] > 0 {
		text += fmt.Sprintf(" %d to replace, %d blocked by policies not managed.", n[Replace], n[Blocked])
	}
	if n[Imitation] > 0 {
		text += fmt.Sprintf(" %d policies carry this project's marker without being its own (left alone).", n[Imitation])
	}
	return text
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
