package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// workload is an app or a job as the fake keeps it, and so as Code Engine would run it: the
// settings that all its creates and updates left (see testdata/fake-ibmcloud).
type workload struct {
	settings []string
}

func (f *fake) workload(kind, name string) workload {
	f.t.Helper()
	text := strings.TrimSpace(f.stateFile(kind + "." + name))
	if text == "" {
		return workload{}
	}
	return workload{settings: strings.Split(text, "\n")}
}

func (w workload) has(setting string) bool { return slices.Contains(w.settings, setting) }

// value is the value of a one-value setting ("image", "port", ...), "" when unset.
func (w workload) value(key string) string {
	for _, s := range w.settings {
		if v, ok := strings.CutPrefix(s, key+" "); ok {
			return v
		}
	}
	return ""
}

// all is every value of a repeatable setting ("env", "secret", "argument"), in order.
func (w workload) all(key string) []string {
	var out []string
	for _, s := range w.settings {
		if v, ok := strings.CutPrefix(s, key+" "); ok {
			out = append(out, v)
		}
	}
	return out
}

// env is what the settings put into the process environment, secrets aside.
func (w workload) env() map[string]string {
	env := map[string]string{}
	for _, kv := range w.all("env") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// TestIdentitySwitchCleansUp switches an existing deployment from an API key to a trusted
// profile and back: each time, the app and the job must run as the new identity only. The
// binary takes an API key over a trusted profile when it has both, so a key secret left on the
// app would silently keep the old identity.
func TestIdentitySwitchCleansUp(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	env := map[string]string{"K": "not-a-real-key"}
	apiKey := []string{"--api-key-env", "K", "--image", "icr.io/team/s2s:1"}
	profile := []string{"--trusted-profile", "tp", "--image", "icr.io/team/s2s:1"}

	f.mustRun(env, apiKey...)
	f.calls()
	f.mustRun(nil, profile...)
	f.calls()
	for _, kind := range []struct{ kind, name string }{{"application", appName}, {"job", jobName}} {
		w := f.workload(kind.kind, kind.name)
		if w.has("secret " + credSecret) {
			t.Errorf("after switching to the trusted profile, the %s still reads the API key secret: %q", kind.kind, w.settings)
		}
		if !w.has("trusted true") || w.env()["IBMCLOUD_TRUSTED_PROFILE"] != "tp" {
			t.Errorf("the %s does not run as trusted profile tp: %q", kind.kind, w.settings)
		}
	}
	if f.hasState("secret." + credSecret) {
		t.Errorf("the API key secret is still in the project after switching to the trusted profile")
	}

	f.mustRun(env, apiKey...)
	for _, kind := range []struct{ kind, name string }{{"application", appName}, {"job", jobName}} {
		w := f.workload(kind.kind, kind.name)
		if w.has("trusted true") {
			t.Errorf("after switching back to the API key, the %s still mounts the compute-resource token: %q", kind.kind, w.settings)
		}
		if _, ok := w.env()["IBMCLOUD_TRUSTED_PROFILE"]; ok {
			t.Errorf("after switching back to the API key, the %s still names the trusted profile: %q", kind.kind, w.settings)
		}
		if !w.has("secret " + credSecret) {
			t.Errorf("the %s does not read the API key secret: %q", kind.kind, w.settings)
		}
	}
	if got := f.stateFile("secret." + credSecret); got != "IBMCLOUD_API_KEY=not-a-real-key\n" {
		t.Errorf("the API key secret holds %q", got)
	}

	// Running again as it is changes no identity setting and removes nothing.
	f.calls()
	f.mustRun(env, apiKey...)
	for _, c := range f.calls() {
		if strings.Contains(c, "-rm ") || strings.Contains(c, "=false") || strings.Contains(c, "secret delete") {
			t.Errorf("a run with unchanged options removed something: %s", c)
		}
	}
}

// TestDroppingPublicDropsTheToken deploys with --public, then without: the app must no longer be
// public nor require the event token. The token secret stays for a later --public, so that the
// Event Notifications destinations' token keeps working.
func TestDroppingPublicDropsTheToken(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	args := []string{"--trusted-profile", "tp", "--image", "icr.io/team/s2s:1"}
	f.mustRun(nil, append(slices.Clone(args), "--public")...)
	if w := f.workload("application", appName); !w.has("secret "+tokSecret) || w.value("visibility") != "public" {
		t.Fatalf("--public did not make a public app that requires the token: %q", w.settings)
	}
	token := f.stateFile("secret." + tokSecret)

	f.mustRun(nil, args...)
	for _, kind := range []struct{ kind, name string }{{"application", appName}, {"job", jobName}} {
		if w := f.workload(kind.kind, kind.name); w.has("secret " + tokSecret) {
			t.Errorf("without --public, the %s still requires the event token: %q", kind.kind, w.settings)
		}
	}
	if v := f.workload("application", appName).value("visibility"); v != "project" {
		t.Errorf("without --public, the app's visibility is %q, want project", v)
	}

	f.mustRun(nil, append(slices.Clone(args), "--public")...)
	if got := f.stateFile("secret." + tokSecret); got != token {
		t.Errorf("--public again made a new token: destinations that send the old one would get 401")
	}
}

// TestFailedLookupIsNotMissing makes each look-up fail as it does without network (or with an
// expired login, or a 403): deploy.sh must stop with the CLI's message and exit 1, and never
// take the failure for "missing" and create the resource again.
func TestFailedLookupIsNotMissing(t *testing.T) {
	t.Parallel()
	kafka := []string{"--kafka-brokers", "b0:9093", "--kafka-topic", "at", "--kafka-secret", "es",
		"--setup-routing", "--event-streams-crn", esCRN}
	cases := []struct {
		lookup string
		// What must not be called after the failed look-up.
		never string
	}{
		{"ce project get", "ce project create"},
		{"ce secret get --name " + tokSecret, "ce secret create --name " + tokSecret},
		{"iam trusted-profile tp", "iam trusted-profile-create"},
		{"iam trusted-profile-links tp", "iam trusted-profile-link-create"},
		{"ce application get", "ce application create"},
		{"ce job get", "ce job create"},
		{"ce subscription cron get", "ce subscription cron create"},
		{"ce subscription kafka get", "ce subscription kafka create"},
		{"atracker target get", "atracker target create"},
		{"atracker route get", "atracker route create"},
	}
	for _, c := range cases {
		t.Run(c.lookup, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			// The token secret is looked up only with --public, which excludes a Kafka subscription.
			args := []string{"--trusted-profile", "tp", "--image", "icr.io/team/s2s:1"}
			if strings.Contains(c.lookup, tokSecret) {
				args = append(args, "--public")
			} else {
				args = append(args, kafka...)
			}
			// A first run makes everything, so that every look-up has something to find.
			f.mustRun(nil, args...)
			f.calls()
			for _, st := range []string{"project.s2s-authorizer", "trusted-profile.tp"} {
				if !f.hasState(st) {
					t.Fatalf("the first run did not make %s", st)
				}
			}
			// Now the resources exist, but the look-up fails: nothing may be created again.
			res := f.run(map[string]string{"FAKE_IBMCLOUD_FAIL_LOOKUP": c.lookup}, args...)
			if res.code != 1 {
				t.Errorf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
			}
			if !strings.Contains(res.stderr, "i/o timeout") {
				t.Errorf("stderr does not pass on the CLI's message:\n%s", res.stderr)
			}
			if !strings.Contains(res.stderr, "could not") {
				t.Errorf("stderr does not say that a look-up failed:\n%s", res.stderr)
			}
			for _, call := range f.calls() {
				if strings.HasPrefix(call, c.never) {
					t.Errorf("after the failed look-up, deploy.sh called %s", call)
				}
			}
		})
	}
}

