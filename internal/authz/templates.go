package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
)

// The only grants this project ever creates. Where IBM's texts disagree (see the README's
// "Unconfirmed" section) the answer is read from IBM at run time (role CRNs, through a RoleBook)
// or is one setting (the restore subject); everything else lives here and nowhere else.
const (
	PolicyType = "authorization"

	// SourceService is Block Storage for VPC as the subject of an authorization.
	SourceService = "server-protect"

	// RestoreService is the snapshot's service; a snapshot's CRN has this resource type.
	RestoreService      = "is"
	RestoreResourceType = "snapshot"

	KeyResourceType = "key"
)

// Role names the templates grant. Their CRNs are IAM's to say: the role list of the target
// service for the grant's subject service and type authorization (IAM Policy Management API,
// "List roles"; facts file section 1), read by a RoleBook.
const (
	RoleNameReader                 = "Reader"
	RoleNameAuthorizationDelegator = "AuthorizationDelegator"
	// RoleNameSnapshotRestorer is listed by IAM as a service role of Block Storage Snapshots for
	// VPC (action is.snapshot.snapshot.allow-remote-account-restore).
	RoleNameSnapshotRestorer = "SnapshotRemoteAccountRestorer"
	// Backup for VPC's roles on its targets (ibm-cloud-docs/vpc backup_service_vpc_s2s_auth.md:
	// Operator on volumes and instances, Editor on snapshots, consistency groups and, for an
	// enterprise, backup policies; ShareSnapshotOperator besides Editor on file shares).
	RoleNameOperator              = "Operator"
	RoleNameEditor                = "Editor"
	RoleNameShareSnapshotOperator = "ShareSnapshotOperator"
)

// The role CRNs IBM's pages print. Only tests and documentation use them: the function creates
// with the CRNs IAM lists (RoleBook), never with these guesses.
const (
	RoleReader                 = "crn:v1:bluemix:public:iam::::serviceRole:Reader"
	RoleAuthorizationDelegator = "crn:v1:bluemix:public:iam::::role:AuthorizationDelegator"
	// RoleSnapshotRestorer is the VPC page's form; IAM may list
	// crn:v1:bluemix:public:is::::serviceRole:SnapshotRemoteAccountRestorer instead.
	RoleSnapshotRestorer = "crn:v1:bluemix:public:iam::::role:SnapshotRemoteAccountRestorer"
	// RoleOperator and RoleEditor are IAM's platform roles, as the backup page's API examples
	// write them.
	RoleOperator = "crn:v1:bluemix:public:iam::::role:Operator"
	RoleEditor   = "crn:v1:bluemix:public:iam::::role:Editor"
	// RoleShareSnapshotOperator is a service role of VPC's file shares, in the form IAM's role
	// reference gives is service roles.
	RoleShareSnapshotOperator = "crn:v1:bluemix:public:is::::serviceRole:ShareSnapshotOperator"
)

// RoleBook gives the CRN IAM offers for a role name on a target service to a source (subject)
// service; ok is false when IAM does not offer it, and then nothing is created with that role.
// The source matters: on the same target is, restore grants are made to server-protect (or is)
// and backup grants to is, and IAM lists roles per pair.
type RoleBook interface {
	RoleCRN(target, source, name string) (crn string, ok bool)
}

// RoleNeed is one role a template grants on one target service to one source service.
type RoleNeed struct {
	Service, Source, Name string
}

// RoleNeeds lists every role the rules' templates grant: what a RoleBook must resolve before
// the function is ready. The backup roles are needed only when the backup kind is on, so that
// an account that never backs up does not depend on them.
func (r Rules) RoleNeeds() []RoleNeed {
	var out []RoleNeed
	for _, s := range kmsServices {
		out = append(out, RoleNeed{s, SourceService, RoleNameReader}, RoleNeed{s, SourceService, RoleNameAuthorizationDelegator})
	}
	out = append(out, RoleNeed{RestoreService, restoreSubject(r.RestoreSubject, "")[0].Value, RoleNameSnapshotRestorer})
	if r.Backup == BackupNever {
		return out
	}
	out = append(out, RoleNeed{RestoreService, BackupSourceService, RoleNameOperator}, RoleNeed{RestoreService, BackupSourceService, RoleNameEditor})
	if r.BackupShares {
		out = append(out, RoleNeed{RestoreService, BackupSourceService, RoleNameShareSnapshotOperator})
	}
	return out
}

