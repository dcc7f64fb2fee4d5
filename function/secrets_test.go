package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/go-sdk-core/v5/core"

	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// TestSecretsNeverLogged runs what a deployment runs (serve handling applied, failed, rejected,
// unauthorized and cron events; job with an event, with bad input and with IAM down; reconcile;
// policies; a configuration error) with a distinctive API key and event token, learns every IAM
// token the emulator issues, and checks that none of them appears in anything the process
// printed: the commands' output and logs, and whatever reached the process's stdout, stderr, the
// standard logger or the IBM SDK's logger.
func TestSecretsNeverLogged(t *testing.T) {
	const (
		apiKey     = "SECRETAPIKEY-7f3a9c1e5b2d4f6a8c0e1357"
		eventToken = "SECRETEVENTTOKEN-2b4d6f8a0c1e3a5c7e9b"
	)
	srv, env := emulatorEnv(t, te.World())
	iam := newTokenRecorder(t, srv.URL())
	env["IBMCLOUD_IAM_URL"] = iam.URL
	env["IBMCLOUD_API_KEY"] = apiKey
	env["EVENT_AUTH_TOKEN"] = eventToken
	env["LOG_LEVEL"] = "debug"

	captured := captureProcessOutput(t)
	var outputs []string // every command's stdout and stderr
	ctx := context.Background()
	iamDown := emulator.Faults{P500: 1, Routes: []string{"POST /identity/token"}}

	// serve, starting while IAM cannot issue tokens.
	srv.SetFaults(iamDown)
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	out, errOut := &te.Buffer{}, &te.Buffer{}
	a := &app{stdout: out, stderr: errOut, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	done := make(chan int, 1)
	// Readiness is not reused, so that /readyz tells at once that IAM is back.
	go func() { done <- a.main(serveCtx, []string{"serve", "--listen", "127.0.0.1:0", "--ready-ttl", "1ns"}) }()
	base := waitForListening(t, errOut, done)
	attach := []byte(`{"action":"is.tag.attach","outcome":"success","target":{"id":"` + te.SnapCRN + `"}}`)
	requests := []struct {
		name, method, auth string
		header             map[string]string
		body               []byte
		want               int
	}{
		{name: "readyz while IAM is down", method: http.MethodGet, want: 503},
		{name: "event while IAM is down", method: http.MethodPost, auth: "Bearer " + eventToken, body: attach, want: 503},
		{name: "IAM back", want: 0},
		{name: "readyz", method: http.MethodGet, want: 200},
		{name: "event applied", method: http.MethodPost, auth: "Bearer " + eventToken, body: attach, want: 200},
		{name: "rejected event", method: http.MethodPost, auth: "Bearer " + eventToken, body: []byte(`{"action":"is.tag.attach","outcome":"success","target":{"id":"crn:v1:x"}}`), want: 400},
		{name: "a token that contains the real one", method: http.MethodPost, auth: "Bearer x" + eventToken, body: attach, want: 401},
		{name: "the token in the wrong scheme", method: http.MethodPost, auth: "Basic " + eventToken, body: attach, want: 401},
		{name: "cron tick", method: http.MethodPost, auth: "Bearer " + eventToken, header: map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "tick-1", "Ce-Source": "/cron", "Ce-Type": delivery.TypePing}, body: []byte(`{}`), want: 202},
	}
	for _, r := range requests {
		if r.want == 0 {
			srv.SetFaults(emulator.Faults{})
			continue
		}
		path := ""
		if r.method == http.MethodGet {
			path = "readyz"
		}
		req, err := http.NewRequest(r.method, base+path, bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if r.auth != "" {
			req.Header.Set("Authorization", r.auth)
		}
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		outputs = append(outputs, string(body))
		if resp.StatusCode != r.want {
			t.Fatalf("%s: %d, want %d: %s", r.name, resp.StatusCode, r.want, body)
		}
	}
	waitForLog(t, errOut, "reconcile")
	stop()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d", code)
	}
	outputs = append(outputs, out.String(), errOut.String())
	if !strings.Contains(errOut.String(), `"outcome":"failed"`) || !strings.Contains(errOut.String(), `"status":401`) {
		t.Errorf("serve did not log the failed and the unauthorized event:\n%s", errOut)
	}

	// The job and the other commands, each a fresh process-like run with its own IAM token.
	ce := func(data string) map[string]string {
		m := map[string]string{"CE_ID": "job-1", "CE_SOURCE": "/kafka", "CE_TYPE": delivery.TypeKafka, "CE_SPECVERSION": "1.0", "CE_DATA": data}
		for k, v := range env {
			m[k] = v
		}
		return m
	}
	badConfig := ce(string(attach))
	badConfig["KMS_SCOPE"] = "everything"
	runs := []struct {
		name     string
		env      map[string]string
		args     []string
		faults   emulator.Faults
		wantCode int
	}{
		{name: "job", env: ce(`{"action":"is.tag.attach","outcome":"success","target":{"id":"` + te.SnapPlainCRN + `"}}`), args: []string{"job"}, wantCode: 0},
		{name: "job with bad input", env: ce(`{"action":`), args: []string{"job"}, wantCode: 2},
		{name: "job while IAM is down", env: ce(string(attach)), args: []string{"job"}, faults: iamDown, wantCode: 1},
		{name: "reconcile", env: env, args: []string{"reconcile"}, wantCode: 0},
		{name: "reconcile --json", env: env, args: []string{"reconcile", "--json"}, wantCode: 0},
		{name: "reconcile while IAM is down", env: env, args: []string{"reconcile"}, faults: iamDown, wantCode: 1},
		{name: "policies", env: env, args: []string{"policies"}, wantCode: 0},
		{name: "configuration error", env: badConfig, args: []string{"job"}, wantCode: 2},
	}
	for _, r := range runs {
		srv.SetFaults(r.faults)
		code, stdout, stderr := run(t, ctx, r.env, r.args...)
		outputs = append(outputs, stdout, stderr)
		if code != r.wantCode {
			t.Fatalf("%s: exit %d, want %d\n%s%s", r.name, code, r.wantCode, stdout, stderr)
		}
	}
	srv.SetFaults(emulator.Faults{})
	outputs = append(outputs, captured())

	secrets := map[string]string{"IBMCLOUD_API_KEY": apiKey, "EVENT_AUTH_TOKEN": eventToken}
	tokens := iam.tokens()
	if len(tokens) < 4 {
		t.Fatalf("learnt %d IAM tokens, want one per command at least", len(tokens))
	}
	for i, tok := range tokens {
		secrets["IAM token "+string(rune('a'+i))] = tok
	}
	all := strings.Join(outputs, "\n")
	if len(all) < 10_000 {
		t.Fatalf("only %d bytes of output: the runs did not log what they should", len(all))
	}
	for name, secret := range secrets {
		if i := strings.Index(all, secret); i >= 0 {
			t.Errorf("%s appears in the output: …%s…", name, all[max(0, i-200):min(len(all), i+len(secret)+50)])
		}
	}
}

