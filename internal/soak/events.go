package soak

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	decode "github.com/s2s-authorizer/s2s-authorizer/internal/delivery"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// kafkaSource is the ce-source of a Code Engine Kafka subscription.
const kafkaSource = "/apis/v1/namespaces/soak/kafkasources/activity-tracker#at-events"

// kafkaType is the type Code Engine's Kafka subscription gives its deliveries.
const kafkaType = decode.TypeKafka

// delivery is one event as a Kafka subscription POSTs it (binary CloudEvent, Activity Tracker
// event as data), and what the soak expects of it.
type delivery struct {
	id     string
	body   []byte
	bad    bool       // deliberately malformed: the final answer must be a 4xx
	dup    bool       // a repeat of an earlier delivery (same source and id)
	change *tagChange // made in the world before the event is sent
}

func (d *delivery) header(token string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Id", d.id)
	h.Set("Ce-Source", kafkaSource)
	h.Set("Ce-Type", kafkaType)
	h.Set("Authorization", "Bearer "+token)
	return h
}

// tagChange is a user tag attached to or detached from a snapshot.
type tagChange struct {
	crn, tag string
	attach   bool
}

// schedule is the whole run, decided up front from the seed: the original deliveries in send
// order, and after each the duplicates that become due.
type schedule struct {
	originals []*delivery
	dupsAfter [][]*delivery
}

func (s *schedule) count() (originals, dups, bad, changes int) {
	for i, d := range s.originals {
		originals++
		dups += len(s.dupsAfter[i])
		if d.bad {
			bad++
		}
		if d.change != nil {
			changes++
		}
	}
	return
}

// makeSchedule decides every delivery. First one event per object (each snapshot, each KMS
// instance, each vanished snapshot), so that every object is converged by some event and the
// account must be exact before the final reconcile; then events drawn by kind. The originals are
// shuffled; tag changes are decided in that order against a model of the tags, so each attach
// or detach really changes the world; duplicates repeat an earlier original a little later.
func makeSchedule(p Params, g *generated, rng *rand.Rand) (*schedule, error) {
	nDups := int(math.Round(float64(p.Events) * p.DuplicateShare))
	nOriginals := p.Events - nDups
	// evs are the originals; nil stands for a tag change, decided once the order is known.
	var evs []*delivery
	for i := range g.world.Snapshots {
		s := g.world.Snapshots[i]
		crn := emulator.SnapshotCRN(Account, s.Region, s.ID)
		evs = append(evs, event("is.snapshot.snapshot.update", "success", crn, nil))
	}
	for _, in := range g.world.KMSInstances {
		root := emulator.KeyCRN(in.Service, Account, in.Region, in.GUID, in.Keys[0].ID)
		evs = append(evs, event(in.Service+".secrets.create", "success", root, map[string]any{"keyType": "root_key"}))
	}
	for _, crn := range g.vanished {
		evs = append(evs, event("is.snapshot.snapshot.delete", "success", crn, nil))
	}
	if len(evs) > nOriginals {
		return nil, fmt.Errorf("soak: %d events leave %d originals, fewer than the %d objects that each need one", p.Events, nOriginals, len(evs))
	}
	for len(evs) < nOriginals {
		switch x := rng.Float64(); {
		case x < p.BadShare:
			evs = append(evs, badEvent(rng, g))
		case x < p.BadShare+0.08:
			evs = append(evs, ignoredEvent(rng, g))
		case x < p.BadShare+0.28:
			evs = append(evs, keyEvent(rng, g))
		case x < p.BadShare+0.36:
			s := g.world.Snapshots[rng.IntN(len(g.world.Snapshots))]
			evs = append(evs, event("is.snapshot.snapshot.update", "success", emulator.SnapshotCRN(Account, s.Region, s.ID), nil))
		default:
			evs = append(evs, nil)
		}
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })

	tags := map[string][]string{}
	var crns []string
	for _, s := range g.world.Snapshots {
		crn := emulator.SnapshotCRN(Account, s.Region, s.ID)
		tags[crn] = slices.Clone(s.UserTags)
		crns = append(crns, crn)
	}
	pool := tagPool()
	s := &schedule{originals: make([]*delivery, len(evs)), dupsAfter: make([][]*delivery, len(evs))}
	for i, d := range evs {
		if d == nil {
			crn, tag := crns[rng.IntN(len(crns))], pool[rng.IntN(len(pool))]
			c := &tagChange{crn: crn, tag: tag, attach: !slices.Contains(tags[crn], tag)}
			action := "is.tag.detach"
			if c.attach {
				action = "is.tag.attach"
				tags[crn] = append(tags[crn], tag)
			} else {
				tags[crn] = slices.DeleteFunc(tags[crn], func(t string) bool { return t == tag })
			}
			d = event(action, "success", crn, map[string]any{"tag_names": []string{tag}})
			d.change = c
		}
		d.id = fmt.Sprintf("partition:%d/offset:%d", i%4, i)
		s.originals[i] = d
	}
	// A duplicate is due a little after its original, as when a consumer group rebalances and
	// re-reads uncommitted offsets.
	const reach = 50
	for range nDups {
		j := rng.IntN(len(s.originals))
		at := min(j+rng.IntN(reach), len(s.originals)-1)
		dup := *s.originals[j]
		dup.dup, dup.change = true, nil
		s.dupsAfter[at] = append(s.dupsAfter[at], &dup)
	}
	return s, nil
}

