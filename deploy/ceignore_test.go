package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCeignore checks what a Code Engine build from this tree uploads: Code Engine leaves out
// what .ceignore names, in .gitignore syntax, and does not read .dockerignore (Code Engine docs,
// "Building a container image with stand-alone build commands"). git applies the same syntax,
// so git ls-files tells which tracked files would be left out. Everything the Dockerfile's build
// compiles or embeds must be uploaded; the history, the tests, the test data and the
// deployment tooling must not.
func TestCeignore(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	readInputs(t, root, ".ceignore", "Dockerfile")
	patterns, err := os.ReadFile(filepath.Join(root, ".ceignore"))
	if err != nil {
		t.Fatalf(".ceignore: %v (without it, Code Engine uploads the whole tree and .git)", err)
	}
	if !slices.Contains(strings.Split(string(patterns), "\n"), ".git") {
		t.Errorf(".ceignore does not leave out .git")
	}

	ls := exec.Command("git", "ls-files", "--cached", "--ignored", "--exclude-from=.ceignore")
	ls.Dir = root
	out, err := ls.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	ignored := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		ignored[p] = true
	}

	// What the build needs: the Dockerfile's own inputs, and every file of every package of this
	// module that ./function is built from, embedded files included.
	needed := []string{"Dockerfile", "go.mod", "go.sum", "scripts/build.sh"}
	list := exec.Command("go", "list", "-deps", "-json=Dir,Module,GoFiles,EmbedFiles", "./function")
	list.Dir = root
	out, err = list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			Dir        string
			Module     *struct{ Main bool }
			GoFiles    []string
			EmbedFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue // the standard library and downloaded modules
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(needed) < 20 {
		t.Fatalf("found only %d files that the build needs: %v", len(needed), needed)
	}
	for _, f := range needed {
		if ignored[f] {
			t.Errorf(".ceignore leaves out %s, which the build needs", f)
		}
	}
	tracked := exec.Command("git", "ls-files", "--cached")
	tracked.Dir = root
	out, err = tracked.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	unneeded := 0
	for _, f := range strings.Fields(string(out)) {
		if f == "deploy.sh" || strings.HasSuffix(f, "_test.go") || strings.HasPrefix(f, "testdata/") ||
			strings.Contains(f, "/testdata/") || strings.HasPrefix(f, "deploy/") || strings.HasSuffix(f, ".md") {
			unneeded++
			if !ignored[f] {
				t.Errorf(".ceignore uploads %s, which the build does not need", f)
			}
		}
	}
	if unneeded == 0 {
		t.Errorf("git lists no tests, test data or deployment files: is this a git work tree?")
	}
}
