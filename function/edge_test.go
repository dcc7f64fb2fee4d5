package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// TestArgumentsRefusedBeforeAnyEvent: a flag after the arguments, or a path that does not
// exist, is a usage error (exit 2) before anything runs; "replay PATH --dry-run" used to replay
// PATH without --dry-run, and write.
func TestArgumentsRefusedBeforeAnyEvent(t *testing.T) {
	event := replayFile(t, replayAttach)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"replay PATH --dry-run", []string{"replay", event, "--dry-run"}, `replay: "--dry-run" after the arguments looks like a flag: put flags before the arguments`},
		{"replay PATH --live --apply", []string{"replay", event, "--live", "--apply"}, `replay: "--live" after the arguments looks like a flag`},
		{"replay PATH -json", []string{"replay", event, "-json"}, `"-json" after the arguments`},
		{"replay of a path that does not exist", []string{"replay", event, "no-such-dir"}, "replay: PATH no-such-dir: no such file or directory"},
		{"job with a flag after an argument", []string{"job", "now", "--dry-run"}, `job: "--dry-run" after the arguments looks like a flag`},
		{"reconcile with a flag after an argument", []string{"reconcile", "all", "--dry-run"}, `reconcile: "--dry-run" after the arguments`},
		{"serve with a flag after an argument", []string{"serve", "x", "--local"}, `serve: "--local" after the arguments`},
		{"policies with a flag after an argument", []string{"policies", "x", "--json"}, `policies: "--json" after the arguments`},
		{"bench of a binary that does not exist", []string{"bench", "--binary", "no-such-binary"}, "bench: --binary no-such-binary: no such file or directory"},
		{"emulator with a flag after an argument", []string{"emulator", "x", "--listen", "127.0.0.1:0"}, `emulator: "--listen" after the arguments`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, env := emulatorEnv(t, te.World())
			code, stdout, stderr := run(t, context.Background(), env, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, want 2, stderr:\n%s\nwant it to contain %q", code, stderr, tt.want)
			}
			if strings.Contains(stdout, "→") || strings.Contains(stdout, "outcome") {
				t.Errorf("an event ran:\n%s", stdout)
			}
			if n := srv.Stats().Total; n != 0 {
				t.Errorf("%d IBM calls", n)
			}
		})
	}
}

// TestJobIBMEnvironments runs the job with the environment Code Engine gives it for each
// subscription (ibm-cloud-facts §4: the full variable list).
func TestJobIBMEnvironments(t *testing.T) {
	atTag := string(te.Activity("is.tag.attach", te.SnapCRN, nil))
	runVars := map[string]string{"CE_JOB": "s2s-authorizer-job", "CE_JOBRUN": "s2s-authorizer-job-run-7x2kq", "JOB_INDEX": "0"}
	kafka := func(data string) map[string]string {
		return map[string]string{"CE_DATA": data, "CE_DOMAIN": "cloud.ibm.com", "CE_ID": "partition:2/offset:7",
			"CE_SOURCE": "/apis/v1/namespaces/2xq8w3k9pz1/kafkasources/at-events#activity-tracker", "CE_SPECVERSION": "1.0",
			"CE_SUBDOMAIN": "kafka", "CE_SUBJECT": "partition:2#7", "CE_TIME": "2026-11-21T10:15:05.001Z", "CE_TYPE": delivery.TypeKafka}
	}
	notification := func(data string) map[string]string {
		return map[string]string{"ibmendata": `{"specversion":"1.0","id":"3f2c9a1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b","source":"crn:v1:bluemix:public:event-notifications:us-south:a/` + te.Account +
			`:8c1d5e2f-3a4b-4c6d-9e8f-0a1b2c3d4e5f::","type":"com.ibm.cloud.logs.alert","time":"2026-11-20T10:16:05.001Z","datacontenttype":"application/json",` +
			`"ibmenseverity":"LOW","ibmensourceid":"8c1d5e2f:api","ibmendefaultshort":"alert","ibmendefaultlong":"an alert","ibmenpushto":{"platforms":["push_android"]},` +
			`"notification_id":"7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","data":` + data + `}`}
	}
	tests := []struct {
		name     string
		env      map[string]string
		wantCode int
		want     []string // in stdout
		grants   int
	}{
		{"Kafka subscription", kafka(atTag), 0, []string{`"outcome": "applied"`}, 1},
		{"Kafka subscription: hs-crypto.secrets.purge", kafka(string(te.Activity("hs-crypto.secrets.purge", te.HPCSKeyCRN, nil))), 0, []string{`"outcome": "applied"`}, 1},
		{"Kafka subscription: IBM's sample is.snapshot.create", kafka(string(te.Activity("is.snapshot.create", "crn:v1:::is::a/"+te.Account+"::snapshot:"+te.Snap, nil))), 0,
			[]string{`"outcome": "ignored"`, "cannot name a real snapshot"}, 0},
		{"Kafka subscription: a snapshot that does not exist", kafka(string(te.Activity("is.tag.attach", te.SnapEUCRN[:len(te.SnapEUCRN)-4]+"0000", nil))), 0,
			[]string{`"outcome": "unchanged"`, "not found in eu-de: nothing to grant"}, 0},
		{"Event Notifications with notification_id (used to exit 2)", notification(`{"alert":"x"}`), 0, []string{`"outcome": "ignored"`, "carries no Activity Tracker event"}, 0},
		{"Activity Tracker in a notification (a convenience)", notification(atTag), 0, []string{`"outcome": "applied"`}, 1},
		{"cron subscription, empty data", map[string]string{"CE_DATA": "", "CE_ID": "c9f1e3a2", "CE_SOURCE": "/apis/v1/namespaces/2xq8w3k9pz1/pingsources/nightly",
			"CE_SPECVERSION": "1.0", "CE_TIME": "2026-11-25T03:00:00Z", "CE_TYPE": delivery.TypePing, "CONTENT_TYPE": "application/json"}, 0, []string{"Plan: 3 to create"}, 3},
		{"id longer than 256 bytes", func() map[string]string { e := kafka(atTag); e["CE_ID"] = strings.Repeat("7", 300); return e }(), 2,
			[]string{`"outcome": "rejected"`, "CloudEvent id: 300 bytes, more than the limit of 256"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, env := emulatorEnv(t, te.World())
			for _, vars := range []map[string]string{runVars, tt.env} {
				for k, v := range vars {
					env[k] = v
				}
			}
			code, stdout, stderr := run(t, context.Background(), env, "job")
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if got := countGrants(srv); got != tt.grants {
				t.Errorf("%d Block Storage policies, want %d", got, tt.grants)
			}
		})
	}
}

// TestServeConnectionCap: beyond --max-connections, a new connection waits until one closes.
func TestServeConnectionCap(t *testing.T) {
	_, env := emulatorEnv(t, te.World())
	url := serveWithArgs(t, env, "--max-connections", "2")
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	answered := make(chan int, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 60 * time.Second}
		resp, err := client.Get(url + "healthz")
		if err != nil {
			answered <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	// Not a timing assertion on serve: without the cap the probe is answered in milliseconds;
	// a slow machine can only make this check pass wrongly, never fail wrongly.
	select {
	case status := <-answered:
		t.Fatalf("answered %d while 2 connections held both places", status)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	if status := <-answered; status != http.StatusOK {
		t.Fatalf("after a connection closed: %d, want 200", status)
	}
}