// TestNotFoundIsMissing: the same look-ups answering "not found" lead to a create, as on a
// first deploy (the fake answers like the CLI's plugins do).
func TestNotFoundIsMissing(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	res := f.mustRun(nil, "--trusted-profile", "tp", "--image", "icr.io/team/s2s:1")
	if strings.Contains(res.stderr, "could not look up") {
		t.Errorf("a not-found answer was taken for a failure:\n%s", res.stderr)
	}
	calls := f.calls()
	for _, want := range []string{"ce project create", "iam trusted-profile-create tp", "ce application create", "ce job create"} {
		callWith(t, calls, want)
	}
}

// TestJobIsNotRerun: Code Engine reruns a job run on any non-zero exit, 3 times unless told
// otherwise; exit 2 (bad configuration or input) cannot get better by rerunning.
func TestJobIsNotRerun(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for run := 1; run <= 2; run++ {
		f.mustRun(nil, "--trusted-profile", "tp", "--image", "icr.io/team/s2s:1")
		if got := f.workload("job", jobName).value("retrylimit"); got != "0" {
			t.Errorf("run %d: the job's retry limit is %q, want 0", run, got)
		}
	}
}

// TestOneImageForAppAndJob deploys from source: one build run per deploy, of size large, and the
// app and the job both run its image.
func TestOneImageForAppAndJob(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for run := 1; run <= 2; run++ {
		f.mustRun(nil, "--trusted-profile", "tp")
		var builds []string
		for _, c := range f.calls() {
			if strings.HasPrefix(c, "ce buildrun submit") {
				builds = append(builds, c)
			}
		}
		if len(builds) != 1 {
			t.Fatalf("run %d: %d build runs, want 1:\n  %s", run, len(builds), strings.Join(builds, "\n  "))
		}
		name := buildRunName.FindString(builds[0])
		if name == "" || !strings.HasPrefix(builds[0], "ce buildrun submit --name "+name+" ") {
			t.Errorf("run %d: build run not named like %s: %s", run, buildRunName, builds[0])
		}
		if m := missingArgs(builds[0], []string{"--size large", "--strategy dockerfile", "--source " + f.root, "--wait"}); len(m) > 0 {
			t.Errorf("run %d: build run lacks %q: %s", run, m, builds[0])
		}
		want := "private.us.icr.io/ce--fake/buildrun-" + name
		for _, kind := range []struct{ kind, name string }{{"application", appName}, {"job", jobName}} {
			w := f.workload(kind.kind, kind.name)
			if w.value("image") != want || w.value("registry-secret") != "ce-auto-icr-private-us-south" {
				t.Errorf("run %d: the %s runs %q (registry secret %q), want the build's %s", run, kind.kind,
					w.value("image"), w.value("registry-secret"), want)
			}
		}
	}
	// The build's name ends in a letter, as Code Engine requires.
	entries, err := os.ReadDir(f.state)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n, ok := strings.CutPrefix(e.Name(), "buildrun."); ok && !strings.HasSuffix(n, "-build") {
			t.Errorf("build run %s does not end in a letter", filepath.Base(n))
		}
	}
}
