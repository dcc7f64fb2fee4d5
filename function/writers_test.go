package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/soak"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// The many-writers test is small by default, so that it runs in CI with -race; a longer run:
//
//	go test ./function -run TestManyWriters -writers.seeds 20 -writers.rounds 60 -v
//
// or WRITERS_SEEDS, WRITERS_ROUNDS, WRITERS_SEED in the environment. -writers.seed repeats one
// seed (the one a failure prints) for every K.
var (
	writersSeed   = flag.Uint64("writers.seed", 0, "run only this seed (0: seeds 1..writers.seeds)")
	writersSeeds  = flag.Int("writers.seeds", 0, "seeds per number of serve processes (0: 2, or WRITERS_SEEDS)")
	writersRounds = flag.Int("writers.rounds", 0, "world changes per run (0: 30, or WRITERS_ROUNDS)")
)

func writersSetting(flagValue int, env string, def int) int {
	if flagValue > 0 {
		return flagValue
	}
	if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestManyWriters is the proof that the account ends exact whatever the number of writers: K
// serve processes (K = 1, 2, 3) and one reconcile process started during the run share one
// emulated account with 0–80 ms per IBM call and the default policy cache. Each round changes
// the world (tags, snapshots, keys, a managed policy deleted behind the app's back) and
// delivers the change's event to a random instance, sometimes twice, sometimes late, so that
// events overlap and arrive out of order; a 5xx answer is redelivered, as Code Engine's
// subscription does. Once every delivery has been answered and the reconcile has exited, with
// no reconcile afterwards, the policies must be exactly what the final world asks for
// (internal/soak's Check, computed from the worlds alone): nothing missing, nothing unwanted,
// no duplicate, no hand-made policy touched. A failure prints the seed and the interleaving.
func TestManyWriters(t *testing.T) {
	seeds := writersSetting(*writersSeeds, "WRITERS_SEEDS", 2)
	rounds := writersSetting(*writersRounds, "WRITERS_ROUNDS", 30)
	var only uint64
	if *writersSeed != 0 {
		only = *writersSeed
	} else if v, err := strconv.ParseUint(os.Getenv("WRITERS_SEED"), 10, 64); err == nil {
		only = v
	}
	bin := buildBinary(t)
	var total writersTotals
	for k := 1; k <= 3; k++ {
		for i := 1; i <= seeds; i++ {
			seed := uint64(i)
			if only != 0 {
				if i > 1 {
					break
				}
				seed = only
			}
			t.Run(fmt.Sprintf("K=%d/seed=%d", k, seed), func(t *testing.T) {
				r := runWriters(t, bin, k, seed, rounds)
				total.add(k, r)
				t.Logf("K=%d seed=%d: %s", k, seed, r)
				for _, a := range r.retried {
					t.Logf("redelivered after %s", a)
				}
			})
		}
	}
	for k := 1; k <= 3; k++ {
		if total.byK[k].runs > 0 { // -run may have selected some K only
			t.Logf("K=%d: %s", k, total.byK[k])
		}
	}
}

// writersResult is what one run did and cost.
type writersResult struct {
	runs, rounds, deliveries, redeliveries int
	wrong                                  int // grants missing, unwanted, duplicated or hand-made lost
	calls, policyGets, policyLists, writes int // the emulator's Stats over the whole run
	reconcileExit                          string
	retried                                []string // the answers that asked for a redelivery
}

func (r writersResult) String() string {
	per := func(n int) string {
		if r.deliveries == 0 {
			return "-"
		}
		return strconv.FormatFloat(float64(n)/float64(r.deliveries), 'f', 2, 64)
	}
	s := fmt.Sprintf("%d run(s), %d rounds, %d deliveries (%d redelivered after a 5xx), %d wrong grants; IBM calls %d (%s per delivery: policy GETs %s, policy lists %s, policy writes %s, reconcile included)",
		r.runs, r.rounds, r.deliveries, r.redeliveries, r.wrong, r.calls, per(r.calls), per(r.policyGets), per(r.policyLists), per(r.writes))
	if r.reconcileExit != "" {
		s += "; reconcile " + r.reconcileExit
	}
	return s
}

type writersTotals struct {
	mu  sync.Mutex
	byK [4]writersResult
}

func (w *writersTotals) add(k int, r writersResult) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := &w.byK[k]
	t.runs++
	t.rounds += r.rounds
	t.deliveries += r.deliveries
	t.redeliveries += r.redeliveries
	t.wrong += r.wrong
	t.calls += r.calls
	t.policyGets += r.policyGets
	t.policyLists += r.policyLists
	t.writes += r.writes
}