// keyEvent is a key created or restored: mostly root keys, some standard keys (ignored), some
// without keyType, which the converger then reads.
func keyEvent(rng *rand.Rand, g *generated) *delivery {
	root := g.rootKeys[rng.IntN(len(g.rootKeys))]
	std := g.stdKeys[rng.IntN(len(g.stdKeys))]
	switch x := rng.IntN(10); {
	case x < 5:
		return event(root.service+".secrets.create", "success", root.crn, map[string]any{"keyType": "root_key"})
	case x < 7:
		return event(root.service+".secrets.restore", "success", root.crn, nil)
	case x < 9:
		return event(std.service+".secrets.create", "success", std.crn, map[string]any{"keyType": "standard_key"})
	}
	return event(std.service+".secrets.restore", "success", std.crn, nil)
}

// ignoredEvent is well-formed but asks for nothing: answered 200 without a write.
func ignoredEvent(rng *rand.Rand, g *generated) *delivery {
	s := g.world.Snapshots[rng.IntN(len(g.world.Snapshots))]
	crn := emulator.SnapshotCRN(Account, s.Region, s.ID)
	switch rng.IntN(3) {
	case 0:
		return event("is.instance.instance.create", "success", crn, nil)
	case 1:
		return event("is.tag.attach", "failure", crn, map[string]any{"tag_names": []string{"x:y"}})
	}
	return event("is.tag.attach", "success", emulator.SnapshotCRN(Stranger, s.Region, s.ID), nil)
}

// badEvent is one no retry can fix: the handler must answer 400.
func badEvent(rng *rand.Rand, g *generated) *delivery {
	s := g.world.Snapshots[rng.IntN(len(g.world.Snapshots))]
	crn := emulator.SnapshotCRN(Account, s.Region, s.ID)
	var d *delivery
	switch rng.IntN(4) {
	case 0:
		d = event("is.tag.attach", "success", "crn:v1:bluemix:public:is:us-south:a/"+Account+"::snapshot:$(reboot)", nil)
	case 1:
		d = event("is.snapshot.snapshot.update", "success", "", nil)
	case 2:
		d = event("kms.secrets.create", "success", crn, map[string]any{"keyType": "root_key"})
	default:
		d = event("is.tag.detach", "success", crn, nil)
		d.body = d.body[:len(d.body)/2]
	}
	d.bad = true
	return d
}

// event is an Activity Tracker event of action on target.
func event(action, outcome, target string, requestData map[string]any) *delivery {
	ev := map[string]any{
		"eventTime": time.Date(2026, 11, 20, 10, 15, 4, 120e6, time.UTC).Format("2006-01-02T15:04:05.00-0700"),
		"action":    action, "outcome": outcome, "severity": "normal",
		"initiator": map[string]any{"id": "IBMid-270004XYZ1", "typeURI": "service/security/account/user"},
		"target":    map[string]any{"id": target, "typeURI": "is/snapshot"},
		"observer":  map[string]any{"name": "ActivityTracker"},
	}
	if requestData != nil {
		ev["requestData"] = requestData
	}
	body, err := json.Marshal(ev)
	if err != nil {
		// Only strings, maps and string slices: encoding cannot fail.
		body = []byte(`{}`)
	}
	return &delivery{body: body}
}
