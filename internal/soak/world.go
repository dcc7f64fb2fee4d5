package soak

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// The accounts of a generated world.
const (
	Account  = "50a4c0ffee0123456789abcdef012345" // owns the keys and snapshots
	Consumer = "c0c0a0000000000000000000000000c1" // a KMS consumer account
	Stranger = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e" // asks to restore, never allowed
)

// Restorers are the accounts allowed to restore.
func Restorers() []string {
	return []string{"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"}
}

var regions = []string{"us-south", "eu-de"}

// regionCode is the zone prefix of VPC ids in a region.
var regionCode = map[string]string{"us-south": "r006", "eu-de": "r010"}

// tagPool are the tags the soak attaches and detaches: restore requests the rules allow, some
// they refuse (a stranger, the own account, a malformed account), and tags of no concern.
func tagPool() []string {
	tags := []string{"env:prod", "team:storage", "s2s-restore:" + Stranger, "s2s-restore:" + Account, "s2s-restore:not-an-account"}
	for _, r := range Restorers() {
		tags = append(tags, "s2s-restore:"+r)
	}
	return tags
}

// generated is a world and what the schedule needs to know about it.
type generated struct {
	world *emulator.World
	rules authz.Rules
	// vanished are CRNs of snapshots that no longer exist but still have managed policies.
	vanished []string
	// rootKeys and stdKeys are key CRNs with the action service that reports them.
	rootKeys, stdKeys []keyRef
}

type keyRef struct{ service, crn string }

// generate builds a world of p.Snapshots snapshots and p.KMSInstances instances. Its policies
// are the cases that must come out right: a hand-made grant equal to one the rules may want
// (covered, never adopted or deleted), a hand-made grant the rules never want (left alone),
// a managed grant no longer wanted (deleted), and managed grants of snapshots that vanished.
func generate(p Params, rng *rand.Rand) (*generated, error) {
	if p.Snapshots < 2 || p.KMSInstances < 1 {
		return nil, fmt.Errorf("soak: want at least 2 snapshots and 1 KMS instance, got %d and %d", p.Snapshots, p.KMSInstances)
	}
	restorers := Restorers()
	g := &generated{world: &emulator.World{AccountID: Account}}
	g.rules = authz.Rules{
		AccountID: Account, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: restorers,
		KMSConsumerAccounts: []string{Consumer}, KMSScope: p.Scope,
	}
	for i := range p.KMSInstances {
		service := "kms"
		if i%3 == 2 {
			service = "hs-crypto"
		}
		in := emulator.KMSInstance{GUID: uuid(rng), Service: service, Region: regions[i%len(regions)], Name: fmt.Sprintf("soak-keys-%d", i)}
		for j, typ := range []string{"root_key", "root_key", "standard_key"} {
			k := emulator.Key{ID: uuid(rng), Name: fmt.Sprintf("key-%d", j), Type: typ}
			in.Keys = append(in.Keys, k)
			ref := keyRef{service, emulator.KeyCRN(service, Account, in.Region, in.GUID, k.ID)}
			if typ == "root_key" {
				g.rootKeys = append(g.rootKeys, ref)
			} else {
				g.stdKeys = append(g.stdKeys, ref)
			}
		}
		g.world.KMSInstances = append(g.world.KMSInstances, in)
	}
	pool := tagPool()
	for i := range p.Snapshots {
		region := regions[i%len(regions)]
		s := emulator.Snapshot{ID: regionCode[region] + "-" + uuid(rng), Region: region, Name: fmt.Sprintf("soak-snap-%d", i)}
		for _, t := range pool {
			if rng.Float64() < 0.15 {
				s.UserTags = append(s.UserTags, t)
			}
		}
		if len(g.rootKeys) > 0 && rng.IntN(2) == 0 {
			s.EncryptionKeyCRN = g.rootKeys[rng.IntN(len(g.rootKeys))].crn
		}
		g.world.Snapshots = append(g.world.Snapshots, s)
	}
	// Snapshot 1 must not want the managed grant below, so that converging it deletes one.
	g.world.Snapshots[1].UserTags = slices.DeleteFunc(g.world.Snapshots[1].UserTags, func(t string) bool { return t == "s2s-restore:"+restorers[1] })

	var policies []json.RawMessage
	add := func(grant authz.Grant, id, description string) {
		policies = append(policies, te.PolicyJSON(grant, id, description))
	}
	s0, s1 := g.snapshot(0), g.snapshot(1)
	add(g.restore(s0, restorers[0]).Grant, "0a000000-0000-4000-8000-000000000001", "made by hand")
	add(withSubject(g.restore(s1, restorers[0]).Grant, Stranger), "0a000000-0000-4000-8000-000000000002", "made by hand")
	stale := g.restore(s1, restorers[1])
	add(stale.Grant, "", stale.Description())
	for range 3 {
		region := regions[rng.IntN(len(regions))]
		gone := authz.Snapshot{ID: regionCode[region] + "-" + uuid(rng)}
		gone.CRN = emulator.SnapshotCRN(Account, region, gone.ID)
		g.vanished = append(g.vanished, gone.CRN)
		a := g.restore(gone, restorers[rng.IntN(len(restorers))])
		add(a.Grant, "", a.Description())
	}
	g.world.Policies = policies
	return g, nil
}

func (g *generated) snapshot(i int) authz.Snapshot {
	s := g.world.Snapshots[i]
	return authz.Snapshot{ID: s.ID, CRN: emulator.SnapshotCRN(Account, s.Region, s.ID), UserTags: s.UserTags}
}

// restore is the authorization the rules give an allowed account for s.
func (g *generated) restore(s authz.Snapshot, account string) authz.Authorization {
	s.UserTags = []string{"s2s-restore:" + account}
	want, _ := g.rules.ForSnapshot(&s)
	return want[0]
}

// withSubject is grant given to another account: a grant the rules would never make.
func withSubject(grant authz.Grant, account string) authz.Grant {
	grant.Subjects = slices.Clone(grant.Subjects)
	for i := range grant.Subjects {
		if grant.Subjects[i].Name == "accountId" {
			grant.Subjects[i].Value = account
		}
	}
	return grant
}

// uuid is a random lowercase 8-4-4-4-12 hex GUID, reproducible from the seed.
func uuid(rng *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff)
}
