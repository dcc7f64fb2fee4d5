// Package testcorpus gives fuzz tests real shapes to start from: strings quoted in the project's
// recorded events and worlds (testdata/ at the repository root). Test support only.
package testcorpus

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// Quoted returns, once each, the first group of every match of quoted in the files below the
// repository's testdata/, from a package directory root levels below the repository root.
func Quoted(t testing.TB, root string, quoted *regexp.Regexp) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	err := filepath.WalkDir(filepath.Join(root, "testdata"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range quoted.FindAllSubmatch(data, -1) {
			if s := string(m[1]); !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading testdata: %v", err)
	}
	return out
}