// restoreTags are what the rounds attach and detach: restores the rules allow (two accounts),
// one they refuse, and a tag of no concern.
func restoreTags() []string {
	return []string{"s2s-restore:" + te.Restorer, "s2s-restore:" + te.Consumer, "s2s-restore:" + te.Stranger, "env:prod"}
}

// writersWorld is the sample world and a few more snapshots, with a hand-made restore policy
// that carries a grant the rules want (covered: never adopted, deleted or duplicated).
func writersWorld(rng *rand.Rand, rules authz.Rules) *emulator.World {
	w := te.World()
	for i := range 4 {
		s := emulator.Snapshot{ID: fmt.Sprintf("r006-0e0e0e0e-0000-4000-8000-%012d", i), Region: "us-south", Name: fmt.Sprintf("writers-%d", i)}
		for _, tag := range restoreTags() {
			if rng.IntN(2) == 0 {
				s.UserTags = append(s.UserTags, tag)
			}
		}
		if i%2 == 0 {
			s.EncryptionKeyCRN = te.RootKeyCRN
		}
		w.Snapshots = append(w.Snapshots, s)
	}
	snap := w.Snapshots[0] // tagged for Restorer
	wanted, _ := rules.ForSnapshot(&authz.Snapshot{ID: snap.ID, CRN: emulator.SnapshotCRN(te.Account, snap.Region, snap.ID), UserTags: snap.UserTags})
	for _, a := range wanted {
		w.Policies = append(w.Policies, te.HandMade(a.Grant))
	}
	return w
}

// interleaving is the schedule as it happened: world changes and deliveries with the instance
// that answered each, in time order.
type interleaving struct {
	mu    sync.Mutex
	start time.Time
	lines []string
}

func (l *interleaving) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%7.3fs  ", time.Since(l.start).Seconds())+fmt.Sprintf(format, args...))
}

func (l *interleaving) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") // stamped under the lock: already in time order
}

// writersEvent is one Activity Tracker event as the Kafka subscription POSTs it.
type writersEvent struct {
	id, action, target string
	body               []byte
}

