package delivery

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

// Classify routes an event on its action and its target CRN, through the rules' one mapping of
// a CRN to its object (authz.Rules.Target). An error means the event claims an action this
// function handles but is inconsistent (no CRN, a CRN of the wrong kind): bad input that no
// retry can fix.
func Classify(ev *ActivityEvent, rules authz.Rules) (Decision, error) {
	key, isKey := keyActions[ev.Action]
	switch {
	case isKey, snapshotActions[ev.Action], isTagAction(ev.Action):
	default:
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
	case (err != nil || target.Kind != wantKind) && isTagAction(ev.Action):
		// Tags go on every kind of resource; only snapshots are this function's concern.
		return Decision{Ignore: fmt.Sprintf("tag change on %s, not on a VPC snapshot", Abbreviate(ev.Target.ID))}, nil
	case (err != nil || target.Kind != wantKind) && isKey:
		return Decision{}, fmt.Errorf("target.id: %s is not the CRN of a Key Protect or Hyper Protect Crypto Services key", Abbreviate(ev.Target.ID))
	case err != nil || target.Kind != wantKind:
		return Decision{}, fmt.Errorf("target.id: %s is not the CRN of a VPC snapshot", Abbreviate(ev.Target.ID))
	}
	if !isKey {
		return Decision{Object: &converge.Object{Target: target}}, nil
	}
	if service := strings.SplitN(ev.Action, ".", 2)[0]; service != c.Service {
		return Decision{}, fmt.Errorf("target.id: a %s action on a %s key", service, c.Service)
	}
	keyType, err := ev.KeyType()
	if err != nil {
		return Decision{}, err
	}
	if keyType == authz.StandardKeyType {
		return Decision{Ignore: authz.StandardKeyReason}, nil
	}
	return Decision{Object: &converge.Object{Target: target, KeyType: keyType, KeyRemoved: key.removed}}, nil
}

func what(isKey bool) string {
	if isKey {
		return "key"
	}
	return "snapshot"
}