// DocumentedRoles is a RoleBook of the CRNs IBM's pages print: for tests, and for dry runs
// that must not depend on IAM. restorer overrides the restore role's CRN when not "".
type DocumentedRoles struct{ Restorer string }

// RoleCRN implements RoleBook.
func (d DocumentedRoles) RoleCRN(target, source, name string) (string, bool) {
	switch {
	case name == RoleNameReader && IsKMSService(target):
		return RoleReader, true
	case name == RoleNameAuthorizationDelegator && IsKMSService(target):
		return RoleAuthorizationDelegator, true
	case name == RoleNameSnapshotRestorer && target == RestoreService:
		if d.Restorer != "" {
			return d.Restorer, true
		}
		return RoleSnapshotRestorer, true
	case target != RestoreService || source != BackupSourceService:
	case name == RoleNameOperator:
		return RoleOperator, true
	case name == RoleNameEditor:
		return RoleEditor, true
	case name == RoleNameShareSnapshotOperator:
		return RoleShareSnapshotOperator, true
	}
	return "", false
}

// RestoreSubject is the subject form of restore grants, a setting because IBM's texts disagree
// (facts file section 1): the API, CLI and Terraform texts say server-protect; the console steps
// (rewritten Oct 2025) say VPC Infrastructure Services with resource type Block Storage for VPC.
type RestoreSubject string

const (
	RestoreSubjectServerProtect RestoreSubject = "server-protect" // serviceName=server-protect
	RestoreSubjectISVolume      RestoreSubject = "is-volume"      // serviceName=is, resourceType=volume
)

// restoreSubjects are both forms, in order: a hand-made grant in either covers ours, and a
// managed one in either is ours.
var restoreSubjects = []RestoreSubject{RestoreSubjectServerProtect, RestoreSubjectISVolume}

// kmsServices are the services whose keys Block Storage can use.
var kmsServices = []string{"kms", "hs-crypto"}

// IsKMSService reports whether service is Key Protect or Hyper Protect Crypto Services.
func IsKMSService(service string) bool { return slices.Contains(kmsServices, service) }

func subject(account string) []Attribute {
	return []Attribute{
		{Name: "serviceName", Value: SourceService},
		{Name: "accountId", Value: account},
	}
}

func restoreSubject(form RestoreSubject, account string) []Attribute {
	if form == RestoreSubjectISVolume {
		return []Attribute{
			{Name: "serviceName", Value: RestoreService},
			{Name: "resourceType", Value: "volume"},
			{Name: "accountId", Value: account},
		}
	}
	return subject(account)
}

func resource(name, value string) Attribute {
	return Attribute{Name: name, Value: value, Operator: defaultResourceOperator}
}

// encryptionGrant lets Block Storage of consumer use the keys of one KMS instance (keyID "") or
// one root key. Another account's Block Storage also needs AuthorizationDelegator, so that it
// can hand the grant on to its own volume service. Roles are role names until resolved.
func encryptionGrant(owner, consumer, service, instanceGUID, keyID string) (Kind, Grant) {
	resources := []Attribute{
		resource("serviceName", service),
		resource("accountId", owner),
		resource("serviceInstance", instanceGUID),
	}
	if keyID != "" {
		resources = append(resources, resource("resourceType", KeyResourceType), resource("resource", keyID))
	}
	kind, roles := KindEncryption, []string{RoleNameReader}
	if consumer != owner {
		kind, roles = KindEncryptionCrossAccount, []string{RoleNameReader, RoleNameAuthorizationDelegator}
	}
	return kind, Grant{Type: PolicyType, Subjects: subject(consumer), Resources: resources, Roles: roles}
}

