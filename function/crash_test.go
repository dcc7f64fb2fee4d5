package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/soak"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// TestCrashAndRedelivery kills serve with SIGKILL in the middle of a burst of events, starts it
// again, redelivers every event that was not acknowledged (as a Kafka subscription does with
// uncommitted offsets), and checks the account is exact, and that a full reconcile afterwards
// finds nothing to do. The emulator lives in the test process, so it survives the crash.
func TestCrashAndRedelivery(t *testing.T) {
	bin := buildBinary(t)
	world := te.World()
	const extra = 40
	for i := range extra {
		world.Snapshots = append(world.Snapshots, emulator.Snapshot{
			ID: fmt.Sprintf("r006-c0ffee00-0000-4000-8000-%012d", i), Region: "us-south", Name: fmt.Sprintf("crash-%d", i),
			UserTags: []string{"s2s-restore:" + te.Restorer},
		})
	}
	srv, err := emulator.Start(world, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	initial := srv.World()
	// Every IBM call takes a while, so that events are in flight when the process dies.
	srv.SetFaults(emulator.Faults{Latency: 15 * time.Millisecond})
	const token = "crash-test-event-token-0123456789"
	env := append(srv.Env(), "RESTORE_ALLOWED_ACCOUNTS="+te.Restorer, "IBMCLOUD_REGIONS=us-south,eu-de", "EVENT_AUTH_TOKEN="+token)

	// One event per object, so that the events alone must make the account exact.
	var events [][]byte
	for _, s := range world.Snapshots {
		events = append(events, atEvent("is.tag.attach", emulator.SnapshotCRN(te.Account, s.Region, s.ID), ""))
	}
	events = append(events, atEvent("kms.secrets.create", te.RootKeyCRN, "root_key"), atEvent("hs-crypto.secrets.create", te.HPCSKeyCRN, "root_key"))
	post := func(url string, i int) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(events[i]))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Id", fmt.Sprintf("partition:0/offset:%d", i))
		req.Header.Set("Ce-Source", "/apis/v1/namespaces/ns/kafkasources/at#activity-tracker")
		req.Header.Set("Ce-Type", delivery.TypeKafka)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		var answer handlers.Response
		_ = json.NewDecoder(resp.Body).Decode(&answer)
		outcome := answer.Error
		if len(answer.Results) == 1 {
			outcome = string(answer.Results[0].Outcome)
		}
		return resp.StatusCode, outcome
	}
	acknowledged := func(status int) bool {
		return status >= 200 && status < 300 || status >= 400 && status < 500 && status != 404 && status != 408 && status != 409 && status != 429
	}

	first := startServe(t, bin, env)
	acked := make([]atomic.Bool, len(events))
	var nAcked atomic.Int32
	enough := make(chan struct{}) // a third acknowledged: time to crash
	var once sync.Once
	next := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range next {
				if status, _ := post(first.url, i); acknowledged(status) {
					acked[i].Store(true)
					if nAcked.Add(1) >= int32(len(events)/3) {
						once.Do(func() { close(enough) })
					}
				}
			}
		})
	}
feed:
	for i := range events {
		select {
		case next <- i:
		case <-enough:
			break feed
		}
	}
	first.kill(t) // the senders' requests in flight fail with the connection
	close(next)
	wg.Wait()
	var lost []int
	for i := range events {
		if !acked[i].Load() {
			lost = append(lost, i)
		}
	}
	if len(lost) == 0 || len(lost) == len(events) {
		t.Fatalf("%d of %d events unacknowledged at the kill: the crash was not in the middle of the burst", len(lost), len(events))
	}

	second := startServe(t, bin, env)
	outcomes := map[string]int{}
	for _, i := range lost {
		status, outcome := post(second.url, i)
		if status != http.StatusOK {
			t.Fatalf("redelivered event %d: %d %s", i, status, outcome)
		}
		outcomes[outcome]++
	}
	t.Logf("%d events, %d acknowledged before SIGKILL, %d redelivered after the restart: %v", len(events), len(events)-len(lost), len(lost), outcomes)
	second.stop(t)

	rules := authz.Rules{AccountID: te.Account, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: []string{te.Restorer}, KMSScope: authz.ScopeInstance}
	st, err := soak.Check(initial, srv.World(), rules)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exact() || st.Desired != extra+3 {
		t.Fatalf("after redelivery: %s; want %d grants", st, extra+3)
	}

	srv.SetFaults(emulator.Faults{})
	srv.ResetStats()
	lookup := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		lookup[k] = v
	}
	code, stdout, stderr := run(t, context.Background(), lookup, "reconcile")
	if code != 0 || srv.Stats().PolicyWrites != 0 || !strings.Contains(stdout, "Plan: 0 to create, 0 to delete") {
		t.Fatalf("the reconcile after the crash wrote %d policies (exit %d):\n%s%s", srv.Stats().PolicyWrites, code, stdout, stderr)
	}
	if st, _ := soak.Check(initial, srv.World(), rules); !st.Exact() {
		t.Fatalf("after the reconcile: %s", st)
	}
}

// atEvent is an Activity Tracker event as a Kafka subscription delivers it.
func atEvent(action, target, keyType string) []byte {
	ev := map[string]any{"action": action, "outcome": "success", "target": map[string]string{"id": target}}
	if keyType != "" {
		ev["requestData"] = map[string]string{"keyType": keyType}
	}
	b, _ := json.Marshal(ev)
	return b
}

// serveProcess is the binary's serve command running as a child process.
type serveProcess struct {
	cmd    *exec.Cmd
	url    string
	logs   *te.Buffer
	exited chan struct{} // closed once the process has been waited for
	err    error         // how it exited
}

// startServe starts `serve` on a free loopback port and waits for its "listening" line.
func startServe(t *testing.T, bin string, env []string) *serveProcess {
	t.Helper()
	p := &serveProcess{cmd: exec.Command(bin, "serve", "--listen", "127.0.0.1:0"), logs: &te.Buffer{}, exited: make(chan struct{})}
	p.cmd.Env = env
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadBytes('\n')
			_, _ = p.logs.Write(line)
			var m struct{ Msg, URL string }
			if json.Unmarshal(line, &m) == nil && m.Msg == "listening" {
				urls <- m.URL
			}
			if err != nil {
				p.err = p.cmd.Wait()
				close(p.exited)
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // a no-op when it has exited
		<-p.exited
	})
	select {
	case p.url = <-urls:
	case <-p.exited:
		t.Fatalf("serve exited before listening (%v):\n%s", p.err, p.logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not listen:\n%s", p.logs)
	}
	return p
}

// kill sends SIGKILL: no drain, no deferred cleanup, as when a node disappears.
func (p *serveProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if p.err == nil || !strings.Contains(p.err.Error(), "killed") {
		t.Fatalf("serve after SIGKILL: %v", p.err)
	}
}

// stop asks serve to drain and exit, as Code Engine does with SIGTERM.
func (p *serveProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", p.err, p.logs)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("serve did not stop after SIGTERM")
	}
}

// buildBinary builds the command, with the race detector when the tests run with it (which
// also reuses the packages the test build compiled).
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "s2s-authorizer")
	args := []string{"build", "-o", bin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
