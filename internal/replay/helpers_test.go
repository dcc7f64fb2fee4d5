package replay_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/replay"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// The sample world's objects, as the corpus uses them.
const (
	readerRole   = "crn:v1:bluemix:public:iam::::serviceRole:Reader"
	restorerRole = "crn:v1:bluemix:public:iam::::role:SnapshotRemoteAccountRestorer"
)

// envConfig is the configuration a user's environment gives: the defaults, Restorer allowed.
func envConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.FromEnv(func(name string) (string, bool) {
		if name == "RESTORE_ALLOWED_ACCOUNTS" {
			return te.Restorer, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// replayIn runs a replay with fast retries and fails the test when the target is unusable.
func replayIn(t *testing.T, o replay.Options) *replay.Report {
	t.Helper()
	if o.Mode == "" {
		o.Mode = replay.Emulator
	}
	if len(o.Config.Regions) == 0 {
		o.Config = envConfig(t)
	}
	o.IBM = te.FastOptions()
	rep, err := replay.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func text(rep *replay.Report) string {
	var b bytes.Buffer
	rep.WriteText(&b)
	return b.String()
}

// writeFiles writes name → content under a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// events are the results of every event step, in order.
func events(rep *replay.Report) []replay.Step {
	var out []replay.Step
	for _, run := range rep.Runs {
		for _, st := range run.Steps {
			if st.Result != nil {
				out = append(out, st)
			}
		}
	}
	return out
}

func outcomes(rep *replay.Report) []string {
	var out []string
	for _, st := range events(rep) {
		out = append(out, string(st.Result.Outcome))
	}
	return out
}
