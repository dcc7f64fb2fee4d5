package soak

import (
	"fmt"
	"sort"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// State compares an account's policies with what the rules want for its objects. It is
// computed from the emulator's worlds only, independently of the code under test.
type State struct {
	Desired  int // grants the rules want for the objects of the world
	Policies int // active policies whose subject is Block Storage
	HandMade int // of those, policies this project did not make
	// Missing are wanted grants that no active policy carries.
	Missing []string
	// Unwanted are Block Storage policies that are neither wanted nor hand-made before the run.
	Unwanted []string
	// Duplicates are grants (Grant.Key) carried by more than one active policy.
	Duplicates []string
	// Lost are hand-made policies of the initial world that are gone or changed: this project
	// must never touch them.
	Lost []string
}

// Exact reports whether the policies are what they should be, each once, and nothing else.
func (s State) Exact() bool {
	return len(s.Missing)+len(s.Unwanted)+len(s.Duplicates)+len(s.Lost) == 0
}

func (s State) String() string {
	head := fmt.Sprintf("%d wanted grants, %d Block Storage policies (%d hand-made)", s.Desired, s.Policies, s.HandMade)
	if s.Exact() {
		return "exact: " + head
	}
	var b strings.Builder
	fmt.Fprintf(&b, "NOT exact: %s: %d missing, %d unwanted, %d duplicated, %d hand-made lost", head,
		len(s.Missing), len(s.Unwanted), len(s.Duplicates), len(s.Lost))
	for _, list := range []struct {
		name  string
		items []string
	}{{"missing", s.Missing}, {"unwanted", s.Unwanted}, {"duplicated", s.Duplicates}, {"lost", s.Lost}} {
		for i, item := range list.items {
			if i == 5 {
				fmt.Fprintf(&b, "\n  %s: … %d more", list.name, len(list.items)-i)
				break
			}
			fmt.Fprintf(&b, "\n  %s: %s", list.name, item)
		}
	}
	return b.String()
}

// Check compares final's policies with what rules want for final's snapshots, KMS instances
// and (in key scope) root keys. Hand-made policies are those of initial without this project's
// marker: they must all still be there, unchanged, and may carry a wanted grant.
func Check(initial, final *emulator.World, rules authz.Rules) (State, error) {
	var st State
	desired := map[string]string{} // Grant.Key → readable grant
	want := func(as []authz.Authorization) {
		for _, a := range as {
			desired[a.Key()] = a.String()
		}
	}
	for _, s := range final.Snapshots {
		d, _ := rules.ForSnapshot(&authz.Snapshot{ID: s.ID, CRN: emulator.SnapshotCRN(final.AccountID, s.Region, s.ID), UserTags: s.UserTags})
		want(d)
	}
	for _, in := range final.KMSInstances {
		inst := authz.KMSInstance{CRN: emulator.InstanceCRN(in.Service, final.AccountID, in.Region, in.GUID), Service: in.Service, GUID: in.GUID}
		want(rules.ForInstance(&inst))
		for _, k := range in.Keys {
			if k.Type == "root_key" && !k.Deleted {
				want(rules.ForKey(&authz.RootKey{Instance: inst, ID: k.ID, CRN: emulator.KeyCRN(in.Service, final.AccountID, in.Region, in.GUID, k.ID)}))
			}
		}
	}
	st.Desired = len(desired)

	handMade := map[string]authz.Policy{} // by ID
	handMadeKeys := map[string]bool{}
	initialPolicies, err := te.WorldPolicies(initial)
	if err != nil {
		return st, fmt.Errorf("initial world: %w", err)
	}
	for _, p := range initialPolicies {
		if _, ours := p.Owner(); !ours {
			handMade[p.ID] = p
			handMadeKeys[p.Key()] = true
		}
	}

	byKey := map[string][]string{}
	present := map[string]authz.Policy{}
	carried := map[string]bool{}
	finalPolicies, err := te.WorldPolicies(final)
	if err != nil {
		return st, fmt.Errorf("final world: %w", err)
	}
	for _, p := range finalPolicies {
		if !p.Active() {
			continue
		}
		present[p.ID] = p
		byKey[p.Key()] = append(byKey[p.Key()], p.ID)
		if p.Subject("serviceName") != authz.SourceService {
			continue
		}
		st.Policies++
		_, ours := p.Owner()
		if !ours {
			st.HandMade++
		}
		carried[p.Key()] = true
		if desired[p.Key()] == "" && !(handMadeKeys[p.Key()] && !ours) {
			st.Unwanted = append(st.Unwanted, fmt.Sprintf("%s %s (%s)", p.ID, p.Grant, p.Description))
		}
	}
	for key, ids := range byKey {
		if len(ids) > 1 {
			sort.Strings(ids)
			st.Duplicates = append(st.Duplicates, fmt.Sprintf("%s: policies %s", key, strings.Join(ids, ", ")))
		}
	}
	for key, grant := range desired {
		if !carried[key] {
			st.Missing = append(st.Missing, grant)
		}
	}
	for id, p := range handMade {
		now, ok := present[id]
		if !ok || now.Key() != p.Key() || now.Description != p.Description {
			st.Lost = append(st.Lost, fmt.Sprintf("%s %s", id, p.Grant))
		}
	}
	for _, l := range [][]string{st.Missing, st.Unwanted, st.Duplicates, st.Lost} {
		sort.Strings(l)
	}
	return st, nil
}