// restoreGrant lets Block Storage of restorer create volumes from one snapshot of owner. IBM's
// examples name the snapshot by snapshotId alone, with no resourceType: an example with
// target_resource_type "snapshot" was reported broken (ibm-cloud-docs/vpc#205).
func restoreGrant(form RestoreSubject, owner, restorer, snapshotID string) Grant {
	return Grant{
		Type:     PolicyType,
		Subjects: restoreSubject(form, restorer),
		Resources: []Attribute{
			resource("serviceName", RestoreService),
			resource("accountId", owner),
			resource("snapshotId", snapshotID),
		},
		Roles: []string{RoleNameSnapshotRestorer},
	}
}

// legacyRestoreGrant is the restore grant releases before the IAM fidelity fix created, with a
// resourceType attribute: still this project's, so that the next run replaces it.
func legacyRestoreGrant(owner, restorer, snapshotID string) Grant {
	g := restoreGrant(RestoreSubjectServerProtect, owner, restorer, snapshotID)
	g.Resources = append(g.Resources, resource("resourceType", RestoreResourceType))
	return g
}

// Backup for VPC's grants (ibm-cloud-docs/vpc backup_service_vpc_s2s_auth.md, "Establishing
// service-to-service authorizations for the Backup service"; facts file section 1): the Backup
// service of the account (or of its enterprise, for central backups) gets roles on every
// resource of a type. Without them IBM refuses to create a backup policy (backup
// troubleshooting, "Backup policy not created due to incorrect authorizations").
const (
	// BackupSourceService and BackupSubjectType are the subject: VPC's backup policies.
	BackupSourceService = "is"
	BackupSubjectType   = BackupPolicyResourceType

	// OperatorStringExists with the value true names every resource that has the attribute:
	// the "all" form of IAM v2, as Terraform writes it (its provider sends the value as a JSON
	// boolean for stringExists) and as this project creates it.
	OperatorStringExists = "stringExists"
	wildcardV2Value      = "true"
	// wildcardV1Value with stringEquals is the "all" form of IAM v1, as the backup page's API
	// examples write it; a hand-made grant in this form covers ours.
	wildcardV1Value = "*"
)

// backupTarget is one target of Backup for VPC: the ID attribute whose "all" form names every
// resource of the type, and the roles it needs there.
type backupTarget struct {
	attribute string
	roles     []string
	// share is on only with file share backups (BACKUP_SHARES); enterprise only for the
	// enterprise account's Backup service, which manages this account's backup policies.
	share, enterprise bool
}

var backupTargets = []backupTarget{
	{attribute: "volumeId", roles: []string{RoleNameOperator}},
	{attribute: "instanceId", roles: []string{RoleNameOperator}},
	{attribute: "snapshotId", roles: []string{RoleNameEditor}},
	{attribute: "snapshotConsistencyGroupId", roles: []string{RoleNameEditor}},
	{attribute: "shareId", roles: []string{RoleNameEditor, RoleNameShareSnapshotOperator}, share: true},
	{attribute: "backupPolicyId", roles: []string{RoleNameEditor}, enterprise: true},
}

func backupSubject(account string) []Attribute {
	return []Attribute{
		{Name: "serviceName", Value: BackupSourceService},
		{Name: "resourceType", Value: BackupSubjectType},
		{Name: "accountId", Value: account},
	}
}

// IsBackupSubject reports whether g's subject is Backup for VPC (any account's).
func IsBackupSubject(g Grant) bool {
	return g.Subject("serviceName") == BackupSourceService && g.Subject("resourceType") == BackupSubjectType
}

// wildcardForm is how a grant writes "every resource of a type".
type wildcardForm int

const (
	wildcardV2 wildcardForm = iota // stringExists true: what the project creates
	wildcardV1                     // "*" with stringEquals: IBM's v1 examples
)

var wildcardForms = []wildcardForm{wildcardV2, wildcardV1}

func wildcard(name string, form wildcardForm) Attribute {
	if form == wildcardV1 {
		return resource(name, wildcardV1Value)
	}
	return Attribute{Name: name, Value: wildcardV2Value, Operator: OperatorStringExists}
}

