package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/reconcile"
)

// Targets of the reconcile measures.
const (
	maxScaling    = 12.0
	targetPages   = "calls = list pages + changes"
	targetScaling = "≤ 12"
	targetPeakRSS = "reported"
	listPageSize  = 100 // the largest page of IAM, VPC and Resource Controller lists, which the adapters ask for
)

// pages is how many list calls n items take at listPageSize a page; an empty list is one call.
func pages(n int) int { return max(1, (n+listPageSize-1)/listPageSize) }

// roleReads are the GET /v2/roles a process makes at its start: the role CRNs are read from IAM,
// one call per (target, source) pair the rules grant.
const roleReads = 4

// expectedCalls is what a full reconcile of a converged world of spec must cost: the role reads
// of its start, every list page, one backup policy probe per region, and nothing else, since
// nothing needs changing.
func (s worldSpec) expectedCalls() (total int, detail string) {
	policies := pages(s.policies())
	snapshots := 0
	perRegion := make([]int, len(regions))
	for i := range s.snapshots {
		perRegion[i%len(regions)]++
	}
	for _, n := range perRegion {
		snapshots += pages(n)
	}
	instances := pages(s.instances)
	return roleReads + policies + snapshots + instances + len(regions), fmt.Sprintf("%d role reads + %d policy + %d snapshot + %d instance pages + %d backup policy probes + 0 changes",
		roleReads, policies, snapshots, instances, len(regions))
}

// reconcileRun is one `reconcile --json` of the binary.
type reconcileRun struct {
	duration time.Duration // the reconcile's own duration, from its JSON report
	peak     int64         // peak RSS of the process
	cpu      time.Duration // user + system CPU of the whole process
	calls    Calls
	changes  int
}

// runReconcile execs `reconcile --json` against srv.
func runReconcile(ctx context.Context, bin string, srv *emulator.Server) (reconcileRun, error) {
	srv.ResetStats()
	cmd := exec.CommandContext(ctx, bin, "reconcile", "--json")
	cmd.Env = environ(srv)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return reconcileRun{}, fmt.Errorf("exec %s: %w", bin, err)
	}
	// The peak is sampled from /proc because the child's getrusage ru_maxrss is no use here:
	// Linux records the parent's high-water mark into it when the vfork-style child execs.
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var last int64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if n, err := procStatusBytes(cmd.Process.Pid, "VmHWM"); err == nil {
				last = n
			}
			select {
			case <-done:
				peak <- last
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	r := reconcileRun{peak: <-peak, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if err != nil {
		return reconcileRun{}, fmt.Errorf("reconcile: %w\n%s", err, lastLines(stderr.String(), 10))
	}
	var rep reconcile.JSONReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return reconcileRun{}, fmt.Errorf("reconcile --json: %w", err)
	}
	r.duration, r.calls = time.Duration(rep.DurationMS)*time.Millisecond, callsOf(srv.Stats())
	for _, c := range rep.Changes {
		if c.Writes > 0 {
			r.changes++
		}
	}
	return r, nil
}

// reconcileSpec is the account of the reconcile measures: n snapshots of which one in five is
// tagged for restore (IAM's cap of 4,020 policies per account rules out a policy for each of
// 10,000), and 2 KMS instances.
func reconcileSpec(n int) worldSpec { return worldSpec{snapshots: n, untagged: n - n/5, instances: 2} }

