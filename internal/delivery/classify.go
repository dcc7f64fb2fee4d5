package delivery

import (
	"fmt"
	"slices"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
)

// Decision is what an Activity Tracker event means for the function.
type Decision struct {
	// Object is set when there is something to converge.
	Object *converge.Object
	// Ignore says why there is nothing to do; Warn marks reasons an operator should see.
	Ignore string
	Warn   bool
	// OutOfScope marks an object in a real VPC region outside IBMCLOUD_REGIONS: refused, and
	// logged so, because the full reconcile would never revisit a grant made for it.
	OutOfScope bool
}

// VPCRegions are the regions VPC is available in, from IBM's "Creating a VPC in a different
// region" (ibm-cloud-docs/vpc, vpc-regions.md, last updated 2025-12-21). Key Protect and Hyper
// Protect Crypto Services regions are all among them. A region IBM adds later is acted on once
// it is listed in IBMCLOUD_REGIONS; any other location in a CRN is nobody's region and is
// ignored, so that a made-up one can neither make the function call an endpoint that does not
// resolve (503 for ever, as Kafka redelivers) nor grow its per-region clients.
var VPCRegions = []string{
	"us-south", "us-east", "br-sao", "ca-tor", "ca-mon",
	"eu-gb", "eu-de", "eu-es",
	"in-che", "jp-tok", "jp-osa", "au-syd",
}

// keyActions are the Key Protect and Hyper Protect Crypto Services actions that can change which
// keys exist (ibm-cloud-docs/key-protect, "Activity Tracker events": kms.secrets.create, delete,
// restore, purge; rotate changes no key's existence); removed marks those after which the key's
// type no longer matters.
var keyActions = map[string]struct{ removed bool }{
	"kms.secrets.create":        {},
	"kms.secrets.restore":       {},
	"kms.secrets.delete":        {removed: true},
	"kms.secrets.purge":         {removed: true},
	"hs-crypto.secrets.create":  {},
	"hs-crypto.secrets.restore": {},
	"hs-crypto.secrets.delete":  {removed: true},
	// HPCS has the same actions as Key Protect, purge included (HPCS Activity Tracker events
	// docs, ibm-cloud-facts §4).
	"hs-crypto.secrets.purge": {removed: true},
}

// snapshotActions are the VPC snapshot lifecycle actions (ibm-cloud-docs/vpc, "Activity Tracker
// events": is.snapshot.snapshot.create, update, delete; tags set through the VPC API emit update).
var snapshotActions = map[string]bool{
	"is.snapshot.snapshot.create": true,
	"is.snapshot.snapshot.update": true,
	"is.snapshot.snapshot.delete": true,
	// IBM's own VPC sample event writes the short form (ibm-cloud-facts §4).
	"is.snapshot.create": true,
}

// isTagAction matches <service>.tag.attach and .detach, from whichever service reports them: the
// tagging events are account-management events emitted in the global location, and IBM does not
// document the service part for VPC resources (ibm-cloud-docs/account, tagging events; facts file,
// section 4), so every service's form is accepted and the tests cover is. and
// global-search-tagging.
func isTagAction(action string) bool {
	return strings.HasSuffix(action, ".tag.attach") || strings.HasSuffix(action, ".tag.detach")
}

