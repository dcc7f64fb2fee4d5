// Package readme_test runs the commands of the README as a newcomer would, so that the README
// cannot rot: every ```sh block must carry a marker comment on the line before it:
//
//	<!-- test -->             run it with bash from the repository root; it must exit 0
//	<!-- test: background --> start it and leave it running for the blocks after it
//	<!-- test: ci -->         .ci/run must run exactly this text: the test command itself, and
//	                          the release build, which fetches Go 1.27.3 and compiles the
//	                          binary a second time (minutes that 'go test' must not take)
//
// ibmcloud is the fake that deploy.sh's tests use, so deploy commands run without an account.
// The Go commands run with the test's own race setting (GOFLAGS), so that 'go run' finds every
// package in the build cache that 'go test -race ./...' has filled instead of compiling the
// whole tree again without the race detector.
package readme_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type block struct {
	marker string
	line   int
	script string
}

func blocks(t *testing.T, readme string) []block {
	t.Helper()
	var out []block
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" {
			continue
		}
		marker := ""
		if i > 0 {
			prev := strings.TrimSpace(lines[i-1])
			if m, ok := strings.CutPrefix(prev, "<!-- "); ok {
				marker = strings.TrimSpace(strings.TrimSuffix(m, "-->"))
			}
		}
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
		}
		out = append(out, block{marker: marker, line: start, script: strings.Join(lines[start:i], "\n")})
	}
	return out
}

func TestREADMECommands(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	env := fakeIBMCloud(t, root)
	bs := blocks(t, string(readme))
	if len(bs) == 0 {
		t.Fatal("the README has no commands")
	}
	var background []*exec.Cmd
	defer func() {
		for _, cmd := range background {
			stop(cmd)
		}
	}()
	for _, b := range bs {
		switch b.marker {
		case "test: ci":
			if !bytes.Contains(ci, []byte(b.script)) {
				t.Errorf("README line %d: .ci/run does not run %q", b.line, b.script)
			}
		case "test: background":
			cmd := command(context.Background(), root, env, b.script)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatalf("README line %d: %v", b.line, err)
			}
			background = append(background, cmd)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("background command of README line %d printed:\n%s", b.line, out.String())
				}
			})
		case "test":
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			out, err := command(ctx, root, env, b.script).CombinedOutput()
			cancel()
			if err != nil {
				t.Errorf("README line %d failed: %v\n%s\n---\n%s", b.line, err, b.script, out)
			}
		default:
			t.Errorf("README line %d: a command block without a test marker (<!-- test -->)", b.line)
		}
	}
}

func command(ctx context.Context, dir string, env []string, script string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// stop interrupts a background command's whole process group (go run and the program it
// started), as Ctrl-C would, and kills what is left after a grace period.
func stop(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// fakeIBMCloud puts deploy.sh's fake ibmcloud first on PATH, with its own log and state.
func fakeIBMCloud(t *testing.T, root string) []string {
	t.Helper()
	bin := t.TempDir()
	if err := os.Symlink(filepath.Join(root, "deploy", "testdata", "fake-ibmcloud"), filepath.Join(bin, "ibmcloud")); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FAKE_IBMCLOUD_LOG=" + filepath.Join(t.TempDir(), "calls.log"), "FAKE_IBMCLOUD_STATE=" + t.TempDir()}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		// Keep what Go and the shell need; drop anything that would configure the function.
		if name != "PATH" && name != "GOFLAGS" && !strings.HasPrefix(name, "IBMCLOUD_") && !strings.HasPrefix(name, "RESTORE_") &&
			!strings.HasPrefix(name, "KMS_") && name != "EVENT_AUTH_TOKEN" && name != "DRY_RUN" {
			env = append(env, kv)
		}
	}
	return append(env, "GOFLAGS="+goflags(t))
}

// goflags is the go command's GOFLAGS (environment or go env file), plus -race when this test
// runs with the race detector.
func goflags(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOFLAGS").Output()
	if err != nil {
		t.Fatalf("go env GOFLAGS: %v", err)
	}
	flags := strings.TrimSpace(string(out))
	if raceEnabled {
		flags = strings.TrimSpace(flags + " -race")
	}
	return flags
}
