package emulator

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// state is the account as the emulator holds it between requests; Server.mu guards it.
type state struct {
	account   string
	instances []*instanceState
	// snapshots are in world-file order (what World shows); snapshotByID indexes them and
	// snapshotOrder sorts them by id (the order of list pages); keyUse counts the snapshots per
	// encryption key CRN.
	snapshots     []*snapshotState
	snapshotByID  map[string]*snapshotState
	snapshotOrder []*snapshotState
	keyUse        map[string]int
	// backupPolicies by id.
	backupPolicies map[string]*backupPolicyState
	policies       map[string]*policy
	// order is every policy id, sorted: the order of GET /v1/policies pages.
	order []string
	// active counts the active policies, for the account's cap.
	active int
	// identities maps the identity of each active policy to its id, for the 409 check.
	identities map[string]string
	// profiles are the world's trusted profiles (none: any profile is accepted); apiKeyOwner
	// is the world's api_key_iam_id.
	profiles    []TrustedProfile
	apiKeyOwner string
	// iam are the account's IAM settings (role catalogue form, missing roles, …).
	iam IAMSettings
	// seq numbers the ids the emulator makes, so that they are reproducible from run to run.
	seq int
}

type instanceState struct {
	KMSInstance // Keys unused: see keys
	keys        []*keyState
	removedAt   time.Time // zero while the instance is active
	removedBy   string
}

type keyState struct {
	Key
	createdAt time.Time
	createdBy string
	deletedAt time.Time
	deletedBy string
}

type snapshotState struct {
	Snapshot
	createdAt time.Time
	// rev counts changes; it feeds the ETag that If-Match is checked against.
	rev int
}

// worldEpoch is the creation time of everything a world file holds: worlds carry no dates, and
// a fixed one keeps answers identical from run to run.
func worldEpoch() time.Time { return time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC) }

// worldCreator is the created_by of things that come from the world file.
const worldCreator = "IBMid-emulator-world"

func newState(w *World, policies []*policy) *state {
	st := &state{account: w.AccountID, policies: map[string]*policy{}, identities: map[string]string{}, iam: w.IAMSettings.clone(),
		profiles: cloneProfiles(w.TrustedProfiles), apiKeyOwner: w.APIKeyIAMID}
	for _, in := range w.KMSInstances {
		is := &instanceState{KMSInstance: in}
		is.Keys = nil
		for _, k := range in.Keys {
			ks := &keyState{Key: k, createdAt: worldEpoch(), createdBy: worldCreator}
			if k.Deleted {
				ks.deletedAt, ks.deletedBy = worldEpoch(), worldCreator
			}
			is.keys = append(is.keys, ks)
		}
		st.instances = append(st.instances, is)
	}
	st.backupPolicies = map[string]*backupPolicyState{}
	for _, b := range w.BackupPolicies {
		st.backupPolicies[b.ID] = &backupPolicyState{BackupPolicy: b.clone(), createdAt: worldEpoch()}
	}
	st.snapshots = make([]*snapshotState, 0, len(w.Snapshots))
	st.snapshotByID = make(map[string]*snapshotState, len(w.Snapshots))
	st.keyUse = map[string]int{}
	for _, s := range w.Snapshots {
		s.UserTags = append([]string(nil), s.UserTags...)
		sn := &snapshotState{Snapshot: s, createdAt: worldEpoch(), rev: 1}
		st.snapshots = append(st.snapshots, sn)
		st.snapshotByID[s.ID] = sn
		if s.EncryptionKeyCRN != "" {
			st.keyUse[s.EncryptionKeyCRN]++
		}
	}
	st.snapshotOrder = slices.Clone(st.snapshots)
	slices.SortFunc(st.snapshotOrder, func(a, b *snapshotState) int { return strings.Compare(a.ID, b.ID) })
	given := map[string]bool{}
	for _, p := range policies {
		given[p.ID] = true
	}
	for _, p := range policies {
		p = p.clone()
		if p.ID == "" {
			p.ID = st.newID("policy", func(id string) bool { return st.policies[id] != nil || given[id] })
		}
		if p.CreatedAt.IsZero() {
			p.CreatedAt = worldEpoch()
		}
		if p.LastModifiedAt.IsZero() {
			p.LastModifiedAt = p.CreatedAt
		}
		if p.CreatedByID == "" {
			p.CreatedByID = worldCreator
		}
		if p.LastModifiedByID == "" {
			p.LastModifiedByID = p.CreatedByID
		}
		p.rev = 1
		st.addPolicy(p)
	}
	return st
}

// addPolicy stores a new policy and indexes it.
func (st *state) addPolicy(p *policy) {
	st.policies[p.ID] = p
	i := sort.SearchStrings(st.order, p.ID)
	st.order = slices.Insert(st.order, i, p.ID)
	if p.State == policyStateActive {
		st.identities[p.identity()] = p.ID
		st.active++
	}
}

// deletePolicy moves a policy to state deleted; IAM keeps it readable.
func (st *state) deletePolicy(p *policy) {
	p.State = policyStateDeleted
	st.active--
	if st.identities[p.identity()] == p.ID {
		delete(st.identities, p.identity())
	}
}

