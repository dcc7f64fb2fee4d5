package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	"github.com/s2s-authorizer/s2s-authorizer/internal/logging"
	"github.com/s2s-authorizer/s2s-authorizer/internal/wiring"
)

// The bench account is the sample world's: the same owner and the same account allowed to
// restore, so that figures read like the README's examples.
const (
	account  = "4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"
	restorer = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
)

// regions are the regions the bench account has snapshots in, and the function is configured with.
var regions = []string{"us-south", "eu-de"}

// worldSpec describes a bench account: snapshots tagged for restorer, spread over regions in
// turn, and KMS instances (Key Protect and HPCS in turn) with one root key and one standard key.
type worldSpec struct {
	snapshots int
	instances int
	// untagged is how many of the snapshots (the first ones) carry no restore tag, so that the
	// account holds more snapshots than policies, as real ones do.
	untagged int
}

// tagged is how many snapshots ask for a restore policy.
func (s worldSpec) tagged() int { return s.snapshots - s.untagged }

// policies is how many policies the converged world holds: one restore policy per tagged
// snapshot, one Reader policy per instance.
func (s worldSpec) policies() int { return s.tagged() + s.instances }

// snapshot is one snapshot of a bench world, with what an event about it names.
type snapshot struct{ id, region, crn string }

// instance is one KMS instance of a bench world.
type instance struct{ guid, service, region, rootKey, rootKeyCRN string }

func (s worldSpec) snapshot(i int) snapshot {
	region := regions[i%len(regions)]
	zone := map[string]string{"us-south": "r006", "eu-de": "r010"}[region]
	id := fmt.Sprintf("%s-00000000-0000-4000-8000-%012d", zone, i)
	return snapshot{id: id, region: region, crn: emulator.SnapshotCRN(account, region, id)}
}

func (s worldSpec) instance(i int) instance {
	service := []string{"kms", "hs-crypto"}[i%2]
	guid := fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1)
	key := fmt.Sprintf("%08x-1111-4000-8000-%012x", i+1, i+1)
	return instance{guid: guid, service: service, region: "us-south", rootKey: key,
		rootKeyCRN: emulator.KeyCRN(service, account, "us-south", guid, key)}
}

// build is the world without any policy.
func (s worldSpec) build() *emulator.World {
	w := &emulator.World{AccountID: account}
	for i := range s.instances {
		in := s.instance(i)
		w.KMSInstances = append(w.KMSInstances, emulator.KMSInstance{
			GUID: in.guid, Service: in.service, Region: in.region, Name: fmt.Sprintf("keys-%d", i),
			Keys: []emulator.Key{
				{ID: in.rootKey, Name: fmt.Sprintf("root-%d", i), Type: "root_key"},
				{ID: fmt.Sprintf("%08x-2222-4000-8000-%012x", i+1, i+1), Name: fmt.Sprintf("standard-%d", i), Type: "standard_key"},
			},
		})
	}
	for i := range s.snapshots {
		sn := s.snapshot(i)
		tags := []string{"s2s-restore:" + restorer, "env:bench"}
		if i < s.untagged {
			tags = tags[1:]
		}
		w.Snapshots = append(w.Snapshots, emulator.Snapshot{ID: sn.id, Region: sn.region, Name: fmt.Sprintf("snap-%d", i), UserTags: tags})
	}
	return w
}

// prepared is the world of s where every object but the last pendingSnapshots snapshots and
// pendingInstances instances already has the policies it should have. The policies are made
// by the project's own full reconcile, so that "converged" means what the function means by it.
func (s worldSpec) prepared(ctx context.Context, pendingSnapshots, pendingInstances int) (*emulator.World, error) {
	full, base := s.build(), s.build()
	base.Snapshots = base.Snapshots[:len(base.Snapshots)-pendingSnapshots]
	base.KMSInstances = base.KMSInstances[:len(base.KMSInstances)-pendingInstances]
	w, err := converged(ctx, base)
	if err != nil {
		return nil, err
	}
	w.Snapshots = append(w.Snapshots, full.Snapshots[len(full.Snapshots)-pendingSnapshots:]...)
	w.KMSInstances = append(w.KMSInstances, full.KMSInstances[len(full.KMSInstances)-pendingInstances:]...)
	return w, nil
}

// converged runs one full reconcile of w on a scratch emulator and returns the result.
func converged(ctx context.Context, w *emulator.World) (*emulator.World, error) {
	srv, err := emulator.Start(w, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	rt, closeRT, err := newRuntime(ctx, srv, io.Discard)
	if err != nil {
		return nil, err
	}
	defer closeRT()
	rep := rt.Reconciler(8, -1).Run(ctx)
	if rep.Failed() {
		var b strings.Builder
		rep.WriteOutcome(&b)
		return nil, fmt.Errorf("preparing the world: the reconcile failed:\n%s", b.String())
	}
	return srv.World(), nil
}

// env is the whole environment of a function process pointed at srv: the emulator's
// credentials and endpoints, the bench account's restorer and regions, and nothing of the
// caller's environment, so that the bench can never reach a real account.
func env(srv *emulator.Server) map[string]string {
	m := map[string]string{
		"RESTORE_ALLOWED_ACCOUNTS": restorer,
		"IBMCLOUD_REGIONS":         strings.Join(regions, ","),
	}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// environ is env as a process environment.
func environ(srv *emulator.Server) []string {
	var out []string
	for k, v := range env(srv) {
		out = append(out, k+"="+v)
	}
	return out
}

// newRuntime assembles the function's event path against srv exactly as serve does (the same
// configuration reading, wiring and production retry options), logging to logOut. close
// drops its idle connections.
func newRuntime(ctx context.Context, srv *emulator.Server, logOut io.Writer) (rt *wiring.Runtime, close func(), err error) {
	vars := env(srv)
	cfg, err := config.FromEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		return nil, nil, err
	}
	o := ibm.DefaultOptions()
	rt, err = wiring.Build(ctx, cfg, logging.New(cfg.LogLevel, logOut), o)
	if err != nil {
		return nil, nil, err
	}
	return rt, func() {
		rt.Close()
		if t, ok := o.Transport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
	}, nil
}