// isWildcard reports whether a names every resource (in either form) or anything but one value:
// an operator other than stringEquals, or a value with a pattern character.
func isWildcard(a Attribute) bool {
	op := a.Operator
	if op == "" {
		op = defaultResourceOperator
	}
	return op != defaultResourceOperator || strings.ContainsAny(a.Value, "*?")
}

func backupGrant(form wildcardForm, owner, subject string, t backupTarget) Grant {
	return Grant{
		Type:     PolicyType,
		Subjects: backupSubject(subject),
		Resources: []Attribute{
			resource("serviceName", RestoreService),
			resource("accountId", owner),
			wildcard(t.attribute, form),
		},
		Roles: slices.Clone(t.roles),
	}
}

// backupTargetOf is the backup target whose ID attribute g's resource has.
func backupTargetOf(g Grant) (backupTarget, bool) {
	for _, t := range backupTargets {
		if slices.ContainsFunc(g.Resources, func(a Attribute) bool { return a.Name == t.attribute }) {
			return t, true
		}
	}
	return backupTarget{}, false
}

// resolve turns the template's role names into the CRNs book gives; a name the book does not
// know stays a bare name, which CheckTemplate refuses, so nothing is created with a guess.
func resolve(g Grant, book RoleBook) Grant {
	if book == nil {
		// Rules built without IAM (unit tests of the model) use the CRNs IBM's pages print;
		// the production wiring always gives IAM's own list.
		book = DocumentedRoles{}
	}
	target, source := g.Resource("serviceName"), g.Subject("serviceName")
	roles := make([]string, len(g.Roles))
	for i, name := range g.Roles {
		roles[i] = name
		if c, ok := book.RoleCRN(target, source, name); ok {
			roles[i] = c
		}
	}
	g.Roles = roles
	return g
}

// templates gives the grants a's kind may have for a's own subject and resource: the first is
// what the project creates now, the others forms it made or accepts as its own.
func templates(a Authorization) ([]Grant, error) {
	owner := a.Resource("accountId")
	subjectAccount := a.Subject("accountId")
	switch a.Kind {
	case KindEncryption, KindEncryptionCrossAccount:
		kind, want := encryptionGrant(owner, subjectAccount, a.Resource("serviceName"), a.Resource("serviceInstance"), a.Resource("resource"))
		if kind != a.Kind || !IsKMSService(a.Resource("serviceName")) || a.Resource("serviceInstance") == "" {
			return nil, fmt.Errorf("authorization %s does not fit the %s template", a, a.Kind)
		}
		return []Grant{want}, nil
	case KindRestore:
		snapshotID := a.Resource("snapshotId")
		if subjectAccount == owner || snapshotID == "" {
			return nil, fmt.Errorf("authorization %s does not fit the %s template", a, a.Kind)
		}
		var out []Grant
		for _, form := range restoreSubjects {
			out = append(out, restoreGrant(form, owner, subjectAccount, snapshotID))
		}
		return append(out, legacyRestoreGrant(owner, subjectAccount, snapshotID)), nil
	case KindBackup:
		t, ok := backupTargetOf(a.Grant)
		if !ok || (t.enterprise && subjectAccount == owner) {
			return nil, fmt.Errorf("authorization %s does not fit the %s template", a, a.Kind)
		}
		var out []Grant
		for _, form := range wildcardForms {
			out = append(out, backupGrant(form, owner, subjectAccount, t))
		}
		return out, nil
	}
	return nil, fmt.Errorf("authorization %s has unknown kind %q", a, a.Kind)
}