// MeasureReconcile runs the full reconcile of the binary over two converged accounts, small
// and ten times bigger, runs times each, and checks the calls exactly.
func MeasureReconcile(ctx context.Context, b binary, small, big, runs int) []Measure {
	sizes := []int{small, big}
	nameCalls := fmt.Sprintf("reconcile calls, %s and %s snapshots (one in five tagged) with matching policies", count(small), count(big))
	nameScale := fmt.Sprintf("reconcile time(%s) / time(%s)", count(big), count(small))
	namePeak := "reconcile peak memory"
	howCalls := fmt.Sprintf("`reconcile --json` of the binary against an emulator holding N snapshots (2 regions), one in five tagged for restore "+
		"(IAM's cap of 4,020 policies rules out one for each of 10,000), 2 KMS instances and their policies, made beforehand by the project's own reconcile; emulator Stats() total per run, "+
		"asserted equal to the role reads of the start, ⌈items/%d⌉ pages per list, one backup policy probe per region, plus the writes the run reports, every one of %d runs", listPageSize, runs)
	howScale := fmt.Sprintf("duration_ms of the reconcile's JSON report (the run itself: listing, planning, applying; not the process "+
		"start); median of %d runs per size, interleaved; the CPU ratio (user + system time of the whole process, start included) "+
		"is shown because it is less sensitive to other work on the machine", runs)
	howPeak := "VmHWM (peak resident memory) of the reconcile process from /proc/PID/status, read every 2 ms while it runs " +
		"(the last reading); median over the runs"
	fail := func(err error) []Measure {
		return []Measure{failure(nameCalls, targetPages, howCalls, err), failure(nameScale, targetScaling, howScale, err),
			failure(namePeak, targetPeakRSS, howPeak, err)}
	}
	srvs := make([]*emulator.Server, len(sizes))
	for i, n := range sizes {
		spec := reconcileSpec(n)
		w, err := spec.prepared(ctx, 0, 0)
		if err != nil {
			return fail(err)
		}
		if want := spec.policies(); len(w.Policies)+len(w.PoliciesV2) != want {
			return fail(fmt.Errorf("prepared world holds %d policies, want %d", len(w.Policies)+len(w.PoliciesV2), want))
		}
		if srvs[i], err = emulator.Start(w, "127.0.0.1:0"); err != nil {
			return fail(err)
		}
		defer srvs[i].Close()
	}
	durations, cpus := make([][]time.Duration, len(sizes)), make([][]time.Duration, len(sizes))
	peaks := make([][]float64, len(sizes))
	callsOK := true
	var callFigures []string
	for run := range runs {
		for i, n := range sizes {
			r, err := runReconcile(ctx, b.path, srvs[i])
			if err != nil {
				return fail(err)
			}
			want, detail := reconcileSpec(n).expectedCalls()
			ok := r.calls.Total == want+r.changes && r.changes == 0 && r.calls.Writes == 0
			callsOK = callsOK && ok
			if run == 0 || !ok {
				figure := fmt.Sprintf("%s: %d calls, expected %d = %s", count(n), r.calls.Total, want, detail)
				if !ok {
					figure += " (made " + r.calls.String() + ")"
				}
				callFigures = append(callFigures, figure)
			}
			durations[i], cpus[i] = append(durations[i], r.duration), append(cpus[i], r.cpu)
			peaks[i] = append(peaks[i], float64(r.peak))
		}
	}
	smallTime, bigTime := MedianDuration(durations[0]), MedianDuration(durations[1])
	ratio := float64(bigTime) / float64(max(smallTime, time.Millisecond))
	cpuRatio := float64(MedianDuration(cpus[1])) / float64(max(MedianDuration(cpus[0]), time.Millisecond))
	peak := Measure{Name: namePeak, Target: targetPeakRSS, Pass: true, How: howPeak,
		Figure: fmt.Sprintf("%s: %s, %s: %s VmHWM", count(small), mib(int64(Median(peaks[0]))), count(big), mib(int64(Median(peaks[1]))))}
	if Median(peaks[1]) == 0 {
		peak = failure(namePeak, targetPeakRSS, howPeak, errors.New("no VmHWM: /proc/PID/status is Linux only"))
	}
	return []Measure{
		{Name: nameCalls, Target: targetPages, Figure: strings.Join(callFigures, "; "), Pass: callsOK, How: howCalls},
		{Name: nameScale, Target: targetScaling, Pass: ratio <= maxScaling, How: howScale,
			Figure: fmt.Sprintf("%.1f (%s: %s, %s: %s; the processes' CPU time: %.1f×; medians of %d)",
				ratio, count(small), ms(smallTime), count(big), ms(bigTime), cpuRatio, runs)},
		peak,
	}
}

// count renders n with thousands separators: 10,000.
func count(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func lastLines(s string, n int) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