// runWriters is one seeded run with k serve processes; it fails t when the account is not
// exact at the end, printing the seed and the interleaving.
func runWriters(t *testing.T, bin string, k int, seed uint64, rounds int) writersResult {
	rng := rand.New(rand.NewPCG(seed, uint64(k)))
	scope := authz.ScopeInstance
	if seed%2 == 0 {
		scope = authz.ScopeKey // key events then create and remove grants of their own
	}
	rules := authz.Rules{AccountID: te.Account, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: []string{te.Restorer, te.Consumer}, KMSScope: scope}
	srv, err := emulator.Start(writersWorld(rng, rules), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	const token = "writers-test-event-token-0123456789"
	env := append(srv.Env(), "RESTORE_ALLOWED_ACCOUNTS="+te.Restorer+","+te.Consumer, "IBMCLOUD_REGIONS=us-south,eu-de",
		"EVENT_AUTH_TOKEN="+token, "KMS_SCOPE="+string(scope), "LOG_LEVEL=info")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The account starts converged, so that every grant wrong at the end is one the run made
	// wrong; its initial world names the hand-made policies that must stay untouched.
	setup := exec.CommandContext(ctx, bin, writersReconcileArgs()...)
	setup.Env = env
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("the setup reconcile: %v\n%s", err, out)
	}
	initial := srv.World()
	if st, err := soak.Check(initial, initial, rules); err != nil || !st.Exact() {
		t.Fatalf("after the setup reconcile: %v %s", err, st)
	}

	serves := make([]*serveProcess, k)
	for i := range serves {
		serves[i] = startServe(t, bin, env)
	}
	srv.ResetStats()
	srv.SetFaults(emulator.Faults{LatencyJitter: 80 * time.Millisecond, Seed: int64(seed)})

	log := &interleaving{start: time.Now()}
	res := writersResult{runs: 1, rounds: rounds}
	var resMu sync.Mutex
	var problems []string
	problem := func(format string, args ...any) {
		resMu.Lock()
		defer resMu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}

	client := &http.Client{Timeout: time.Minute}
	// deliver sends one event after a delay to a random instance and redelivers it (bounded)
	// while the answer asks for it, as the subscription would; rng draws happen before the
	// goroutine starts, so that the schedule depends on the seed only.
	var wg sync.WaitGroup
	deliver := func(ev writersEvent, delay time.Duration, label string) {
		const attempts = 6
		instances := make([]int, attempts)
		for i := range instances {
			instances[i] = rng.IntN(k)
		}
		wg.Go(func() {
			time.Sleep(delay)
			for attempt := range attempts {
				n := instances[attempt]
				status, answer := postWritersEvent(ctx, client, serves[n].url, token, ev)
				resMu.Lock()
				res.deliveries++
				if attempt > 0 {
					res.redeliveries++
				}
				resMu.Unlock()
				log.add("deliver %s %s %s %s to serve#%d: %d %s", ev.id, label, ev.action, shortCRN(ev.target), n, status, answer)
				switch {
				case status >= 200 && status < 300:
					return
				case status >= 500 || status == 0:
					// Redelivered below; the answer is kept, as the reason a subscription retries.
					resMu.Lock()
					res.retried = append(res.retried, fmt.Sprintf("%s %s to serve#%d: %d %s", ev.id, ev.action, n, status, answer))
					resMu.Unlock()
				case status >= 400 && status < 500:
					problem("%s %s was answered %d %s: every event of the run is valid", ev.id, ev.action, status, answer)
					return
				}
				time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
			}
			problem("%s %s still failed after %d deliveries", ev.id, ev.action, attempts)
		})
	}

	// The reconcile starts a quarter to a half into the run and runs beside the events.
	reconcileAt := rounds/4 + rng.IntN(rounds/4+1)
	reconcileDone := make(chan struct{})
	close(reconcileDone) // replaced when started
	seq := 0
	newEvent := func(action, target string, requestData map[string]any) writersEvent {
		seq++
		return writersEvent{id: fmt.Sprintf("partition:%d/offset:%d", seq%3, seq), action: action, target: target, body: writersEventBody(action, target, requestData)}
	}
	// schedule sends an event's original and, sometimes, its duplicate (same source and id) to
	// another random instance; sometimes one of them late, so that it overtakes later events.
	schedule := func(ev writersEvent) {
		delay := func() time.Duration {
			if rng.IntN(5) == 0 {
				return time.Duration(300+rng.IntN(1200)) * time.Millisecond // late: several rounds later
			}
			return time.Duration(rng.IntN(40)) * time.Millisecond
		}
		deliver(ev, delay(), "original")
		if rng.IntN(4) == 0 {
			deliver(ev, delay(), "duplicate")
		}
	}

	for round := range rounds {
		time.Sleep(time.Duration(rng.IntN(60)) * time.Millisecond)
		if round == reconcileAt {
			reconcileDone = make(chan struct{})
			cmd := exec.CommandContext(ctx, bin, writersReconcileArgs()...)
			cmd.Env = env
			out := &te.Buffer{}
			cmd.Stdout, cmd.Stderr = out, out
			log.add("round %d: reconcile process started", round)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() {
				defer close(reconcileDone)
				err := cmd.Wait()
				exit := "exit 0"
				if err != nil {
					exit = err.Error()
				}
				resMu.Lock()
				res.reconcileExit = exit
				resMu.Unlock()
				log.add("reconcile process: %s, %s", exit, lastLine(out.String()))
			}()
		}
		for _, ev := range writersRound(t, srv, rng, rules, round, log, newEvent) {
			schedule(ev)
		}
	}
	wg.Wait()
	<-reconcileDone

	st := srv.Stats()
	res.calls = st.Total
	res.policyGets = st.Calls["GET /v1/policies/{id}"] + st.Calls["GET /v2/policies/{id}"]
	res.policyLists = st.Calls["GET /v1/policies"] + st.Calls["GET /v2/policies"]
	res.writes = st.PolicyWrites
	final := srv.World()
	check, err := soak.Check(initial, final, rules)
	if err != nil {
		t.Fatal(err)
	}
	res.wrong = len(check.Missing) + len(check.Unwanted) + len(check.Duplicates) + len(check.Lost)
	if !check.Exact() || len(problems) > 0 {
		var logs strings.Builder
		for i, s := range serves {
			fmt.Fprintf(&logs, "\n--- serve#%d\n%s", i, tail(s.logs.String(), 40))
		}
		t.Errorf("K=%d seed=%d (repeat with -run 'TestManyWriters/K=%d/seed=%d$' -writers.seed %d -writers.rounds %d):\n%s\n%s\n\ninterleaving:\n%s\n%s",
			k, seed, k, seed, seed, rounds, check, strings.Join(problems, "\n"), log, logs.String())
	}
	return res
}

