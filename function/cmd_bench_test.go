package main

import (
	"context"
	"strings"
	"testing"
)

// TestBenchUsage checks the bench's usage errors: they exit 2 before anything is built or run.
func TestBenchUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"bench", "--size", "medium"}, want: `size "medium": want small or full`},
		{args: []string{"bench", "--size"}, want: "flag needs an argument: -size"},
		{args: []string{"bench", "extra"}, want: "unexpected arguments: extra"},
		{args: []string{"bench", "--no-such-flag"}, want: "usage: s2s-authorizer bench [--size small|full]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := run(t, context.Background(), map[string]string{}, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want 2; stderr:\n%s%s\nwant it to contain %q", code, stdout, stderr, tt.want)
			}
			if strings.Contains(stderr, "bench: building") {
				t.Error("a usage error started the bench")
			}
		})
	}
}