// tokenRecorder is IAM as the function sees it: the emulator behind a reverse proxy that writes
// down every access and refresh token the token endpoint issues.
type tokenRecorder struct {
	*httptest.Server
	mu     sync.Mutex
	issued []string
}

func newTokenRecorder(t *testing.T, target string) *tokenRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r := &tokenRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.URL.Path, "/token") {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(body, &tok) == nil && tok.AccessToken != "" {
			r.mu.Lock()
			r.issued = append(r.issued, tok.AccessToken, tok.RefreshToken)
			r.mu.Unlock()
		}
		return nil
	}
	r.Server = httptest.NewServer(proxy)
	t.Cleanup(r.Close)
	return r
}

func (r *tokenRecorder) tokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.issued...)
}

// captureProcessOutput sends everything the process prints by other ways than a command's own
// writers (os.Stdout, os.Stderr, the standard logger, the IBM SDK's logger at its configured
// level) into a buffer until the returned function is called, which restores them and returns
// what was printed. Nothing else may run meanwhile: the test is not parallel.
func captureProcessOutput(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, sdk := os.Stdout, os.Stderr, core.GetLogger()
	logFlags, logOut := log.Flags(), log.Writer()
	os.Stdout, os.Stderr = w, w
	log.SetOutput(w)
	core.SetLogger(core.NewLogger(sdk.GetLogLevel(), log.New(w, "", log.LstdFlags), log.New(w, "", log.LstdFlags)))
	var buf bytes.Buffer
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&buf, r); close(copied) }()
	var once sync.Once
	restore := func() string {
		once.Do(func() {
			os.Stdout, os.Stderr = stdout, stderr
			log.SetOutput(logOut)
			log.SetFlags(logFlags)
			core.SetLogger(sdk)
			_ = w.Close()
			<-copied
			_ = r.Close()
		})
		return buf.String()
	}
	t.Cleanup(func() { restore() })
	return restore
}

// waitForLog waits for a log line with msg.
func waitForLog(t *testing.T, logs *te.Buffer, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range logs.Lines() {
			if line["msg"] == msg {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q log line:\n%s", msg, logs)
}