// writersRound makes one change to the world and returns the events that report it.
func writersRound(t *testing.T, srv *emulator.Server, rng *rand.Rand, rules authz.Rules, round int, log *interleaving,
	newEvent func(action, target string, requestData map[string]any) writersEvent) []writersEvent {
	t.Helper()
	w := srv.World()
	snapCRN := func(s emulator.Snapshot) string { return emulator.SnapshotCRN(w.AccountID, s.Region, s.ID) }
	var rootKeys []string // CRNs of live root keys
	keyAt := map[string][2]string{}
	for _, in := range w.KMSInstances {
		for _, key := range in.Keys {
			if key.Type == "root_key" && !key.Deleted {
				c := emulator.KeyCRN(in.Service, w.AccountID, in.Region, in.GUID, key.ID)
				rootKeys = append(rootKeys, c)
				keyAt[c] = [2]string{in.GUID, key.ID}
			}
		}
	}
	toggle := func(s emulator.Snapshot, tag string) writersEvent {
		tags, action := slices.Clone(s.UserTags), "is.tag.attach"
		if slices.Contains(tags, tag) {
			tags, action = slices.DeleteFunc(tags, func(x string) bool { return x == tag }), "is.tag.detach"
		} else {
			tags = append(tags, tag)
		}
		if err := srv.SetUserTags(s.ID, tags); err != nil {
			t.Fatal(err)
		}
		ev := newEvent(action, snapCRN(s), map[string]any{"tag_names": []string{tag}})
		log.add("round %d: %s %s on %s (event %s)", round, strings.TrimPrefix(action, "is.tag."), tag, s.ID, ev.id)
		return ev
	}
	keyEvent := func(action, keyCRN string) writersEvent {
		c, _ := crn.Parse(keyCRN)
		var data map[string]any
		if strings.HasSuffix(action, ".create") {
			data = map[string]any{"keyType": "root_key"}
		}
		return newEvent(c.Service+"."+action, keyCRN, data)
	}
	switch x := rng.IntN(100); {
	case x < 50 || len(w.Snapshots) < 3 && x < 70:
		s := w.Snapshots[rng.IntN(len(w.Snapshots))]
		tags := restoreTags()
		return []writersEvent{toggle(s, tags[rng.IntN(len(tags))])}
	case x < 60:
		s := emulator.Snapshot{ID: fmt.Sprintf("r006-0e0e0e0e-0000-4000-8000-%012d", 100+round), Region: "us-south", Name: fmt.Sprintf("writers-new-%d", round)}
		for _, tag := range restoreTags() {
			if rng.IntN(2) == 0 {
				s.UserTags = append(s.UserTags, tag)
			}
		}
		if len(rootKeys) > 0 && rng.IntN(2) == 0 {
			s.EncryptionKeyCRN = rootKeys[rng.IntN(len(rootKeys))]
		}
		if err := srv.AddSnapshot(s); err != nil {
			t.Fatal(err)
		}
		ev := newEvent("is.snapshot.snapshot.create", snapCRN(s), nil)
		log.add("round %d: snapshot %s created with tags %v (event %s)", round, s.ID, s.UserTags, ev.id)
		return []writersEvent{ev}
	case x < 70:
		s := w.Snapshots[rng.IntN(len(w.Snapshots))]
		srv.DeleteSnapshot(s.ID)
		ev := newEvent("is.snapshot.snapshot.delete", snapCRN(s), nil)
		log.add("round %d: snapshot %s deleted (event %s)", round, s.ID, ev.id)
		return []writersEvent{ev}
	case x < 78:
		in := w.KMSInstances[rng.IntN(len(w.KMSInstances))]
		id := fmt.Sprintf("0e0e0e0e-0000-4000-8000-%012d", round)
		if err := srv.AddKey(in.GUID, emulator.Key{ID: id, Name: fmt.Sprintf("writers-%d", round), Type: "root_key"}); err != nil {
			t.Fatal(err)
		}
		ev := keyEvent("secrets.create", emulator.KeyCRN(in.Service, w.AccountID, in.Region, in.GUID, id))
		log.add("round %d: root key %s created in %s (event %s)", round, id, in.GUID, ev.id)
		return []writersEvent{ev}
	case x < 85 && len(rootKeys) > 1:
		c := rootKeys[rng.IntN(len(rootKeys))]
		srv.DeleteKey(keyAt[c][0], keyAt[c][1])
		ev := keyEvent("secrets.delete", c)
		log.add("round %d: root key %s deleted (event %s)", round, shortCRN(c), ev.id)
		return []writersEvent{ev}
	}
	// A managed policy deleted by a person behind the app's back: no event reports it, and
	// the next event on its object must put it back whatever the caches say. That next event
	// is a real change on the object: a tag of no concern toggled on the snapshot, or a root
	// key created in the instance.
	policies, err := te.WorldPolicies(w)
	if err != nil {
		t.Fatal(err)
	}
	var managed []authz.Policy
	for _, p := range policies {
		if o, ours := p.Owner(); ours && (o.Kind == authz.KindRestore || rules.KMSScope == authz.ScopeInstance) {
			managed = append(managed, p)
		}
	}
	if len(managed) == 0 {
		return []writersEvent{toggle(w.Snapshots[rng.IntN(len(w.Snapshots))], "env:prod")}
	}
	p := managed[rng.IntN(len(managed))]
	o, _ := p.Owner()
	srv.DeletePolicy(p.ID)
	log.add("round %d: managed policy %s (%s of %s) deleted behind the app's back", round, p.ID, o.Kind, shortCRN(o.Object))
	if o.Kind == authz.KindRestore {
		for _, s := range w.Snapshots {
			if snapCRN(s) == o.Object {
				return []writersEvent{toggle(s, "env:prod")}
			}
		}
		return nil // its snapshot is gone: the policy was unwanted anyway
	}
	c, _ := crn.Parse(o.Object)
	id := fmt.Sprintf("0e0e0e0e-0000-4000-8000-%012d", 500+round)
	if err := srv.AddKey(c.ServiceInstance, emulator.Key{ID: id, Name: fmt.Sprintf("writers-%d", round), Type: "root_key"}); err != nil {
		t.Fatal(err)
	}
	ev := keyEvent("secrets.create", emulator.KeyCRN(c.Service, w.AccountID, c.Location, c.ServiceInstance, id))
	log.add("round %d: root key %s created in %s (event %s)", round, id, c.ServiceInstance, ev.id)
	return []writersEvent{ev}
}

