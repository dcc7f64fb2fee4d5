package emulator

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The methods below change the account in place, as a person working in the console would,
// without an API call: they are neither counted in Stats nor faulted, so that a test measuring
// the calls of the code under test is not disturbed by its own scenario. Unlike Reset they keep
// the statistics, the faults and the id sequence (IAM never reuses a deleted policy's id, and
// the code under test remembers ids).

// SetUserTags replaces the user tags of a snapshot.
func (s *Server) SetUserTags(snapshotID string, tags []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := s.st.snapshot(snapshotID)
	if sn == nil {
		return fmt.Errorf("emulator: no snapshot %s", snapshotID)
	}
	sn.UserTags = slices.Clone(tags)
	sn.rev++
	return nil
}

// AddSnapshot adds a snapshot, as a backup job or a person creating one; its id must be new.
func (s *Server) AddSnapshot(sn Snapshot) error {
	if sn.ID == "" || sn.Region == "" {
		return fmt.Errorf("emulator: a snapshot needs an id and a region")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.snapshot(sn.ID) != nil {
		return fmt.Errorf("emulator: duplicate snapshot id %q", sn.ID)
	}
	sn.UserTags = slices.Clone(sn.UserTags)
	st := &snapshotState{Snapshot: sn, createdAt: time.Now().UTC().Truncate(time.Second), rev: 1}
	s.st.snapshots = append(s.st.snapshots, st)
	s.st.snapshotByID[sn.ID] = st
	i, _ := slices.BinarySearchFunc(s.st.snapshotOrder, sn.ID, func(x *snapshotState, id string) int { return strings.Compare(x.ID, id) })
	s.st.snapshotOrder = slices.Insert(s.st.snapshotOrder, i, st)
	if sn.EncryptionKeyCRN != "" {
		s.st.keyUse[sn.EncryptionKeyCRN]++
	}
	return nil
}

// DeleteSnapshot removes a snapshot; false when there is none with that id.
func (s *Server) DeleteSnapshot(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.snapshot(id) == nil {
		return false
	}
	s.st.removeSnapshot(id)
	return true
}

// AddKey adds a key to a live instance (by GUID); its id must be new in the instance.
func (s *Server) AddKey(instanceGUID string, k Key) error {
	if k.ID == "" || (k.Type != keyTypeRoot && k.Type != keyTypeStandard) {
		return fmt.Errorf("emulator: a key needs an id and type %s or %s", keyTypeRoot, keyTypeStandard)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.st.instance(instanceGUID)
	if in == nil || !in.removedAt.IsZero() {
		return fmt.Errorf("emulator: no instance %s", instanceGUID)
	}
	for _, x := range in.keys {
		if x.ID == k.ID {
			return fmt.Errorf("emulator: duplicate key id %q", k.ID)
		}
	}
	in.keys = append(in.keys, &keyState{Key: k, createdAt: time.Now().UTC(), createdBy: worldCreator})
	return nil
}

// DeleteKey deletes a key the way Key Protect does with force=true: it stays readable as
// deleted. False when the instance has no such key or it is deleted already.
func (s *Server) DeleteKey(instanceGUID, keyID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.st.instance(instanceGUID)
	if in == nil {
		return false
	}
	for _, k := range in.keys {
		if k.ID == keyID && !k.Deleted {
			k.Deleted = true
			k.deletedAt, k.deletedBy = time.Now().UTC(), worldCreator
			return true
		}
	}
	return false
}

// DeletePolicy deletes an active policy of either version, as a person in the console would;
// false when there is no active policy with that id.
func (s *Server) DeletePolicy(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.policies[id]
	if p == nil || p.State != policyStateActive {
		return false
	}
	s.st.deletePolicy(p)
	p.LastModifiedAt, p.LastModifiedByID = time.Now().UTC(), worldCreator
	p.rev++
	return true
}
