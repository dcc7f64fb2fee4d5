package authz

import (
	"fmt"
	"slices"
	"strings"
)

// String renders an authorization the way a plan line shows it: the kind, who gets access, to
// what, with which roles.
func (a Authorization) String() string {
	return fmt.Sprintf("%s %s", a.Kind, a.Grant)
}

// String renders a grant compactly: subject account → target (roles).
func (g Grant) String() string {
	target := g.Resource("serviceName")
	all := slices.IndexFunc(g.Resources, isWildcard)
	switch {
	case all >= 0:
		target += " every " + g.Resources[all].Name
	case g.Resource("snapshotId") != "":
		target += " snapshot " + g.Resource("snapshotId")
	case g.Resource("resource") != "":
		target += " " + g.Resource("serviceInstance") + " key " + g.Resource("resource")
	case g.Resource("serviceInstance") != "":
		target += " instance " + g.Resource("serviceInstance")
	}
	if owner := g.Resource("accountId"); owner != "" {
		target += " in " + owner
	}
	subject := g.Subject("serviceName")
	if IsBackupSubject(g) {
		subject += "/" + BackupSubjectType
	}
	return fmt.Sprintf("%s@%s → %s (%s)", subject, g.Subject("accountId"), target, RoleNames(g.Roles))
}

// RoleNames shortens role CRNs to their names: Reader, AuthorizationDelegator, …
func RoleNames(roles []string) string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r[strings.LastIndex(r, ":")+1:]
	}
	return strings.Join(names, "+")
}