// newID makes the next reproducible UUID of a kind, skipping ids that taken reports as in use.
func (st *state) newID(kind string, taken func(string) bool) string {
	for {
		st.seq++
		id := derivedUUID(kind, st.account, itoa(st.seq))
		if !taken(id) {
			return id
		}
	}
}

// world renders the state as a World; base is used for policy hrefs. Deleted policies, removed
// instances and deleted snapshots are gone from the account and so from the world.
func (st *state) world(base string) (*World, error) {
	w := &World{AccountID: st.account, IAMSettings: st.iam.clone(), TrustedProfiles: cloneProfiles(st.profiles), APIKeyIAMID: st.apiKeyOwner}
	for _, in := range st.instances {
		if !in.removedAt.IsZero() {
			continue
		}
		out := in.KMSInstance
		out.Keys = nil
		for _, k := range in.keys {
			out.Keys = append(out.Keys, k.Key)
		}
		w.KMSInstances = append(w.KMSInstances, out)
	}
	for _, s := range st.snapshots {
		out := s.Snapshot
		out.UserTags = append([]string(nil), s.UserTags...)
		if len(out.UserTags) == 0 {
			out.UserTags = nil
		}
		w.Snapshots = append(w.Snapshots, out)
	}
	for _, b := range st.backupPolicies {
		w.BackupPolicies = append(w.BackupPolicies, b.BackupPolicy.clone())
	}
	sort.Slice(w.BackupPolicies, func(i, j int) bool { return w.BackupPolicies[i].ID < w.BackupPolicies[j].ID })
	for p := range st.policiesAfter("") {
		if p.State != policyStateActive {
			continue
		}
		raw, err := json.Marshal(p.ownWire(base))
		if err != nil {
			return nil, fmt.Errorf("emulator: render policy %s: %w", p.ID, err)
		}
		if p.version == 2 {
			w.PoliciesV2 = append(w.PoliciesV2, raw)
		} else {
			w.Policies = append(w.Policies, raw)
		}
	}
	return w, nil
}

// policiesAfter yields the policies whose id sorts after the given one, in id order.
func (st *state) policiesAfter(after string) func(yield func(*policy) bool) {
	return func(yield func(*policy) bool) {
		i, found := sort.Find(len(st.order), func(i int) int { return strings.Compare(after, st.order[i]) })
		if found {
			i++
		}
		for _, id := range st.order[i:] {
			if !yield(st.policies[id]) {
				return
			}
		}
	}
}

// activeConflict is the active policy with p's identity, if any.
func (st *state) activeConflict(p *policy) *policy {
	return st.policies[st.identities[p.identity()]]
}

func (st *state) snapshot(id string) *snapshotState { return st.snapshotByID[id] }

func (st *state) snapshotByCRN(crn string) *snapshotState {
	c, ok := parseCRN(crn)
	if !ok || c.resourceType != "snapshot" {
		return nil
	}
	if s := st.snapshotByID[c.resource]; s != nil && SnapshotCRN(st.account, s.Region, s.ID) == crn {
		return s
	}
	return nil
}

func (st *state) removeSnapshot(id string) {
	sn := st.snapshotByID[id]
	if sn == nil {
		return
	}
	delete(st.snapshotByID, id)
	if sn.EncryptionKeyCRN != "" {
		if st.keyUse[sn.EncryptionKeyCRN]--; st.keyUse[sn.EncryptionKeyCRN] <= 0 {
			delete(st.keyUse, sn.EncryptionKeyCRN)
		}
	}
	st.snapshots = slices.DeleteFunc(st.snapshots, func(s *snapshotState) bool { return s == sn })
	if i, found := slices.BinarySearchFunc(st.snapshotOrder, id, func(s *snapshotState, id string) int { return strings.Compare(s.ID, id) }); found {
		st.snapshotOrder = slices.Delete(st.snapshotOrder, i, i+1)
	}
}

// instance finds an instance by GUID or CRN, removed ones included.
func (st *state) instance(idOrCRN string) *instanceState {
	for _, in := range st.instances {
		if in.GUID == idOrCRN || in.crn(st.account) == idOrCRN {
			return in
		}
	}
	return nil
}

func (in *instanceState) crn(account string) string {
	return InstanceCRN(in.Service, account, in.Region, in.GUID)
}

func (in *instanceState) key(id string) *keyState {
	for _, k := range in.keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

// keyInUse says whether a snapshot of the account is encrypted with the key: Key Protect then
// holds a registration for it and refuses a plain delete.
func (st *state) keyInUse(crn string) bool { return st.keyUse[crn] > 0 }

func (st *state) keyIDTaken(id string) bool {
	for _, in := range st.instances {
		if in.key(id) != nil {
			return true
		}
	}
	return false
}

func cloneProfiles(in []TrustedProfile) []TrustedProfile {
	var out []TrustedProfile
	for _, p := range in {
		p.CRTokens = slices.Clone(p.CRTokens)
		out = append(out, p)
	}
	return out
}
