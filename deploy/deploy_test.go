// Tests of deploy.sh against a fake ibmcloud (testdata/fake-ibmcloud) that records every call
// and keeps the resources it was asked to create, of what it deploys running against the
// emulator, and of scripts/build.sh (its release build end to end: release_test.go, run by
// .ci/run).
package deploy_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	appName    = "s2s-authorizer"
	jobName    = "s2s-authorizer-reconcile"
	cronSub    = "s2s-authorizer-daily-reconcile"
	kafkaSub   = "s2s-authorizer-activity-events"
	credSecret = "s2s-authorizer-credentials"
	tokSecret  = "s2s-authorizer-event-token"
	kafkaSec   = "s2s-authorizer-kafka"
	routing    = "s2s-authorizer-activity-events"
	esCRN      = "crn:v1:bluemix:public:messagehub:us-south:a/0123456789abcdef0123456789abcdef:aaaabbbb-cccc-dddd-eeee-ffff00001111::"
)

// buildRunName is how deploy.sh names its build runs: Code Engine wants names that begin and
// end with a lowercase letter, unique in the project.
var buildRunName = regexp.MustCompile(`s2s-authorizer-[0-9]{8}-[0-9]{6}-[0-9]+-build`)

// repoRoot is the repository root: go test runs the package in deploy/.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// readInputs reads the files that the scripts under test read, so that go test's result cache
// (which sees only what the test process itself opens) is invalidated when they change.
func readInputs(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		err := filepath.WalkDir(filepath.Join(root, p), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = os.ReadFile(path)
			return err
		})
		if err != nil {
			t.Fatalf("reading the inputs of the test: %v", err)
		}
	}
}

func bashPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash not found on PATH")
	}
	return p
}

// fake is one isolated world: a PATH with the fake ibmcloud first, its log and its state.
type fake struct {
	t     *testing.T
	root  string
	bin   string
	log   string
	state string
	tmp   string
	path  string
}

