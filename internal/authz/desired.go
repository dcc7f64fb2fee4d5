package authz

import (
	"fmt"
	"slices"
	"sort"
)

// Scope says what one encryption authorization covers.
type Scope string

const (
	ScopeInstance Scope = "instance" // one policy per KMS instance
	ScopeKey      Scope = "key"      // one policy per root key
)

// Rules is the part of the configuration that decides which authorizations should exist.
type Rules struct {
	AccountID              string // the account that owns the keys and snapshots
	RestoreTagPrefix       string
	RestoreAllowedAccounts []string
	KMSConsumerAccounts    []string
	KMSScope               Scope
	// RestoreSubject is the subject form of restore grants ("" is server-protect).
	RestoreSubject RestoreSubject
	// Backup says when Backup for VPC's grants exist ("" is auto); BackupShares adds the file
	// share grant, BackupEnterpriseAccount the enterprise set for that account, which must be
	// in RestoreAllowedAccounts (ForBackup).
	Backup                  BackupMode
	BackupShares            bool
	BackupEnterpriseAccount string
	// Roles resolves the templates' role names to the CRNs IAM offers; nil uses the CRNs IBM's
	// pages print (DocumentedRoles), for tests of the model.
	Roles RoleBook
}

// Snapshot is what the model needs to know of a VPC snapshot.
type Snapshot struct {
	ID       string
	CRN      string
	UserTags []string
}

// KMSInstance is a Key Protect or Hyper Protect Crypto Services instance.
type KMSInstance struct {
	CRN     string
	Service string // kms or hs-crypto
	GUID    string
}

// RootKey is a root key of a KMS instance; standard keys never need an authorization.
type RootKey struct {
	Instance KMSInstance
	ID       string
	CRN      string
}

// Refusal is a restore tag that asks for a grant the rules do not allow; the caller logs it.
type Refusal struct {
	Object string `json:"object"`
	Tag    string `json:"tag"`
	Reason string `json:"reason"`
}

func (r Refusal) String() string { return fmt.Sprintf("tag %q on %s: %s", r.Tag, r.Object, r.Reason) }

// ForSnapshot gives the restore authorizations a snapshot's current tags ask for. A snapshot
// that no longer exists (nil) keeps none.
func (r Rules) ForSnapshot(s *Snapshot) ([]Authorization, []Refusal) {
	if s == nil {
		return nil, nil
	}
	var refusals []Refusal
	accounts := map[string]bool{}
	for _, tag := range s.UserTags {
		account, matched, err := ParseRestoreTag(r.RestoreTagPrefix, tag)
		if !matched {
			continue
		}
		reason := ""
		switch {
		case err != nil:
			reason = err.Error()
		case account == r.AccountID:
			reason = "names the snapshot's own account, which needs no authorization to restore"
		case !slices.Contains(r.RestoreAllowedAccounts, account):
			reason = fmt.Sprintf("account %s is not in RESTORE_ALLOWED_ACCOUNTS", account)
		}
		if reason != "" {
			refusals = append(refusals, Refusal{Object: s.CRN, Tag: tag, Reason: reason})
			continue
		}
		accounts[account] = true
	}
	var out []Authorization
	for _, account := range sortedKeys(accounts) {
		g := resolve(restoreGrant(r.RestoreSubject, r.AccountID, account, s.ID), r.Roles)
		out = append(out, Authorization{Kind: KindRestore, Object: s.CRN, Grant: g})
	}
	return out, refusals
}

// ForInstance gives the encryption authorizations of a KMS instance. In instance scope they exist
// as long as the instance does, whatever happens to its keys; in key scope the instance itself
// wants none (its root keys do).
func (r Rules) ForInstance(i *KMSInstance) []Authorization {
	if i == nil || r.KMSScope != ScopeInstance {
		return nil
	}
	return r.encryption(i.CRN, i.Service, i.GUID, "")
}