// writersReconcileArgs is the reconcile job's command line: the write pace far above IAM's so
// that its writes interleave with the events' instead of trailing them.
func writersReconcileArgs() []string {
	return []string{"reconcile", "--max-writes-per-second", "1000"}
}

func writersEventBody(action, target string, requestData map[string]any) []byte {
	ev := map[string]any{"action": action, "outcome": "success", "eventTime": "2026-11-20T10:15:04.12+0000",
		"target": map[string]string{"id": target}, "initiator": map[string]string{"id": "IBMid-writers"}}
	if requestData != nil {
		ev["requestData"] = requestData
	}
	b, _ := json.Marshal(ev) // strings, maps and slices of strings always encode
	return b
}

// postWritersEvent POSTs an event as a binary CloudEvent and summarises the answer: outcome
// and the changes' op and result.
func postWritersEvent(ctx context.Context, client *http.Client, url, token string, ev writersEvent) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ev.body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", ev.id)
	req.Header.Set("Ce-Source", "/apis/v1/namespaces/ns/kafkasources/at#activity-tracker")
	req.Header.Set("Ce-Type", delivery.TypeKafka)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "no answer: " + err.Error() // redelivered, as an unanswered request is
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var answer struct {
		Error   string
		Results []struct {
			Outcome, Error, Reason string
			Changes                []struct {
				Op, Result, Kind string
				PolicyID         string `json:"policy_id"`
			}
		}
	}
	if json.Unmarshal(body, &answer) != nil || len(answer.Results) == 0 {
		return resp.StatusCode, strings.TrimSpace(answer.Error + " " + string(body))
	}
	r := answer.Results[0]
	parts := []string{r.Outcome}
	for _, c := range r.Changes {
		parts = append(parts, fmt.Sprintf("%s:%s/%s(%s)", c.Kind, c.Op, c.Result, shortID(c.PolicyID)))
	}
	if r.Error != "" {
		parts = append(parts, "error: "+r.Error)
	}
	return resp.StatusCode, strings.Join(parts, " ")
}