// CheckTemplate refuses any authorization whose grant is not exactly what a template gives for
// its own subject and resource, with roles that are the template's role names as IAM role CRNs:
// the last guard before a create, so that a bug elsewhere can never widen a grant. It is also
// what proves a policy's marker (Policy.Owner): anyone can write a description.
func CheckTemplate(a Authorization) error {
	if a.Kind != KindBackup && (slices.ContainsFunc(a.Resources, isWildcard) || slices.ContainsFunc(a.Subjects, isWildcard)) {
		// Said first and on its own: only Backup for VPC needs a grant on every resource of a
		// type, and no other template may ever widen to one, whatever the templates say.
		return fmt.Errorf("authorization %s names more than one resource: only %s grants may", a, KindBackup)
	}
	grants, err := templates(a)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(grants, func(g Grant) bool { return sameGrantByRoleNames(g, a.Grant) }) {
		return fmt.Errorf("authorization %s does not fit the %s template", a, a.Kind)
	}
	return checkObject(a)
}

// sameGrantByRoleNames compares attributes exactly and roles by name, each role being a
// platform or service role CRN of IAM or of the target service (never a custom role, never a
// bare name).
func sameGrantByRoleNames(template, g Grant) bool {
	if template.AttributesKey() != g.AttributesKey() || len(template.Roles) != len(g.Roles) {
		return false
	}
	names := make([]string, len(g.Roles))
	for i, r := range g.Roles {
		name, ok := roleName(r, g.Resource("serviceName"))
		if !ok {
			return false
		}
		names[i] = name
	}
	want := slices.Clone(template.Roles)
	slices.Sort(want)
	slices.Sort(names)
	return slices.Equal(want, names)
}

// roleName is the name of a role CRN of the forms IAM lists for authorizations:
// crn:v1:bluemix:public:iam::::role:Name, …:iam::::serviceRole:Name and
// …:<service>::::serviceRole:Name (IAM's role reference).
func roleName(role, service string) (string, bool) {
	c, err := crn.Parse(role)
	if err != nil || c.Location != "" || c.Scope != "" || c.ServiceInstance != "" || c.Resource == "" {
		return "", false
	}
	switch {
	case c.Service == "iam" && (c.ResourceType == "role" || c.ResourceType == "serviceRole"):
	case c.Service == service && c.ResourceType == "serviceRole":
	default:
		return "", false
	}
	return c.Resource, true
}

// checkObject ties the grant to the object it was made for, so that a wildcard or another
// object's ID can never pass as this object's authorization.
func checkObject(a Authorization) error {
	object, err := crn.Parse(a.Object)
	if err != nil {
		return fmt.Errorf("authorization %s: object: %w", a, err)
	}
	owner := a.Resource("accountId")
	ok := object.Account() == owner
	switch a.Kind {
	case KindRestore:
		ok = ok && object.Service == RestoreService && object.ResourceType == RestoreResourceType &&
			object.Resource == a.Resource("snapshotId")
	case KindBackup:
		ok = ok && object.Service == RestoreService && object.ResourceType == BackupObjectType && object.Location == "" &&
			object.ServiceInstance == "" && object.Resource == ""
	default:
		ok = ok && object.Service == a.Resource("serviceName") && object.ServiceInstance == a.Resource("serviceInstance") &&
			object.Resource == a.Resource("resource")
	}
	if !ok {
		return fmt.Errorf("authorization %s does not belong to object %s", a, a.Object)
	}
	return nil
}

// CoveringKeys are the grant keys of policies that, made by anyone, give what a asks for: its
// own, for a restore grant the other subject form's with the same roles, and for a backup grant
// the other "all" form's (IBM documents both forms of each).
func (a Authorization) CoveringKeys() []string {
	keys := []string{a.Key()}
	if a.Kind == KindBackup {
		for _, form := range wildcardForms {
			g := a.Grant
			g.Resources = slices.Clone(a.Resources)
			for i, r := range g.Resources {
				if isWildcard(r) {
					g.Resources[i] = wildcard(r.Name, form)
				}
			}
			if k := g.Key(); k != keys[0] {
				keys = append(keys, k)
			}
		}
		return keys
	}
	if a.Kind != KindRestore {
		return keys
	}
	for _, form := range restoreSubjects {
		g := a.Grant
		g.Subjects = restoreSubject(form, a.Subject("accountId"))
		if k := g.Key(); k != keys[0] {
			keys = append(keys, k)
		}
	}
	return keys
}