func newFake(t *testing.T) *fake {
	t.Helper()
	dir := t.TempDir()
	root := repoRoot(t)
	readInputs(t, root, "deploy.sh", "Dockerfile", filepath.Join("deploy", "testdata"))
	f := &fake{
		t:     t,
		root:  root,
		bin:   filepath.Join(dir, "bin"),
		log:   filepath.Join(dir, "calls.log"),
		state: filepath.Join(dir, "state"),
		tmp:   filepath.Join(dir, "tmp"),
	}
	for _, d := range []string{f.bin, f.state, f.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := os.ReadFile(filepath.Join(f.root, "deploy", "testdata", "fake-ibmcloud"))
	if err != nil {
		t.Fatal(err)
	}
	// A copy, so that the executable bit does not depend on how the file was checked out.
	if err := os.WriteFile(filepath.Join(f.bin, "ibmcloud"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	f.path = f.bin + string(os.PathListSeparator) + os.Getenv("PATH")
	return f
}

type result struct {
	code   int
	stdout string
	stderr string
}

// run runs deploy.sh with a clean environment (so that the developer's IBMCLOUD_* variables
// cannot change the commands), the given variables, and no terminal on standard input.
func (f *fake) run(env map[string]string, args ...string) result {
	f.t.Helper()
	cmd := exec.Command(bashPath(f.t), append([]string{filepath.Join(f.root, "deploy.sh")}, args...)...)
	cmd.Dir = f.tmp
	cmd.Env = []string{
		"PATH=" + f.path,
		"HOME=" + f.tmp,
		"TMPDIR=" + f.tmp,
		"LC_ALL=C",
		"FAKE_IBMCLOUD_LOG=" + f.log,
		"FAKE_IBMCLOUD_STATE=" + f.state,
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		f.t.Fatalf("running deploy.sh: %v", err)
	}
	return res
}

// mustRun runs deploy.sh and fails the test unless it exits 0.
func (f *fake) mustRun(env map[string]string, args ...string) result {
	f.t.Helper()
	res := f.run(env, args...)
	if res.code != 0 {
		f.t.Fatalf("deploy.sh %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res
}

// calls returns the fake's log, one call per element, and empties it for the next run.
func (f *fake) calls() []string {
	f.t.Helper()
	data, err := os.ReadFile(f.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.Remove(f.log); err != nil {
		f.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func (f *fake) hasState(name string) bool {
	_, err := os.Stat(filepath.Join(f.state, name))
	return err == nil
}

func (f *fake) stateFile(name string) string {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join(f.state, name))
	if err != nil {
		f.t.Fatalf("the fake holds no %s: %v", name, err)
	}
	return string(data)
}

// isMutation tells a call that changes something (in the cloud, or the CLI's target) from a
// look-up.
func isMutation(call string) bool {
	w := strings.Fields(call)
	if len(w) > 1 && w[0] == "target" {
		return true
	}
	for _, x := range w {
		switch x {
		case "create", "update", "delete", "rm", "select", "submit":
			return true
		}
		if strings.HasSuffix(x, "-create") || strings.HasSuffix(x, "-update") || strings.HasSuffix(x, "-delete") {
			return true
		}
	}
	return false
}

func mutations(calls []string) []string {
	var out []string
	for _, c := range calls {
		if isMutation(c) {
			out = append(out, c)
		}
	}
	return out
}

// checkMutations compares the changing calls with want, each a prefix of the call in that place.
func checkMutations(t *testing.T, calls, want []string) {
	t.Helper()
	got := mutations(calls)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("changing calls:\n  %s\nwant (prefixes):\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// callWith returns the one call that starts with prefix.
func callWith(t *testing.T, calls []string, prefix string) string {
	t.Helper()
	var found []string
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one call starting %q, got %d:\n  %s", prefix, len(found), strings.Join(calls, "\n  "))
	}
	return found[0]
}

// hasArgs reports the wanted argument sequences missing from a call.
func missingArgs(call string, want []string) []string {
	var missing []string
	for _, w := range want {
		if !strings.Contains(call+" ", " "+w+" ") {
			missing = append(missing, w)
		}
	}
	return missing
}

func randomSecret(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// deployCase is one way of deploying, run twice: the first run creates, the second updates.
type deployCase struct {
	name string
	args []string
	env  map[string]string
	// Prefixes of the changing calls of the first and of the second run, in order.
	first, second []string
	// Argument sequences that the call starting with the key must hold (first run).
	args1 map[string][]string
	// Argument sequences that the call starting with the key must not hold (first run).
	notArgs1 map[string][]string
	// Text that the first run's output must hold, and must not hold.
	out1, notOut1 []string
}

func deployCases(root string) []deployCase {
	return []deployCase{
		{
			name: "trusted profile and image",
			args: []string{"--trusted-profile", "tp-s2s", "--image", "icr.io/team/s2s-authorizer:1.0.0", "--registry-secret", "icr-pull"},
			first: []string{
				"target -r us-south -g Default",
				"ce project create --name s2s-authorizer",
				"iam trusted-profile-create tp-s2s",
				"iam trusted-profile-link-create tp-s2s --name ce-application-s2s-authorizer",
				"iam trusted-profile-link-create tp-s2s --name ce-job-s2s-authorizer-reconcile",
				"ce application create --name " + appName,
				"ce job create --name " + jobName,
				"ce subscription cron create --name " + cronSub,
			},
			second: []string{
				"target -r us-south -g Default",
				"ce project select --name s2s-authorizer",
				"ce application update --name " + appName,
				"ce job update --name " + jobName,
				"ce subscription cron update --name " + cronSub,
			},
			args1: map[string][]string{
				"ce application create": {
					"--image icr.io/team/s2s-authorizer:1.0.0", "--registry-secret icr-pull",
					"--trusted-profiles-enabled", "--env IBMCLOUD_TRUSTED_PROFILE=tp-s2s",
					"--port 8080", "--min-scale 0", "--max-scale 3", "--visibility project",
				},
				"ce job create": {
					"--image icr.io/team/s2s-authorizer:1.0.0", "--registry-secret icr-pull",
					"--trusted-profiles-enabled", "--env IBMCLOUD_TRUSTED_PROFILE=tp-s2s", "--argument job",
					"--retrylimit 0",
				},
				"ce subscription cron create": {
					"--destination " + jobName, "--destination-type job", "--schedule 0 3 * * *",
				},
				"iam trusted-profile-link-create tp-s2s --name ce-application": {
					"--cr-type CE", "--link-component-type application", "--link-component-name " + appName,
					"--link-crn crn:v1:bluemix:public:codeengine:us-south:a/0123456789abcdef0123456789abcdef:11111111-2222-3333-4444-555555555555::",
				},
				"iam trusted-profile-link-create tp-s2s --name ce-job": {
					"--cr-type CE", "--link-component-type job", "--link-component-name " + jobName,
				},
			},
			notArgs1: map[string][]string{
				"ce application create": {"--env-from-secret " + credSecret, "--build-source", "--argument"},
			},
			out1: []string{
				"ibmcloud iam trusted-profile-policy-create tp-s2s --roles Administrator,Reader --service-name kms",
				"ibmcloud iam trusted-profile-policy-create tp-s2s --roles Administrator,Reader --service-name hs-crypto",
				"ibmcloud iam trusted-profile-policy-create tp-s2s --roles Viewer --service-name is --attributes 'snapshotId=*'",
				"ibmcloud iam trusted-profile-policy-create tp-s2s --roles Viewer --resource-type resource-group",
				"No Kafka subscription",
			},
		},
		{
			name: "API key, build from source, public, own project",
			args: []string{
				"--api-key-env", "TEST_API_KEY", "--project", "authz", "--region", "eu-de",
				"--resource-group", "security", "--public", "--schedule", "15 1 * * 0", "--max-scale", "2",
			},
			env: map[string]string{"TEST_API_KEY": "not-a-real-key", "IBMCLOUD_ACCOUNT_ID": "0123456789abcdef0123456789abcdef"},
			first: []string{
				"target -r eu-de -g security",
				"ce project create --name authz",
				"ce secret create --name " + credSecret,
				"ce secret create --name " + tokSecret,
				"ce buildrun submit --name s2s-authorizer-",
				"ce application create --name " + appName,
				"ce job create --name " + jobName,
				"ce subscription cron create --name " + cronSub,
			},
			// The event token is kept; the API key may have been rotated, so it is written again.
			// Each deploy builds the tree once.
			second: []string{
				"target -r eu-de -g security",
				"ce project select --name authz",
				"ce secret update --name " + credSecret,
				"ce buildrun submit --name s2s-authorizer-",
				"ce application update --name " + appName,
				"ce job update --name " + jobName,
				"ce subscription cron update --name " + cronSub,
			},
			args1: map[string][]string{
				"ce buildrun submit": {
					"--source " + root, "--strategy dockerfile", "--size large", "--wait",
				},
				"ce application create": {
					"--registry-secret ce-auto-icr-private-us-south",
					"--env-from-secret " + credSecret, "--env-from-secret " + tokSecret,
					"--env IBMCLOUD_ACCOUNT_ID=0123456789abcdef0123456789abcdef",
					"--min-scale 0", "--max-scale 2", "--visibility public",
				},
				"ce job create": {
					"--registry-secret ce-auto-icr-private-us-south", "--env-from-secret " + credSecret,
					"--argument job", "--retrylimit 0",
				},
				"ce subscription cron create": {"--schedule 15 1 * * 0", "--destination-type job"},
			},
			notArgs1: map[string][]string{
				"ce application create": {"--trusted-profiles-enabled", "--visibility project", "--build-source"},
				"ce job create":         {"--trusted-profiles-enabled", "--build-source"},
			},
			out1: []string{
				"ibmcloud iam service-policy-create '<SERVICE_ID>' --roles Administrator,Reader --service-name kms",
				"ibmcloud ce secret get --name " + tokSecret + " --decode",
			},
			notOut1: []string{"--service-name iam-identity"},
		},
		{
			name: "Kafka subscription, routing printed",
			args: []string{
				"--trusted-profile", "tp-s2s", "--image", "icr.io/team/s2s-authorizer:1.0.0",
				"--kafka-brokers", "broker-0:9093,broker-1:9093", "--kafka-topic", "at-events",
			},
			env: map[string]string{"KAFKA_PASSWORD": "not-a-real-password", "IBMCLOUD_REGIONS": "us-south,eu-de"},
			first: []string{
				"target -r us-south -g Default",
				"ce project create --name s2s-authorizer",
				"ce secret create --name " + kafkaSec,
				"iam trusted-profile-create tp-s2s",
				"iam trusted-profile-link-create tp-s2s --name ce-application",
				"iam trusted-profile-link-create tp-s2s --name ce-job",
				"ce application create --name " + appName,
				"ce job create --name " + jobName,
				"ce subscription cron create --name " + cronSub,
				"ce subscription kafka create --name " + kafkaSub,
			},
			second: []string{
				"target -r us-south -g Default",
				"ce project select --name s2s-authorizer",
				"ce secret update --name " + kafkaSec,
				"ce application update --name " + appName,
				"ce job update --name " + jobName,
				"ce subscription cron update --name " + cronSub,
				"ce subscription kafka update --name " + kafkaSub,
			},
			args1: map[string][]string{
				"ce subscription kafka create": {
					"--destination " + appName, "--destination-type app", "--secret " + kafkaSec,
					"--topic at-events", "--broker broker-0:9093", "--broker broker-1:9093",
				},
				"ce application create": {"--visibility project", "--env IBMCLOUD_REGIONS=us-south,eu-de"},
			},
			out1: []string{
				"ibmcloud atracker target create --name " + routing + " --type event_streams",
				"--brokers broker-0:9093,broker-1:9093 --topic at-events --service-to-service-enabled TRUE",
				"ibmcloud atracker route create --name " + routing,
				"--locations us-south,eu-de,global",
				"ibmcloud iam authorization-policy-create atracker messagehub Writer",
			},
		},
		{
			name: "Kafka with its own secret and routing set up",
			args: []string{
				"--trusted-profile", "tp-s2s", "--image", "icr.io/team/s2s-authorizer:1.0.0",
				"--kafka-brokers", "broker-0:9093", "--kafka-topic", "at-events", "--kafka-secret", "es-creds",
				"--setup-routing", "--event-streams-crn", esCRN,
			},
			first: []string{
				"target -r us-south -g Default",
				"ce project create --name s2s-authorizer",
				"iam trusted-profile-create tp-s2s",
				"iam trusted-profile-link-create tp-s2s --name ce-application",
				"iam trusted-profile-link-create tp-s2s --name ce-job",
				"ce application create --name " + appName,
				"ce job create --name " + jobName,
				"ce subscription cron create --name " + cronSub,
				"ce subscription kafka create --name " + kafkaSub,
				"iam authorization-policy-create atracker messagehub Writer --target-service-instance-id aaaabbbb-cccc-dddd-eeee-ffff00001111",
				"atracker target create --name " + routing + " --type event_streams",
				"atracker route create --name " + routing + " --target-ids fake-target-id --locations us-south,global",
			},
			// The authorization exists (the fake answers 409, which counts as done).
			second: []string{
				"target -r us-south -g Default",
				"ce project select --name s2s-authorizer",
				"ce application update --name " + appName,
				"ce job update --name " + jobName,
				"ce subscription cron update --name " + cronSub,
				"ce subscription kafka update --name " + kafkaSub,
				"iam authorization-policy-create atracker messagehub Writer",
				"atracker target update --target " + routing,
				"atracker route update --route " + routing + " --target-ids fake-target-id --locations us-south,global --force",
			},
			args1: map[string][]string{
				"ce subscription kafka create": {"--secret es-creds"},
				"atracker target create":       {"--target-crn " + esCRN, "--brokers broker-0:9093", "--topic at-events", "--service-to-service-enabled TRUE"},
			},
			// Set up, so not printed as steps to take.
			notOut1: []string{"Activity Tracker Event Routing must write to topic"},
		},
	}
}

func TestDeployCreatesThenUpdates(t *testing.T) {
	t.Parallel()
	for _, c := range deployCases(repoRoot(t)) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			res := f.mustRun(c.env, c.args...)
			calls := f.calls()
			t.Run("first run creates", func(t *testing.T) {
				checkMutations(t, calls, c.first)
				for prefix, want := range c.args1 {
					if m := missingArgs(callWith(t, calls, prefix), want); len(m) > 0 {
						t.Errorf("%s…: missing %q", prefix, m)
					}
				}
				for prefix, unwanted := range c.notArgs1 {
					call := callWith(t, calls, prefix)
					for _, u := range unwanted {
						if strings.Contains(call, u) {
							t.Errorf("%s…: holds %q: %s", prefix, u, call)
						}
					}
				}
				for _, w := range c.out1 {
					if !strings.Contains(res.stdout, w) {
						t.Errorf("output lacks %q:\n%s", w, res.stdout)
					}
				}
				for _, w := range c.notOut1 {
					if strings.Contains(res.stdout, w) {
						t.Errorf("output holds %q:\n%s", w, res.stdout)
					}
				}
			})
			f.mustRun(c.env, c.args...)
			t.Run("second run updates", func(t *testing.T) {
				checkMutations(t, f.calls(), c.second)
			})
		})
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	key := randomSecret(t, "dry-run-key-")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		// Lines that the plan must print, exactly.
		want []string
	}{
		{
			name: "deploy with API key",
			args: []string{"--dry-run", "--api-key-env", "K", "--image", "icr.io/team/s2s:1", "--setup-routing",
				"--kafka-brokers", "b0:9093", "--kafka-topic", "at", "--kafka-secret", "es", "--event-streams-crn", esCRN},
			env: map[string]string{"K": key},
			want: []string{
				"+ ibmcloud target -r us-south -g Default",
				"+ ibmcloud ce project create --name s2s-authorizer",
				"+ ibmcloud ce application create --name s2s-authorizer --image icr.io/team/s2s:1 --env-from-secret s2s-authorizer-credentials --port 8080 --min-scale 0 --max-scale 3 --visibility project",
				"+ ibmcloud ce job create --name s2s-authorizer-reconcile --image icr.io/team/s2s:1 --env-from-secret s2s-authorizer-credentials --argument job --retrylimit 0",
				`+ ibmcloud ce subscription cron create --name s2s-authorizer-daily-reconcile --destination s2s-authorizer-reconcile --destination-type job --schedule '0 3 * * *' --data '{"reconcile":"all"}'`,
				"+ ibmcloud ce subscription kafka create --name s2s-authorizer-activity-events --destination s2s-authorizer --destination-type app --secret es --topic at --broker b0:9093",
				"+ ibmcloud atracker target create --name s2s-authorizer-activity-events --type event_streams --target-crn " + esCRN + " --brokers b0:9093 --topic at --service-to-service-enabled TRUE",
				"+ ibmcloud atracker route create --name s2s-authorizer-activity-events --target-ids '<ID of target s2s-authorizer-activity-events>' --locations us-south,global",
			},
		},
		{
			name: "deploy with trusted profile, built from source",
			args: []string{"--dry-run", "--trusted-profile", "tp"},
			want: []string{
				"+ ibmcloud ce application create --name s2s-authorizer --image '<image of build run s2s-authorizer-…-build>' --registry-secret '<registry secret of build run s2s-authorizer-…-build>' --trusted-profiles-enabled --env IBMCLOUD_TRUSTED_PROFILE=tp --port 8080 --min-scale 0 --max-scale 3 --visibility project",
				"+ ibmcloud iam trusted-profile-create tp -d 'Runs s2s-authorizer in Code Engine'",
				"+ ibmcloud iam trusted-profile-link-create tp --name ce-application-s2s-authorizer --cr-type CE --link-crn '<CRN of project s2s-authorizer>' --link-component-type application --link-component-name s2s-authorizer",
			},
		},
		{
			name: "delete",
			args: []string{"--dry-run", "--delete", "--delete-project"},
			want: []string{
				"+ ibmcloud ce project select --name s2s-authorizer",
				"+ ibmcloud ce subscription kafka delete --name s2s-authorizer-activity-events --force",
				"+ ibmcloud ce subscription cron delete --name s2s-authorizer-daily-reconcile --force",
				"+ ibmcloud ce application delete --name s2s-authorizer --force",
				"+ ibmcloud ce job delete --name s2s-authorizer-reconcile --force",
				"+ ibmcloud ce secret delete --name s2s-authorizer-credentials --force",
				"+ ibmcloud ce project delete --name s2s-authorizer --force",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			res := f.mustRun(c.env, c.args...)
			calls := f.calls()
			if m := mutations(calls); len(m) > 0 {
				t.Errorf("a dry run changed something:\n  %s", strings.Join(m, "\n  "))
			}
			// Documented: a dry run does not even look anything up.
			if len(calls) > 0 {
				t.Errorf("a dry run called ibmcloud:\n  %s", strings.Join(calls, "\n  "))
			}
			// Build run names carry the time and a random number.
			plan := buildRunName.ReplaceAllString(res.stdout, "s2s-authorizer-…-build")
			lines := strings.Split(plan, "\n")
			for _, w := range c.want {
				if !slices.Contains(lines, w) {
					t.Errorf("the plan lacks the line\n  %s\nplan:\n%s", w, res.stdout)
				}
			}
			if strings.Contains(res.stdout+res.stderr, key) {
				t.Errorf("the dry run printed the API key")
			}
			if entries, _ := os.ReadDir(f.state); len(entries) > 0 {
				t.Errorf("the dry run left state: %v", entries)
			}
		})
	}
}

// TestDryRunQuoting reads the printed plan back with bash: each command must come back as the
// same words, a schedule with spaces as one.
func TestDryRunQuoting(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	res := f.mustRun(map[string]string{"LOG_LEVEL": `it's "debug" $HOME`}, "--dry-run", "--trusted-profile", "tp", "--schedule", "*/30 * * * 1-5")
	var plan []string
	for _, l := range strings.Split(res.stdout, "\n") {
		if rest, ok := strings.CutPrefix(l, "+ "); ok {
			plan = append(plan, rest)
		}
	}
	if len(plan) == 0 {
		t.Fatalf("no '+ ' lines in:\n%s", res.stdout)
	}
	script := "ibmcloud() { printf '<%s>' \"$@\"; printf '\\n'; }\n" + strings.Join(plan, "\n") + "\n"
	out, err := exec.Command(bashPath(t), "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash could not read the plan back: %v\n%s", err, out)
	}
	for _, w := range []string{"<--schedule><*/30 * * * 1-5>", `<--env><LOG_LEVEL=it's "debug" $HOME>`} {
		if !strings.Contains(string(out), w) {
			t.Errorf("read back, the plan lacks %s:\n%s", w, out)
		}
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	// Public first (the event token secret), then with Kafka, which a public app cannot have.
	deployArgs := [][]string{
		{"--api-key-env", "K", "--image", "icr.io/team/s2s:1", "--public"},
		{"--api-key-env", "K", "--image", "icr.io/team/s2s:1", "--kafka-brokers", "b0:9093", "--kafka-topic", "at"},
	}
	deployEnv := map[string]string{"K": "not-a-real-key", "KAFKA_PASSWORD": "not-a-real-password"}
	deletes := []string{
		"target -r us-south -g Default",
		"ce project select --name s2s-authorizer",
		"ce subscription kafka delete --name " + kafkaSub,
		"ce subscription cron delete --name " + cronSub,
		"ce application delete --name " + appName,
		"ce job delete --name " + jobName,
		"ce secret delete --name " + credSecret,
		"ce secret delete --name " + tokSecret,
		"ce secret delete --name " + kafkaSec,
	}
	cases := []struct {
		name string
		args []string
		want []string
		// State that must be left.
		kept []string
	}{
		{
			name: "keeps the project",
			args: []string{"--delete", "--yes"},
			want: deletes,
			kept: []string{"project.s2s-authorizer", "secret.user-owned"},
		},
		{
			name: "deletes the project",
			args: []string{"--delete", "--yes", "--delete-project"},
			want: append(slices.Clone(deletes), "ce project delete --name s2s-authorizer"),
			kept: []string{"secret.user-owned"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			for _, args := range deployArgs {
				f.mustRun(deployEnv, args...)
			}
			// A secret the script did not make must survive.
			if err := os.WriteFile(filepath.Join(f.state, "secret.user-owned"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			f.calls()
			f.mustRun(nil, c.args...)
			calls := f.calls()
			checkMutations(t, calls, c.want)
			for _, gone := range []string{"application." + appName, "job." + jobName, "subscription-cron." + cronSub,
				"subscription-kafka." + kafkaSub, "secret." + credSecret, "secret." + tokSecret, "secret." + kafkaSec} {
				if f.hasState(gone) {
					t.Errorf("%s is still there", gone)
				}
			}
			for _, k := range c.kept {
				if !f.hasState(k) {
					t.Errorf("%s was deleted", k)
				}
			}
		})
	}
}

func TestDeleteRefusesWithoutTerminal(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.mustRun(nil, "--trusted-profile", "tp", "--image", "icr.io/team/s2s:1")
	f.calls()
	res := f.run(nil, "--delete")
	if res.code != 2 {
		t.Errorf("exit %d, want 2", res.code)
	}
	if !strings.Contains(res.stderr, "not a terminal") || !strings.Contains(res.stderr, "--yes") {
		t.Errorf("stderr does not say why nor how: %q", res.stderr)
	}
	if calls := f.calls(); len(calls) > 0 {
		t.Errorf("called ibmcloud before refusing:\n  %s", strings.Join(calls, "\n  "))
	}
	if !f.hasState("application." + appName) {
		t.Errorf("the app was deleted")
	}
}

func TestPrerequisites(t *testing.T) {
	t.Parallel()
	ok := []string{"--trusted-profile", "tp", "--image", "icr.io/team/s2s:1"}
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		noPath bool
		want   string
	}{
		{name: "no ibmcloud on PATH", args: ok, noPath: true, want: "ibmcloud not found on PATH"},
		{name: "not logged in", args: ok, env: map[string]string{"FAKE_IBMCLOUD_NOT_LOGGED_IN": "1"}, want: "not logged in to IBM Cloud; run 'ibmcloud login'"},
		{name: "code-engine plugin missing", args: ok, env: map[string]string{"FAKE_IBMCLOUD_MISSING_PLUGINS": "code-engine"}, want: "ibmcloud plugin install code-engine"},
		{
			name: "atracker plugin missing",
			args: append(slices.Clone(ok), "--setup-routing", "--kafka-brokers", "b", "--kafka-topic", "t", "--kafka-secret", "s", "--event-streams-crn", esCRN),
			env:  map[string]string{"FAKE_IBMCLOUD_MISSING_PLUGINS": "atracker"},
			want: "ibmcloud plugin install atracker",
		},
		{name: "no identity", args: []string{"--image", "icr.io/team/s2s:1"}, want: "missing identity: give --trusted-profile NAME"},
		{name: "two identities", args: append(slices.Clone(ok), "--api-key-env", "K"), env: map[string]string{"K": "x"}, want: "either --trusted-profile or --api-key-env, not both"},
		{name: "API key variable unset", args: []string{"--api-key-env", "NOT_SET_ANYWHERE"}, want: "NOT_SET_ANYWHERE (named by --api-key-env) is not set or is empty"},
		{name: "API key variable name invalid", args: []string{"--api-key-env", "my-key"}, want: "takes the name of an environment variable"},
		{name: "unknown option", args: append(slices.Clone(ok), "--frobnicate"), want: "unknown option '--frobnicate'"},
		{name: "option without value", args: append(slices.Clone(ok), "--project"), want: "option --project needs a value"},
		{name: "flag with value", args: append(slices.Clone(ok), "--public=yes"), want: "option --public takes no value"},
		{name: "image and build source", args: append(slices.Clone(ok), "--build-source", "."), want: "either --image or --build-source"},
		{name: "registry secret without image", args: []string{"--trusted-profile", "tp", "--registry-secret", "r"}, want: "--registry-secret only goes with --image"},
		{name: "bad schedule", args: append(slices.Clone(ok), "--schedule", "0 3 *"), want: "--schedule needs five cron fields"},
		{name: "bad max-scale", args: append(slices.Clone(ok), "--max-scale", "0"), want: "--max-scale needs a whole number from 1 to 999"},
		{name: "Kafka topic without brokers", args: append(slices.Clone(ok), "--kafka-topic", "t", "--kafka-secret", "s"), want: "needs both --kafka-brokers and --kafka-topic"},
		{name: "Kafka without credentials", args: append(slices.Clone(ok), "--kafka-topic", "t", "--kafka-brokers", "b"), want: "--kafka-secret NAME or KAFKA_PASSWORD"},
		{name: "routing without Event Streams", args: append(slices.Clone(ok), "--setup-routing"), want: "--setup-routing needs --kafka-brokers, --kafka-topic and --event-streams-crn"},
		{name: "delete project without delete", args: []string{"--delete-project", "--yes"}, want: "--delete-project only goes with --delete"},
		// A Kafka subscription cannot send an Authorization header: every event would get 401.
		{
			name: "public with a Kafka subscription",
			args: append(slices.Clone(ok), "--public", "--kafka-brokers", "b", "--kafka-topic", "t", "--kafka-secret", "s"),
			want: "--public does not go with a Kafka subscription: a public app requires the event token in an Authorization header, which a Code Engine Kafka subscription cannot send",
		},
		{
			name: "event token with a Kafka subscription",
			args: append(slices.Clone(ok), "--kafka-brokers", "b", "--kafka-topic", "t", "--kafka-secret", "s"),
			env:  map[string]string{"EVENT_AUTH_TOKEN": "a-token-of-sixteen-chars"},
			want: "EVENT_AUTH_TOKEN does not go with a Kafka subscription",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			if c.noPath {
				f.path = t.TempDir() // holds nothing: not even ibmcloud
			}
			res := f.run(c.env, c.args...)
			if res.code != 2 {
				t.Errorf("exit %d, want 2\nstderr:\n%s", res.code, res.stderr)
			}
			if !strings.Contains(res.stderr, c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, res.stderr)
			}
			if n := strings.Count(strings.TrimSpace(res.stderr), "\n"); n > 1 {
				t.Errorf("want one message (and the pointer to --help), got %d lines:\n%s", n+1, res.stderr)
			}
			if m := mutations(f.calls()); len(m) > 0 {
				t.Errorf("changed something before failing:\n  %s", strings.Join(m, "\n  "))
			}
			if entries, _ := os.ReadDir(f.state); len(entries) > 0 {
				t.Errorf("left state: %v", entries)
			}
		})
	}
}

// TestSecretsStayHidden deploys, redeploys, plans and deletes with an API key, a Kafka password
// and an event token, and looks for them in every call and every output.
func TestSecretsStayHidden(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	key := randomSecret(t, "api-key-")
	password := randomSecret(t, "kafka-password-")
	env := map[string]string{"S2S_KEY": key, "KAFKA_PASSWORD": password}
	// Public (an event token) first, then with the Kafka password (not public: refused).
	args := []string{"--api-key-env", "S2S_KEY", "--image", "icr.io/team/s2s:1", "--public"}
	kafkaArgs := []string{"--api-key-env", "S2S_KEY", "--image", "icr.io/team/s2s:1",
		"--kafka-brokers", "b0:9093", "--kafka-topic", "at"}

	var outputs, calls []string
	record := func(res result) {
		outputs = append(outputs, res.stdout, res.stderr)
		calls = append(calls, f.calls()...)
	}
	record(f.mustRun(env, args...))
	record(f.mustRun(env, kafkaArgs...))
	stored := f.stateFile("secret." + credSecret)
	if stored != "IBMCLOUD_API_KEY="+key+"\n" {
		t.Errorf("the credentials secret holds %q, want the API key under IBMCLOUD_API_KEY", stored)
	}
	if got := f.stateFile("secret." + kafkaSec); got != "username=token\npassword="+password+"\n" {
		t.Errorf("the Kafka secret holds %q", got)
	}
	tokenLine := f.stateFile("secret." + tokSecret)
	token, ok := strings.CutPrefix(strings.TrimSpace(tokenLine), "EVENT_AUTH_TOKEN=")
	if !ok || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(token) {
		t.Errorf("the event token secret holds %q, want EVENT_AUTH_TOKEN= and 64 hex digits", tokenLine)
	}

	record(f.mustRun(env, args...))
	if got := f.stateFile("secret." + tokSecret); got != tokenLine {
		t.Errorf("a later run changed the event token")
	}
	record(f.mustRun(env, append([]string{"--dry-run"}, args...)...))
	record(f.mustRun(env, append([]string{"--dry-run"}, kafkaArgs...)...))
	record(f.mustRun(env, "--delete", "--yes"))

	everything := strings.Join(outputs, "\n") + strings.Join(calls, "\n")
	for what, s := range map[string]string{"API key": key, "Kafka password": password, "event token": token} {
		if s != "" && strings.Contains(everything, s) {
			t.Errorf("the %s shows in a call or an output", what)
		}
	}
	if !strings.Contains(everything, "IBMCLOUD_API_KEY=***") {
		t.Errorf("the secret's commands do not say what they hold (IBMCLOUD_API_KEY=***)")
	}
	// The files that carried the values to the CLI are gone.
	if entries, _ := os.ReadDir(f.tmp); len(entries) > 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestConfigPassesThrough(t *testing.T) {
	t.Parallel()
	config := map[string]string{
		"IBMCLOUD_ACCOUNT_ID":              "0123456789abcdef0123456789abcdef",
		"IBMCLOUD_IAM_URL":                 "https://iam.example.test",
		"IBMCLOUD_VPC_URL":                 "https://vpc.example.test/v1",
		"IBMCLOUD_RESOURCE_CONTROLLER_URL": "https://rc.example.test",
		"IBMCLOUD_KMS_URL":                 "https://kms.example.test",
		"IBMCLOUD_REGIONS":                 "us-south,eu-de",
		"RESTORE_TAG_PREFIX":               "restore-to",
		"RESTORE_ALLOWED_ACCOUNTS":         "aaaa,bbbb",
		"KMS_CONSUMER_ACCOUNTS":            "cccc",
		"KMS_SCOPE":                        "key",
		"SYNC_MODE":                        "upsert-only",
		"DRY_RUN":                          "true",
		"LOG_LEVEL":                        "debug",
		"POLICY_CACHE_TTL":                 "30s",
	}
	env := map[string]string{
		"PORT":             "9090",
		"EVENT_AUTH_TOKEN": "caller-token",
		// Set for the caller's own login: never passed on, since --api-key-env is not given.
		"IBMCLOUD_API_KEY": "callers-own-key",
	}
	var want []string
	for k, v := range config {
		env[k] = v
		want = append(want, "--env "+k+"="+v)
	}
	f := newFake(t)
	f.mustRun(env, "--trusted-profile", "tp", "--image", "icr.io/team/s2s:1")
	calls := f.calls()
	app := callWith(t, calls, "ce application create")
	job := callWith(t, calls, "ce job create")
	for name, call := range map[string]string{"app": app, "job": job} {
		if m := missingArgs(call, append(want, "--env-from-secret "+tokSecret)); len(m) > 0 {
			t.Errorf("%s lacks %q", name, m)
		}
		for _, u := range []string{"IBMCLOUD_API_KEY", "callers-own-key", "caller-token"} {
			if strings.Contains(call, u) {
				t.Errorf("%s holds %q", name, u)
			}
		}
	}
	if m := missingArgs(app, []string{"--port 9090"}); len(m) > 0 {
		t.Errorf("the app does not listen on $PORT: %s", app)
	}
	if strings.Contains(app, "PORT=") {
		t.Errorf("the app sets PORT itself (Code Engine reserves it): %s", app)
	}
	if m := missingArgs(job, []string{"--env PORT=9090"}); len(m) > 0 {
		t.Errorf("the job lacks PORT: %s", job)
	}
	if got := f.stateFile("secret." + tokSecret); got != "EVENT_AUTH_TOKEN=caller-token\n" {
		t.Errorf("the event token secret holds %q, want the caller's token", got)
	}
}

func TestTrustedProfileNeedsAdministrator(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	res := f.mustRun(map[string]string{"FAKE_IBMCLOUD_DENY_TRUSTED_PROFILE": "1"}, "--trusted-profile", "tp", "--image", "icr.io/team/s2s:1")
	for _, w := range []string{
		"ibmcloud iam trusted-profile-create tp",
		"ibmcloud iam trusted-profile-link-create tp --name ce-application-s2s-authorizer --cr-type CE --link-crn crn:v1:bluemix:public:codeengine:",
		"--link-component-type job --link-component-name s2s-authorizer-reconcile",
	} {
		if !strings.Contains(res.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
		}
	}
	calls := f.calls()
	callWith(t, calls, "ce application create")
	for _, c := range calls {
		if strings.HasPrefix(c, "iam trusted-profile-link-create") {
			t.Errorf("linked a profile that could not be created: %s", c)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for _, flag := range []string{"--help", "-h"} {
		res := f.mustRun(nil, flag)
		for _, w := range []string{
			"--trusted-profile", "--api-key-env", "--project", "--region", "--resource-group",
			"--build-source", "--image", "--registry-secret", "--public", "--schedule",
			"--kafka-brokers", "--kafka-topic", "--kafka-secret", "--event-streams-crn", "--setup-routing",
			"--dry-run", "--delete", "--delete-project", "--yes", "--help",
			"KAFKA_USER", "KAFKA_PASSWORD", "IBMCLOUD_TRUSTED_PROFILE", "EVENT_AUTH_TOKEN", "PORT",
			"IBMCLOUD_ACCOUNT_ID", "IBMCLOUD_IAM_URL", "IBMCLOUD_VPC_URL", "IBMCLOUD_RESOURCE_CONTROLLER_URL",
			"IBMCLOUD_KMS_URL", "IBMCLOUD_REGIONS", "RESTORE_TAG_PREFIX",
			"RESTORE_ALLOWED_ACCOUNTS", "KMS_CONSUMER_ACCOUNTS", "KMS_SCOPE", "SYNC_MODE", "DRY_RUN",
			"LOG_LEVEL", "POLICY_CACHE_TTL",
			// What a deploy does that a user should know before running it.
			".ceignore", "size large", "--retrylimit 0", "Switching identity", "Not\n                           with a Kafka subscription",
		} {
			if !strings.Contains(res.stdout, w) {
				t.Errorf("%s does not mention %s", flag, w)
			}
		}
	}
	if calls := f.calls(); len(calls) > 0 {
		t.Errorf("--help called ibmcloud: %v", calls)
	}
}

// TestShellcheck fails, rather than skips, without shellcheck: an unchecked script is a defect
// that would otherwise pass unnoticed.
func TestShellcheck(t *testing.T) {
	t.Parallel()
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed; install it (Debian/Ubuntu: apt-get install -y shellcheck) and run the tests again")
	}
	root := repoRoot(t)
	readInputs(t, root, "deploy.sh", "scripts", filepath.Join("deploy", "testdata"))
	scripts, err := filepath.Glob(filepath.Join(root, "scripts", "*.sh"))
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string{"deploy.sh"}, relative(t, root, scripts)...)
	files = append(files, filepath.Join("deploy", "testdata", "fake-ibmcloud"))
	cmd := exec.Command(sc, files...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck %s: %v\n%s", strings.Join(files, " "), err, out)
	}
}

func relative(t *testing.T, root string, paths []string) []string {
	t.Helper()
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		r, err := filepath.Rel(root, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestBuildScriptUsage(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	readInputs(t, root, "scripts")
	out, err := exec.Command(bashPath(t), filepath.Join(root, "scripts", "build.sh"), "--help").Output()
	if err != nil {
		t.Fatalf("build.sh --help: %v", err)
	}
	for _, w := range []string{"OUTPUT", "VERSION", "GOOS", "GOARCH", "go1.27.3"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("build.sh --help does not mention %s", w)
		}
	}
	cmd := exec.Command(bashPath(t), filepath.Join(root, "scripts", "build.sh"), "a", "b")
	if err := cmd.Run(); err == nil {
		t.Errorf("build.sh with two arguments succeeded")
	}
}
