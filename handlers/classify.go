package handlers

import (
	"fmt"
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
}

// keyActions are the Key Protect and Hyper Protect Crypto Services actions that can change which
// keys exist; removed marks those after which the key's type no longer matters.
var keyActions = map[string]struct{ removed bool }{
	"kms.secrets.create":        {},
	"kms.secrets.restore":       {},
	"kms.secrets.delete":        {removed: true},
	"kms.secrets.purge":         {removed: true},
	"hs-crypto.secrets.create":  {},
	"hs-crypto.secrets.restore": {},
	"hs-crypto.secrets.delete":  {removed: true},
}

// snapshotActions are the VPC snapshot lifecycle actions.
var snapshotActions = map[string]bool{
	"is.snapshot.snapshot.create": true,
	"is.snapshot.snapshot.update": true,
	"is.snapshot.snapshot.delete": true,
}

// isTagAction matches <service>.tag.attach and .detach, from whichever service reports them.
func isTagAction(action string) bool {
	return strings.HasSuffix(action, ".tag.attach") || strings.HasSuffix(action, ".tag.detach")
}

// Classify routes an event on its action and its target CRN. An error means the event claims
// an action this function handles but is inconsistent (no CRN, a CRN of the wrong kind): bad
// input that no retry can fix.
func Classify(ev *ActivityEvent, accountID string) (Decision, error) {
	key, isKey := keyActions[ev.Action]
	switch {
	case isKey, snapshotActions[ev.Action], isTagAction(ev.Action):
	default:
		return Decision{Ignore: fmt.Sprintf("action %q is not one this function handles", abbreviate(ev.Action))}, nil
	}
	if ev.Outcome != "success" {
		return Decision{Ignore: fmt.Sprintf("outcome is %q: the action changed nothing", abbreviate(ev.Outcome))}, nil
	}
	if ev.Target.ID == "" {
		return Decision{}, fmt.Errorf("target.id: missing; want the CRN of the %s", what(isKey))
	}
	target, err := crn.Parse(ev.Target.ID)
	if err != nil {
		return Decision{}, fmt.Errorf("target.id: %w", err)
	}
	if target.Account() != accountID {
		return Decision{Ignore: fmt.Sprintf("target belongs to account %q, not to %s: another account's resources are never acted on", target.Account(), accountID), Warn: true}, nil
	}
	if isKey {
		if !authz.IsKMSService(target.Service) || target.ResourceType != authz.KeyResourceType || target.ServiceInstance == "" || target.Resource == "" {
			return Decision{}, fmt.Errorf("target.id: %s is not the CRN of a Key Protect or Hyper Protect Crypto Services key", abbreviate(ev.Target.ID))
		}
		if service := strings.SplitN(ev.Action, ".", 2)[0]; service != target.Service {
			return Decision{}, fmt.Errorf("target.id: a %s action on a %s key", service, target.Service)
		}
		keyType, err := ev.KeyType()
		if err != nil {
			return Decision{}, err
		}
		if keyType == converge.StandardKey {
			return Decision{Ignore: "standard key: it needs no authorization"}, nil
		}
		return Decision{Object: &converge.Object{Kind: converge.KindKey, CRN: target, KeyType: keyType, KeyRemoved: key.removed}}, nil
	}
	if target.Service != authz.RestoreService || target.ResourceType != authz.RestoreResourceType || target.Resource == "" || target.Location == "" {
		if isTagAction(ev.Action) {
			// Tags go on every kind of resource; only snapshots are this function's concern.
			return Decision{Ignore: fmt.Sprintf("tag change on %s, not on a VPC snapshot", abbreviate(ev.Target.ID))}, nil
		}
		return Decision{}, fmt.Errorf("target.id: %s is not the CRN of a VPC snapshot", abbreviate(ev.Target.ID))
	}
	return Decision{Object: &converge.Object{Kind: converge.KindSnapshot, CRN: target}}, nil
}

func what(isKey bool) string {
	if isKey {
		return "key"
	}
	return "snapshot"
}
