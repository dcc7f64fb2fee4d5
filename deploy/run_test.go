package deploy_test

// Tests that run what deploy.sh deploys: the exact environment and arguments it gives the app
// and the job (as the fake ibmcloud keeps them, secrets resolved as Code Engine resolves them),
// on the real binary, against the emulator. A deploy that passes every fake-ibmcloud test can
// still produce an app that exits at start; these catch that.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The account that the sample world's tag names (RESTORE_ALLOWED_ACCOUNTS must allow it).
const taggedAccount = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"

// crTokenPath is where Code Engine mounts the compute-resource token of an app or job with
// --trusted-profiles-enabled, and where go-sdk-core's ContainerAuthenticator looks for it
// (facts: Code Engine docs, "Using trusted profiles"; go-sdk-core container_authenticator.go).
const crTokenPath = "/var/run/secrets/codeengine.cloud.ibm.com/compute-resource-token/token"

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// testBinary builds ./function once per test process. It builds with the race detector when the
// test itself runs with it (go test -race ./...), so that every package comes from the build
// cache that the test build has just filled: only the link is new.
func testBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "s2s-deploy-test-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "s2s-authorizer")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./function")...)
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./function: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// startEmulator runs 's2s-authorizer emulator' on a free port and returns the variables it
// exports (endpoints, an API key, the account).
func startEmulator(t *testing.T, bin string) map[string]string {
	t.Helper()
	cmd := exec.Command(bin, "emulator", "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	env := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	timeout := time.After(60 * time.Second)
	for env["IBMCLOUD_KMS_URL"] == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the emulator stopped before printing its exports:\n%s", stderr.String())
			}
			if kv, found := strings.CutPrefix(line, "export "); found {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'"), `'\''`, `'`)
			}
		case <-timeout:
			t.Fatalf("the emulator printed no exports within a minute:\n%s", stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return env
}

// imageCommand is the ENTRYPOINT and CMD of the Dockerfile's image: what Code Engine runs when
// an app or job gives no --argument.
func imageCommand(t *testing.T) (cmd []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CMD "); ok {
			if err := json.Unmarshal([]byte(v), &cmd); err != nil {
				t.Fatalf("Dockerfile CMD %s: %v", v, err)
			}
		}
	}
	if len(cmd) == 0 {
		t.Fatal("the Dockerfile has no CMD")
	}
	return cmd
}

