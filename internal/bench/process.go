package bench

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// Targets of the process measures.
const (
	maxColdStart    = 100 * time.Millisecond
	maxIdleRSS      = 40 << 20
	maxBinarySize   = 30 << 20
	targetColdStart = "median ≤ 100 ms"
	targetIdleRSS   = "≤ 40 MiB"
	targetBinary    = "≤ 30 MiB"
)

// binary is the executable whose start, memory and size are measured.
type binary struct {
	path string
	how  string // how it was built
}

// buildBinary builds the function's binary into dir: the release build (scripts/build.sh, which
// fetches its Go toolchain once) for the full size; for the small size, `go build -ldflags=-s -w`
// with the go command on PATH, whose packages the `go run` of the bench has just compiled, so
// that CI does not compile everything again with another toolchain.
func buildBinary(ctx context.Context, size Size, repo, dir string) (binary, error) {
	out := filepath.Join(dir, "s2s-authorizer")
	var cmd *exec.Cmd
	var how string
	if size == Full {
		cmd = exec.CommandContext(ctx, "bash", filepath.Join("scripts", "build.sh"), out)
		how = "the release build, scripts/build.sh (static, stripped, trimmed)"
	} else {
		cmd = exec.CommandContext(ctx, "go", "build", "-ldflags=-s -w", "-o", out, "./function")
		how = "go build -ldflags='-s -w' with the local toolchain (small size: not the release build)"
	}
	cmd.Dir = repo
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return binary{}, fmt.Errorf("build the binary (%s): %w\n%s", strings.Join(cmd.Args, " "), err, output.String())
	}
	return binary{path: out, how: how}, nil
}

// repoRoot is the module root the bench runs in, where scripts/build.sh and ./function are.
func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the repository (go env GOMOD): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the repository: run the bench from its checkout, or give --binary")
	}
	root := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, "scripts", "build.sh")); err != nil {
		return "", fmt.Errorf("not the s2s-authorizer repository (%s has no scripts/build.sh): run the bench from its checkout, or give --binary", root)
	}
	return root, nil
}

// goVersion is the Go release that built path, "" when unknown.
func goVersion(path string) string {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return ""
	}
	return info.GoVersion
}

// MeasureBinary checks the size of the binary and that it is static and stripped.
func MeasureBinary(b binary) Measure {
	name := "stripped static binary"
	how := "size of the file built by " + b.how + "; static = no ELF interpreter, stripped = no .symtab"
	st, err := os.Stat(b.path)
	if err != nil {
		return failure(name, targetBinary, how, err)
	}
	figure := mib(st.Size())
	var traits []string
	if f, err := elf.Open(b.path); err == nil {
		static, stripped := true, f.Section(".symtab") == nil
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				static = false
			}
		}
		_ = f.Close()
		traits = append(traits, map[bool]string{true: "static", false: "dynamic"}[static], map[bool]string{true: "stripped", false: "not stripped"}[stripped])
	}
	if v := goVersion(b.path); v != "" {
		traits = append(traits, v)
	}
	if len(traits) > 0 {
		figure += " (" + strings.Join(traits, ", ") + ")"
	}
	return Measure{Name: name, Target: targetBinary, Figure: figure, Pass: st.Size() <= maxBinarySize, How: how}
}

// serveProc is a running `serve`.
type serveProc struct {
	cmd    *exec.Cmd
	url    *url.URL
	stderr *tail
	done   chan error
}

