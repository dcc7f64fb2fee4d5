package authz

import (
	"fmt"
	"strings"
)

// MarkerPrefix starts the description of every policy this project creates. IAM policies
// cannot carry tags, so the description is the only place to say whose a policy is; only
// policies with this marker are ever deleted.
const MarkerPrefix = "s2s-authorizer:managed "

// Owner is what the marker records: which template made the policy and for which object.
type Owner struct {
	Kind   Kind
	Object string
}

// Description renders the marker, followed by a sentence for people reading the console.
func (o Owner) Description() string {
	return fmt.Sprintf("%skind=%s object=%s (created by s2s-authorizer; it removes this policy when no longer needed)",
		MarkerPrefix, o.Kind, o.Object)
}

// ParseOwner reads the marker back; ok is false for every description this project did not write.
func ParseOwner(description string) (Owner, bool) {
	rest, ok := strings.CutPrefix(description, MarkerPrefix)
	if !ok {
		return Owner{}, false
	}
	fields := strings.Fields(rest)
	if len(fields) < 2 {
		return Owner{}, false
	}
	kind, okKind := strings.CutPrefix(fields[0], "kind=")
	object, okObject := strings.CutPrefix(fields[1], "object=")
	if !okKind || !okObject || object == "" {
		return Owner{}, false
	}
	switch Kind(kind) {
	case KindEncryption, KindEncryptionCrossAccount, KindRestore, KindBackup:
		return Owner{Kind: Kind(kind), Object: object}, true
	}
	return Owner{}, false
}