// Classify routes an event on its action and its target CRN, through the rules' one mapping of
// a CRN to its object (authz.Rules.Target). regions is IBMCLOUD_REGIONS, the regions the full
// reconcile covers; nil puts every VPC region in scope (for callers without a configuration).
// An error means the event claims an action this function handles but is inconsistent (no
// CRN, a CRN of the wrong kind): bad input that no retry can fix. What IBM itself may send
// (a snapshot CRN without cname or region) is ignored with a warning instead, as the sender
// cannot fix it.
func Classify(ev *ActivityEvent, rules authz.Rules, regions []string) (Decision, error) {
	if backupActions[ev.Action] {
		return classifyBackup(ev, rules, regions)
	}
	key, isKey := keyActions[ev.Action]
	isSnapshot, isTag := snapshotActions[ev.Action], isTagAction(ev.Action)
	if !isKey && !isSnapshot && !isTag {
		return Decision{Ignore: fmt.Sprintf("action %q is not one this function handles", Abbreviate(ev.Action))}, nil
	}
	if ev.Outcome != "success" {
		return Decision{Ignore: fmt.Sprintf("outcome is %q: the action changed nothing", Abbreviate(ev.Outcome))}, nil
	}
	if ev.Target.ID == "" {
		return Decision{}, fmt.Errorf("target.id: missing; want the CRN of the %s", what(isKey))
	}
	c, err := crn.Parse(ev.Target.ID)
	if err != nil {
		if !isKey && incompleteSnapshotCRN(ev.Target.ID) {
			return cannotNameSnapshot(ev.Target.ID), nil
		}
		return Decision{}, fmt.Errorf("target.id: %w", err)
	}
	target, err := rules.Target(c)
	wantKind := authz.ObjectSnapshot
	if isKey {
		wantKind = authz.ObjectKMSKey
	}
	switch {
	case target.Foreign:
		return Decision{Ignore: fmt.Sprintf("target belongs to account %q, not to %s: another account's resources are never acted on", target.Account, rules.AccountID), Warn: true}, nil
	case !isKey && c.Service == authz.RestoreService && c.ResourceType == authz.RestoreResourceType && c.Location == "":
		return cannotNameSnapshot(ev.Target.ID), nil
	case (err != nil || target.Kind != wantKind) && isTag:
		// Tags go on every kind of resource; only snapshots are this function's concern.
		return Decision{Ignore: fmt.Sprintf("tag change on %s, not on a VPC snapshot", Abbreviate(ev.Target.ID))}, nil
	case (err != nil || target.Kind != wantKind) && isKey:
		return Decision{}, fmt.Errorf("target.id: %s is not the CRN of a Key Protect or Hyper Protect Crypto Services key", Abbreviate(ev.Target.ID))
	case err != nil || target.Kind != wantKind:
		return Decision{}, fmt.Errorf("target.id: %s is not the CRN of a VPC snapshot", Abbreviate(ev.Target.ID))
	}
	if d, ok := regionDecision(c.Location, isKey, regions); !ok {
		return d, nil
	}
	if !isKey {
		return Decision{Object: &converge.Object{Target: target, MayRemove: mayRemove(ev.Action)}}, nil
	}
	if service := strings.SplitN(ev.Action, ".", 2)[0]; service != c.Service {
		return Decision{}, fmt.Errorf("target.id: a %s action on a %s key", service, c.Service)
	}
	keyType := ev.KeyType()
	if keyType == authz.StandardKeyType {
		return Decision{Ignore: authz.StandardKeyReason}, nil
	}
	return Decision{Object: &converge.Object{Target: target, KeyType: keyType, KeyRemoved: key.removed, MayRemove: key.removed}}, nil
}

// mayRemove reports whether a snapshot event may mean that a grant is no longer wanted: a tag
// detached, the snapshot deleted, or updated (tags set through the VPC API emit an update; facts
// file, section 4). Such a decision is then made from a fresh read of IAM, not the cache.
func mayRemove(action string) bool {
	return strings.HasSuffix(action, ".tag.detach") || strings.HasSuffix(action, ".delete") || strings.HasSuffix(action, ".update")
}

// regionDecision says whether an object in location is acted on. Keys are read wherever VPC
// (and so Key Protect and HPCS) is, because the full reconcile lists KMS instances in every
// region; snapshots only in IBMCLOUD_REGIONS, the regions it lists snapshots in.
func regionDecision(location string, isKey bool, regions []string) (Decision, bool) {
	configured := slices.Contains(regions, location)
	if !configured && !slices.Contains(VPCRegions, location) {
		return Decision{Ignore: fmt.Sprintf("location %q is not a VPC region (%s) nor in IBMCLOUD_REGIONS: nothing is acted on there",
			Abbreviate(location), strings.Join(VPCRegions, ", ")), Warn: true}, false
	}
	if isKey || configured || regions == nil {
		return Decision{}, true
	}
	return Decision{Ignore: fmt.Sprintf("out_of_scope: snapshot in %s, outside IBMCLOUD_REGIONS (%s); the full reconcile reads only those regions and would never remove a grant made here: add %s to IBMCLOUD_REGIONS to manage it",
		location, strings.Join(regions, ","), location), Warn: true, OutOfScope: true}, false
}

// incompleteSnapshotCRN recognises the snapshot CRN of IBM's own sample event: a VPC snapshot
// CRN that leaves cname or region empty, which crn.Parse refuses.
func incompleteSnapshotCRN(s string) bool {
	parts := strings.Split(s, ":")
	return len(parts) == 10 && parts[0] == "crn" && parts[4] == authz.RestoreService &&
		parts[8] == authz.RestoreResourceType && parts[9] != "" && (parts[2] == "" || parts[5] == "")
}

func cannotNameSnapshot(target string) Decision {
	return Decision{Ignore: fmt.Sprintf("target.id %s has no cname or no region: it cannot name a real snapshot, so there is nothing to look up", Abbreviate(target)), Warn: true}
}

func what(isKey bool) string {
	if isKey {
		return "key"
	}
	return "snapshot"
}