// startServe execs `serve` pointed at srv through its environment and returns once /readyz has
// answered 200, with the time from exec to that answer.
func startServe(ctx context.Context, bin string, srv *emulator.Server) (*serveProc, time.Duration, error) {
	cmd := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = environ(srv)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, 0, err
	}
	p := &serveProc{cmd: cmd, stderr: &tail{}, done: make(chan error, 1)}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("exec %s: %w", bin, err)
	}
	// serve logs "listening" once its socket is bound; from then on a connection is accepted,
	// so waiting for that line instead of polling keeps the bench off the CPU the start needs.
	listening := make(chan *url.URL, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			p.stderr.add(line)
			if sent {
				continue
			}
			var entry struct{ Msg, URL string }
			if json.Unmarshal(line, &entry) == nil && entry.Msg == "listening" {
				if u, err := url.Parse(entry.URL); err == nil {
					listening <- u
					sent = true
				}
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
		p.done <- cmd.Wait()
	}()
	select {
	case p.url = <-listening:
	case err := <-p.done:
		return nil, 0, fmt.Errorf("serve exited before listening (%v): %s", err, p.stderr)
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, 0, fmt.Errorf("serve did not listen within 30 s: %s", p.stderr)
	}
	ready := *p.url
	ready.Path = "/readyz"
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		resp, err := client.Get(ready.String())
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, time.Since(start), nil
			}
		}
		if time.Since(start) > 30*time.Second {
			p.stop()
			return nil, 0, fmt.Errorf("serve not ready within 30 s (%v): %s", err, p.stderr)
		}
		time.Sleep(time.Millisecond)
	}
}

// stop sends SIGTERM, as Code Engine does, and waits for the process.
func (p *serveProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// rss is VmRSS of the process from /proc.
func (p *serveProc) rss() (int64, error) {
	return procStatusBytes(p.cmd.Process.Pid, "VmRSS")
}

// procStatusBytes reads one "Name:   123 kB" line of /proc/PID/status.
func procStatusBytes(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the process status (Linux /proc): %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %q: %w", field, line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// MeasureStart starts serve `starts` times against a running emulator, timing exec to the
// first 200 on /readyz; the first `idle` starts are then left idle for a second and their
// resident memory read.
func MeasureStart(ctx context.Context, b binary, starts, idle int) []Measure {
	nameStart, nameIdle := "cold start: exec of serve to first 200 on /readyz", "idle resident memory of serve"
	howStart := fmt.Sprintf("median over %d starts of the binary built by %s, each `serve --listen 127.0.0.1:0` with the environment pointing at "+
		"an emulator already running in the bench (its start not counted, as IBM Cloud is already up for a deployed app); "+
		"the clock starts before exec and stops at the first 200 on /readyz, which needs the first IAM token; SIGTERM after each", starts, b.how)
	howIdle := fmt.Sprintf("VmRSS from /proc/PID/status of serve, 1 s after it first answered /readyz 200, no event handled; median of %d processes", idle)
	fail := func(err error) []Measure {
		return []Measure{failure(nameStart, targetColdStart, howStart, err), failure(nameIdle, targetIdleRSS, howIdle, err)}
	}
	srv, err := emulator.Start(worldSpec{snapshots: 3, instances: 2}.build(), "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	defer srv.Close()
	var times []time.Duration
	var rss []float64
	for i := range starts {
		p, took, err := startServe(ctx, b.path, srv)
		if err != nil {
			return fail(err)
		}
		times = append(times, took)
		if i < idle {
			time.Sleep(time.Second)
			n, err := p.rss()
			if err != nil {
				p.stop()
				return fail(err)
			}
			rss = append(rss, float64(n))
		}
		p.stop()
	}
	median := MedianDuration(times)
	idleRSS := int64(Median(rss))
	return []Measure{
		{Name: nameStart, Target: targetColdStart, Pass: median <= maxColdStart, How: howStart,
			Figure: fmt.Sprintf("median %s (min %s, max %s, %d starts)", ms(median), ms(slices.Min(times)), ms(slices.Max(times)), starts)},
		{Name: nameIdle, Target: targetIdleRSS, Pass: idleRSS <= maxIdleRSS, How: howIdle,
			Figure: fmt.Sprintf("%s VmRSS (median of %d)", mib(idleRSS), idle)},
	}
}

// tail keeps the last lines a child wrote, for error messages.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, string(line))
	if len(t.lines) > 20 {
		t.lines = t.lines[1:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
