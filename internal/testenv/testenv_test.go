package testenv_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// TestFixtureCRNsAreTheEmulators: the fixture formats CRNs itself (it must not import the
// emulator); they are the CRNs the emulator gives its objects.
func TestFixtureCRNsAreTheEmulators(t *testing.T) {
	tests := []struct{ name, fixture, emulator string }{
		{"KP instance", fixture.KPCRN, emulator.InstanceCRN("kms", te.Account, "us-south", te.KPGUID)},
		{"root key", fixture.RootKeyCRN, emulator.KeyCRN("kms", te.Account, "us-south", te.KPGUID, te.RootKey)},
		{"standard key", fixture.StdKeyCRN, emulator.KeyCRN("kms", te.Account, "us-south", te.KPGUID, te.StdKey)},
		{"HPCS instance", fixture.HPCSCRN, emulator.InstanceCRN("hs-crypto", te.Account, "us-south", te.HPCSGUID)},
		{"HPCS key", fixture.HPCSKeyCRN, emulator.KeyCRN("hs-crypto", te.Account, "us-south", te.HPCSGUID, te.HPCSKey)},
		{"snapshot", fixture.SnapCRN, emulator.SnapshotCRN(te.Account, "us-south", te.Snap)},
		{"untagged snapshot", fixture.SnapPlainCRN, emulator.SnapshotCRN(te.Account, "us-south", te.SnapPlain)},
		{"eu-de snapshot", fixture.SnapEUCRN, emulator.SnapshotCRN(te.Account, "eu-de", te.SnapEU)},
		{"another account's snapshot", fixture.SnapshotCRN(te.Stranger, "eu-de", "r010-x"), emulator.SnapshotCRN(te.Stranger, "eu-de", "r010-x")},
	}
	for _, tt := range tests {
		if tt.fixture != tt.emulator {
			t.Errorf("%s: fixture %s, emulator %s", tt.name, tt.fixture, tt.emulator)
		}
	}
}

// TestFixtureDescribesTheSampleWorld: the objects the fixture names are the sample world's, as
// its comments say.
func TestFixtureDescribesTheSampleWorld(t *testing.T) {
	w := te.World()
	if w.AccountID != fixture.Account {
		t.Errorf("the sample world's account is %s, the fixture's %s", w.AccountID, fixture.Account)
	}
	snaps := map[string]emulator.Snapshot{}
	for _, s := range w.Snapshots {
		snaps[s.ID] = s
	}
	for _, want := range []struct {
		id, region string
		tags       []string
	}{
		{fixture.Snap, "us-south", []string{"s2s-restore:" + fixture.Restorer}},
		{fixture.SnapPlain, "us-south", nil},
		{fixture.SnapEU, "eu-de", nil},
	} {
		s, ok := snaps[want.id]
		restoreTags := slices.DeleteFunc(slices.Clone(s.UserTags), func(tag string) bool { return !strings.HasPrefix(tag, "s2s-restore") })
		if !ok || s.Region != want.region || !slices.Equal(restoreTags, want.tags) {
			t.Errorf("snapshot %s: %+v (found %v), want region %s, restore tags %v", want.id, s, ok, want.region, want.tags)
		}
	}
	keys := map[string]string{}
	services := map[string]string{}
	for _, inst := range w.KMSInstances {
		services[inst.GUID] = inst.Service + " " + inst.Region
		for _, k := range inst.Keys {
			keys[inst.GUID+"/"+k.ID] = k.Type
		}
	}
	if services[fixture.KPGUID] != "kms us-south" || services[fixture.HPCSGUID] != "hs-crypto us-south" {
		t.Errorf("KMS instances: %v", services)
	}
	for key, typ := range map[string]string{
		fixture.KPGUID + "/" + fixture.RootKey:   "root_key",
		fixture.KPGUID + "/" + fixture.StdKey:    "standard_key",
		fixture.HPCSGUID + "/" + fixture.HPCSKey: "root_key",
	} {
		if keys[key] != typ {
			t.Errorf("key %s: type %q, want %q", key, keys[key], typ)
		}
	}
}