func shortCRN(s string) string {
	if c, err := crn.Parse(s); err == nil && c.Resource != "" {
		return c.ResourceType + ":" + c.Resource
	}
	return s
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestWritersCost measures what the many-writers guarantee costs in IBM calls, one event at a
// time against one warm serve process without latency (the emulator's Stats per event): a
// converged event, one needing one change, a removal, and a duplicate. The bounds are the
// issue's: a converged event reads at most its object and GETs one policy; a change or a
// removal writes exactly once; a duplicate calls nothing.
func TestWritersCost(t *testing.T) {
	bin := buildBinary(t)
	rules := authz.Rules{AccountID: te.Account, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: []string{te.Restorer}, KMSScope: authz.ScopeInstance}
	srv, err := emulator.Start(te.World(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	const token = "writers-test-event-token-0123456789"
	env := append(srv.Env(), "RESTORE_ALLOWED_ACCOUNTS="+te.Restorer, "IBMCLOUD_REGIONS=us-south,eu-de", "EVENT_AUTH_TOKEN="+token)
	setup := exec.Command(bin, writersReconcileArgs()...)
	setup.Env = env
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("the setup reconcile: %v\n%s", err, out)
	}
	initial := srv.World()
	p := startServe(t, bin, env)
	client := &http.Client{Timeout: time.Minute}
	n := 0
	send := func(what string, ev writersEvent) (emulator.Stats, string) {
		t.Helper()
		before := srv.Stats()
		status, answer := postWritersEvent(context.Background(), client, p.url, token, ev)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", what, status, answer)
		}
		after := srv.Stats()
		d := emulator.Stats{Total: after.Total - before.Total, PolicyWrites: after.PolicyWrites - before.PolicyWrites, Calls: map[string]int{}}
		for route, c := range after.Calls {
			if c -= before.Calls[route]; c > 0 && !strings.Contains(route, "token") {
				d.Calls[route] = c
			}
		}
		routes := make([]string, 0, len(d.Calls))
		for route, c := range d.Calls {
			routes = append(routes, fmt.Sprintf("%s ×%d", route, c))
		}
		sort.Strings(routes)
		t.Logf("%-40s %d calls (%s), %d writes: %s", what, d.Total, strings.Join(routes, ", "), d.PolicyWrites, answer)
		return d, answer
	}
	event := func(action, target string) writersEvent {
		n++
		return writersEvent{id: fmt.Sprintf("partition:0/offset:%d", n), action: action, target: target, body: writersEventBody(action, target, nil)}
	}
	// Warm the process (its policy cache and token) with an event on another object. A cold
	// process lists the account in the background a second after its first events; wait (in
	// bounded steps) until its reads show a warm cache: a keep confirmed by a policy GET.
	send("cold event (warms the cache)", event("is.tag.attach", te.SnapEUCRN))
	for i := 0; ; i++ {
		d, _ := send("converged tag attach, warming", event("is.tag.attach", te.SnapCRN))
		if d.Calls["GET /v2/policies/{id}"] == 1 && d.PolicyWrites == 0 {
			break
		}
		if i == 40 {
			t.Fatal("the process never listed its policies: its converged events still go through IAM's 409")
		}
		time.Sleep(250 * time.Millisecond)
	}

	converged, _ := send("converged tag attach", event("is.tag.attach", te.SnapCRN))
	restore := "s2s-restore:" + te.Restorer
	if err := srv.SetUserTags(te.SnapPlain, []string{restore}); err != nil {
		t.Fatal(err)
	}
	change, _ := send("tag attach needing one create", event("is.tag.attach", te.SnapPlainCRN))
	if err := srv.SetUserTags(te.SnapPlain, nil); err != nil {
		t.Fatal(err)
	}
	removal, _ := send("tag detach needing one delete", event("is.tag.detach", te.SnapPlainCRN))
	dup := event("is.tag.attach", te.SnapCRN)
	send("converged tag attach (again)", dup)
	duplicate, answer := send("duplicate (same source and id)", dup)

	if converged.PolicyWrites != 0 || converged.Total > 2 || converged.Calls["GET /v1/policies/{id}"]+converged.Calls["GET /v2/policies/{id}"] > 1 {
		t.Errorf("a converged event made %d calls (%v): want at most the object read and one policy GET", converged.Total, converged.Calls)
	}
	if change.PolicyWrites != 1 || removal.PolicyWrites != 1 {
		t.Errorf("one change wrote %d times, one removal %d: want 1 each", change.PolicyWrites, removal.PolicyWrites)
	}
	if duplicate.Total != 0 || !strings.HasPrefix(answer, "duplicate") {
		t.Errorf("a duplicate made %d calls (%s): want 0", duplicate.Total, answer)
	}
	if st, err := soak.Check(initial, srv.World(), rules); err != nil || !st.Exact() {
		t.Errorf("after the events: %v %s", err, st)
	}
}