// processEnv is the environment Code Engine gives the workload's container: its --env values and
// the keys of each secret it references, plus extra (what Code Engine sets itself).
func (f *fake) processEnv(w workload, extra map[string]string) []string {
	f.t.Helper()
	env := w.env()
	for _, s := range w.all("secret") {
		for _, line := range strings.Split(strings.TrimSpace(f.stateFile("secret."+s)), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				f.t.Fatalf("secret %s holds a line without '=': %q", s, line)
			}
			env[k] = v
		}
	}
	for k, v := range extra {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// command runs the binary as the workload's container would: with its arguments (or the
// image's CMD), and, with --trusted-profiles-enabled, the compute-resource token mounted where
// Code Engine mounts it. The mount is made in a private mount namespace (unshare), so that the
// test writes nothing outside its temporary directory.
func (f *fake) command(w workload, bin string, env []string) *exec.Cmd {
	f.t.Helper()
	args := w.all("argument")
	if len(args) == 0 {
		args = imageCommand(f.t)
	}
	if !w.has("trusted true") {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		return cmd
	}
	token := filepath.Join(f.t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("compute-resource-token-of-the-test"), 0o600); err != nil {
		f.t.Fatal(err)
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		f.t.Fatal("unshare (util-linux) is needed to mount the compute-resource token where Code Engine mounts it")
	}
	// /var/run is usually a link to /run: mount over what it resolves to.
	mnt := "/var/run"
	if r, err := filepath.EvalSymlinks(mnt); err == nil {
		mnt = r
	}
	dir := filepath.Dir(strings.Replace(crTokenPath, "/var/run", mnt, 1))
	script := `mount -t tmpfs tmpfs "$1" && mkdir -p "$2" && cp "$3" "$2/token" && shift 3 && exec "$@"`
	cmd := exec.Command(unshare, append([]string{"--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", mnt, dir, token, bin}, args...)...)
	cmd.Env = env
	return cmd
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// cronData is the --data that deploy.sh gives the cron subscription (the fake's log has it).
func cronData(t *testing.T, calls []string) string {
	t.Helper()
	c := callWith(t, calls, "ce subscription cron create")
	_, after, ok := strings.Cut(c, " --data ")
	if !ok {
		t.Fatalf("the cron subscription has no --data: %s", c)
	}
	return strings.Fields(after)[0]
}

// deployAndRun deploys with deploy.sh and the given options (the image built from this tree),
// then runs the app and the job exactly as deployed against the emulator: the app must become
// ready and apply the recorded tag-attach event, the job must exit 0 for a run submitted by hand
// and for the cron subscription's ping.
func deployAndRun(t *testing.T, deployEnv map[string]string, args ...string) {
	bin := testBinary(t)
	emu := startEmulator(t, bin)
	env := map[string]string{"RESTORE_ALLOWED_ACCOUNTS": taggedAccount}
	for _, k := range []string{"IBMCLOUD_IAM_URL", "IBMCLOUD_VPC_URL", "IBMCLOUD_RESOURCE_CONTROLLER_URL", "IBMCLOUD_KMS_URL"} {
		env[k] = emu[k]
	}
	for k, v := range deployEnv {
		env[k] = strings.ReplaceAll(v, "$EMULATOR_API_KEY", emu["IBMCLOUD_API_KEY"])
		env[k] = strings.ReplaceAll(env[k], "$EMULATOR_ACCOUNT", emu["IBMCLOUD_ACCOUNT_ID"])
	}
	f := newFake(t)
	f.mustRun(env, args...)
	calls := f.calls()

	app := f.workload("application", appName)
	if got := app.value("port"); got != "8080" {
		t.Errorf("the app listens on %q, want 8080 (the image's EXPOSE, Code Engine's default)", got)
	}
	// Code Engine sets PORT from --port; here another free port, since 8080 may be taken.
	port := freePort(t)
	appEnv := f.processEnv(app, map[string]string{"PORT": port, "CE_APP": appName})
	var appOut bytes.Buffer
	cmd := f.command(app, bin, appEnv)
	cmd.Stdout, cmd.Stderr = &appOut, &appOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("the app printed:\n%s", appOut.String())
		}
	}()

	base := "http://127.0.0.1:" + port
	ready := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !ready; {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("the app exited at start (%v): Code Engine would never see it ready", err)
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			ready = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
	}
	if !ready {
		t.Fatalf("GET /readyz did not answer 200 within a minute")
	}

	body, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "events", "activity-tracker", "08-is-tag-attach.json"))
	if err != nil {
		t.Fatal(err)
	}
	token := ""
	for _, kv := range appEnv {
		if v, ok := strings.CutPrefix(kv, "EVENT_AUTH_TOKEN="); ok {
			token = v
		}
	}
	post := func(auth string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, base+"/", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		// As a Code Engine Kafka subscription delivers an Activity Tracker event.
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("ce-specversion", "1.0")
		req.Header.Set("ce-id", "partition:0/offset:1")
		req.Header.Set("ce-type", "dev.knative.kafka.event")
		req.Header.Set("ce-source", "/apis/v1/namespaces/s2s-authorizer/kafkasources/"+kafkaSub+"#at")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST /: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if token != "" {
		if code, _ := post(""); code != http.StatusUnauthorized {
			t.Errorf("without the event token, POST / answered %d, want 401", code)
		}
	}
	code, answer := post(token)
	if code != http.StatusOK || !strings.Contains(answer, `"applied"`) || !strings.Contains(answer, "create") {
		t.Errorf("the tag-attach event: %d %s\nwant 200, applied, one create", code, answer)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("the app did not stop cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the app did not stop within 30 s of SIGTERM (Code Engine kills it then)")
	}

	job := f.workload("job", jobName)
	runs := []struct {
		name string
		env  map[string]string
	}{
		{"jobrun submit", map[string]string{"CE_JOB": jobName, "CE_JOBRUN": jobName + "-run-1", "JOB_INDEX": "0"}},
		{"cron subscription", map[string]string{
			"CE_JOB": jobName, "CE_JOBRUN": jobName + "-run-2", "JOB_INDEX": "0",
			"CE_SPECVERSION": "1.0", "CE_ID": "ping-1", "CE_TYPE": "dev.knative.sources.ping",
			"CE_SOURCE": "/apis/v1/namespaces/s2s-authorizer/pingsources/" + cronSub,
			"CE_DATA":   cronData(t, calls), "CONTENT_TYPE": "application/json",
		}},
	}
	for _, run := range runs {
		out, err := runWithin(f.command(job, bin, f.processEnv(job, run.env)), 2*time.Minute)
		if err != nil {
			t.Errorf("the job, run as by a %s, failed (%v): Code Engine would mark the run failed\n%s", run.name, err, out)
		}
	}
}

// runWithin runs cmd to its end, killing it after d.
func runWithin(cmd *exec.Cmd, d time.Duration) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.Bytes(), err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return out.Bytes(), fmt.Errorf("still running after %s", d)
	}
}

// TestDeployedWithAPIKeyRuns deploys with --api-key-env and --public: the app and the job read
// the key and the event token from their secrets, and look the account up from the key.
func TestDeployedWithAPIKeyRuns(t *testing.T) {
	t.Parallel()
	deployAndRun(t, map[string]string{"S2S_KEY": "$EMULATOR_API_KEY"}, "--api-key-env", "S2S_KEY", "--public")
}

// TestDeployedWithTrustedProfileRuns deploys as the README does (--trusted-profile), with the
// account given: the app and the job trade the compute-resource token for an IAM token.
func TestDeployedWithTrustedProfileRuns(t *testing.T) {
	t.Parallel()
	deployAndRun(t, map[string]string{"IBMCLOUD_ACCOUNT_ID": "$EMULATOR_ACCOUNT"}, "--trusted-profile", "s2s-authorizer")
}
