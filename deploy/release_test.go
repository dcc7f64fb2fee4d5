//go:build release

// The release build needs Go 1.27.3, which scripts/build.sh fetches (about 76 MB) when the
// installed Go is older, and then compiles the whole binary a second time with it: minutes on a
// fresh machine, for a check that only the release needs. So this test is not part of
// 'go test ./...'; .ci/run runs it after its release build (go test -tags release ./deploy/),
// which makes the build here a cache hit.

package deploy_test

import (
	"debug/buildinfo"
	"debug/elf"
	"go/version"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const minGo = "go1.27.3"

// TestBuildScript builds the release binary as CI does and checks what the release promises:
// the Go version, static linking, stripped symbols, the stamped version.
func TestBuildScript(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	readInputs(t, root, "scripts", "go.mod", "go.sum", "function", "internal")
	const stamp = "v0.0.0-buildtest.1"
	bin := filepath.Join(t.TempDir(), "out", "s2s-authorizer")
	cmd := exec.Command(bashPath(t), filepath.Join(root, "scripts", "build.sh"), bin)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "VERSION="+stamp, "GOOS=linux", "GOARCH="+runtime.GOARCH)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("reading the build information of %s: %v", bin, err)
	}
	if version.Compare(info.GoVersion, minGo) < 0 {
		t.Errorf("built with %s, want %s or newer", info.GoVersion, minGo)
	}
	for _, w := range []string{"output:  " + bin, "bytes", info.GoVersion, stamp} {
		if !strings.Contains(string(out), w) {
			t.Errorf("build.sh output lacks %q:\n%s", w, out)
		}
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	// With -trimpath, Go leaves -ldflags out of the build information; what -s -w do shows in the
	// file instead, and -X in what the binary prints.
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: it is not statically linked", bin)
		}
	}
	if ef.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: not linked with -s", bin)
	}
	if ef.Section(".debug_info") != nil {
		t.Errorf("%s has DWARF data: not linked with -w", bin)
	}

	got, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	if !strings.Contains(string(got), stamp) {
		t.Errorf("%s version printed %q, want %s", bin, got, stamp)
	}
}
