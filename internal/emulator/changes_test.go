package emulator_test

import (
	"slices"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// The in-place changes show in the world at once and cost no call: a test measuring the calls
// of the code under test must not count its own scenario.
func TestChangesInPlace(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	keyCRN := emulator.KeyCRN("kms", sampleAccount, "us-south", kpGUID, rootKeyID)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(srv.SetUserTags(untaggedSnapshotID, []string{"env:test"}))
	must(srv.AddSnapshot(emulator.Snapshot{ID: "r006-added", Region: "us-south", Name: "added", EncryptionKeyCRN: keyCRN}))
	if srv.AddSnapshot(emulator.Snapshot{ID: "r006-added", Region: "us-south"}) == nil {
		t.Error("a second snapshot with the same id was added")
	}
	if !srv.DeleteSnapshot(euSnapshotID) || srv.DeleteSnapshot(euSnapshotID) {
		t.Error("DeleteSnapshot: want true, then false")
	}
	must(srv.AddKey(kpGUID, emulator.Key{ID: "added-key", Name: "added", Type: "root_key"}))
	if !srv.DeleteKey(kpGUID, "added-key") || srv.DeleteKey(kpGUID, "added-key") {
		t.Error("DeleteKey: want true, then false")
	}
	if !srv.DeletePolicy(samplePolicyID) || srv.DeletePolicy(samplePolicyID) {
		t.Error("DeletePolicy: want true, then false")
	}

	w := srv.World()
	var ids []string
	for _, s := range w.Snapshots {
		ids = append(ids, s.ID)
		if s.ID == untaggedSnapshotID && !slices.Equal(s.UserTags, []string{"env:test"}) {
			t.Errorf("tags of %s: %v", s.ID, s.UserTags)
		}
	}
	if !slices.Contains(ids, "r006-added") || slices.Contains(ids, euSnapshotID) {
		t.Errorf("snapshots: %v", ids)
	}
	var deleted bool
	for _, k := range w.KMSInstances[0].Keys {
		deleted = deleted || k.ID == "added-key" && k.Deleted
	}
	if !deleted {
		t.Errorf("keys: %+v", w.KMSInstances[0].Keys)
	}
	if len(w.Policies) != 0 {
		t.Errorf("%d policies left, want 0", len(w.Policies))
	}
	if st := srv.Stats(); st.Total != 0 {
		t.Errorf("the changes counted %d calls", st.Total)
	}
}