// ForKey gives the encryption authorizations of one root key in key scope; nil when the key is
// gone or the scope is instance.
func (r Rules) ForKey(k *RootKey) []Authorization {
	if k == nil || r.KMSScope != ScopeKey {
		return nil
	}
	return r.encryption(k.CRN, k.Instance.Service, k.Instance.GUID, k.ID)
}

// encryption gives the own account's Block Storage Reader, and each consumer account
// Reader + AuthorizationDelegator.
func (r Rules) encryption(object, service, guid, keyID string) []Authorization {
	consumers := []string{r.AccountID}
	for _, c := range r.KMSConsumerAccounts {
		if c != r.AccountID && !slices.Contains(consumers, c) {
			consumers = append(consumers, c)
		}
	}
	out := make([]Authorization, 0, len(consumers))
	for _, consumer := range consumers {
		kind, grant := encryptionGrant(r.AccountID, consumer, service, guid, keyID)
		out = append(out, Authorization{Kind: kind, Object: object, Grant: resolve(grant, r.Roles)})
	}
	return out
}

// BackupMode is BACKUP_AUTHORIZATIONS: when Backup for VPC's grants exist.
type BackupMode string

const (
	BackupAuto   BackupMode = "auto"   // while the account has a backup policy in the configured regions
	BackupAlways BackupMode = "always" // even before the first backup policy: creating one needs them
	BackupNever  BackupMode = "never"  // the kind is off: none are made, and in sync mode ours go
)

// Wanted reports whether the backup grants should exist, given whether the account has a
// backup policy; present is not read in always and never.
func (m BackupMode) Wanted(present bool) bool {
	switch m {
	case BackupNever:
		return false
	case BackupAlways:
		return true
	}
	return present
}

// NeedsBackupPolicies reports whether the mode depends on the account's backup policies.
func (m BackupMode) NeedsBackupPolicies() bool { return m != BackupNever && m != BackupAlways }

// ForBackup gives Backup for VPC's grants of the account: none unless the mode wants them
// (present: the account has a backup policy), else the account's own set and, when
// configured and allowlisted, the enterprise account's (the same set plus its backup policies).
// All belong to one object, the account's backup configuration (BackupObject).
func (r Rules) ForBackup(present bool) []Authorization {
	if !r.Backup.Wanted(present) {
		return nil
	}
	object := BackupObject(r.AccountID)
	subjects := []string{r.AccountID}
	// RESTORE_ALLOWED_ACCOUNTS is the list of accounts that may reach this account's snapshot
	// data, and an enterprise's Backup service creates and restores its snapshots: it is held to
	// the same list. The configuration refuses an enterprise account outside it; the model
	// never grants to one either way.
	if e := r.BackupEnterpriseAccount; e != "" && e != r.AccountID && slices.Contains(r.RestoreAllowedAccounts, e) {
		subjects = append(subjects, e)
	}
	var out []Authorization
	for _, subject := range subjects {
		for _, t := range backupTargets {
			if (t.share && !r.BackupShares) || (t.enterprise && subject == r.AccountID) {
				continue
			}
			g := resolve(backupGrant(wildcardV2, r.AccountID, subject, t), r.Roles)
			out = append(out, Authorization{Kind: KindBackup, Object: object, Grant: g})
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Key is what the function needs to know of a KMS key it has read.
type Key struct {
	RootKey
	Root    bool // false for standard keys, which never need an authorization
	Deleted bool
}

// Key types as Activity Tracker reports them in requestData.keyType (Key Protect event docs).
const (
	RootKeyType     = "root_key"
	StandardKeyType = "standard_key"
)

// StandardKeyReason is why a standard key is left alone, wherever that is found out.
const StandardKeyReason = "standard key: it needs no authorization"

// KeyTypeUnknown reports whether an event's keyType leaves the key's type to be read: only the
// two documented values say it.
func KeyTypeUnknown(keyType string) bool {
	return keyType != RootKeyType && keyType != StandardKeyType
}
