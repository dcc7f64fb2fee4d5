package handlers_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// heapInUse is the live heap after a collection: what requests left behind.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// checkGrowth fails when the live heap grew by more than limit since before.
func checkGrowth(t *testing.T, what string, before int64, limit int64) {
	t.Helper()
	grown := heapInUse() - before
	t.Logf("%s: heap in use grew by %.1f MB (limit %d MB)", what, float64(grown)/(1<<20), limit>>20)
	if grown > limit {
		t.Errorf("%s: heap in use grew by %d bytes, more than %d", what, grown, limit)
	}
}

// TestLongIDsCostNothing: structured events with ids of almost 1 MiB are refused with a 400 that
// names the limit, and leave nothing behind (before, each one stayed in the duplicate filter: 2,000
// of them took 3 GB).
func TestLongIDsCostNothing(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	srv := e.HTTP(handlers.HTTPOptions{})
	before := e.Grants()
	const n = 100
	id := strings.Repeat("i", 1<<20-200)
	h := http.Header{"Content-Type": {"application/cloudevents+json"}}
	heap := heapInUse()
	for i := range n {
		body := []byte(fmt.Sprintf(`{"specversion":"1.0","id":"%s%d","source":"/s","type":"t","data":{}}`, id[:len(id)-8], i))
		status, answer := te.Post(t, srv.URL, h, body)
		if status != http.StatusBadRequest || len(answer.Results) != 1 || !strings.Contains(answer.Results[0].Error, "CloudEvent id") ||
			!strings.Contains(answer.Results[0].Error, "more than the limit of 256") {
			t.Fatalf("request %d: %d %+v", i, status, answer.Error)
		}
		if got := len(answer.Results[0].ID); got > 2*delivery.MaxAttributeBytes {
			t.Fatalf("the answer echoes %d bytes of the id", got)
		}
	}
	checkGrowth(t, fmt.Sprintf("%d ids of 1 MiB", n), heap, 16<<20)
	if diff := cmp.Diff(before, e.Grants()); diff != "" || e.Emulator.Stats().Total != 0 {
		t.Errorf("IBM was called (%d) or policies changed:\n%s", e.Emulator.Stats().Total, diff)
	}
}

// TestRegions: only VPC regions are acted on, and snapshots only in IBMCLOUD_REGIONS (us-south and
// eu-de here). Anything else is answered 200 ignored with a warning, and costs no IBM call and no
// memory per region.
func TestRegions(t *testing.T) {
	region := func(c, r string) string { return strings.Replace(c, ":us-south:", ":"+r+":", 1) }
	tests := []struct {
		name, action, target, wantReason, wantScope string
	}{
		{"snapshot in a made-up region", "is.tag.attach", region(te.SnapCRN, "mars-1"), `location "mars-1" is not a VPC region`, ""},
		{"key in a made-up region", "kms.secrets.create", region(te.RootKeyCRN, "mars-1"), `location "mars-1" is not a VPC region`, ""},
		{"snapshot in a VPC region outside IBMCLOUD_REGIONS", "is.snapshot.snapshot.create", region(te.SnapCRN, "eu-gb"), "out_of_scope: snapshot in eu-gb", handlers.OutOfScope},
		{"snapshot with an empty region", "is.tag.attach", region(te.SnapCRN, ""), "cannot name a real snapshot", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := te.Start(t, te.World(), nil)
			srv := e.HTTP(handlers.HTTPOptions{})
			before := e.Grants()
			status, answer := te.Post(t, srv.URL, ibmKafka(), activity(tt.action, tt.target, nil))
			if status != 200 || answer.Results[0].Outcome != converge.Ignored || !strings.Contains(answer.Results[0].Reason, tt.wantReason) ||
				answer.Results[0].Scope != tt.wantScope {
				t.Fatalf("answer %d %+v, want 200 ignored: %q (scope %q)", status, answer, tt.wantReason, tt.wantScope)
			}
			if line := eventLine(e.Logs); line["level"] != "warn" || str(line["scope"]) != tt.wantScope {
				t.Errorf("log line %v, want a warning with scope %q", line, tt.wantScope)
			}
			if diff := cmp.Diff(before, e.Grants()); diff != "" || e.Emulator.Stats().Total != 0 {
				t.Errorf("IBM was called (%d) or policies changed:\n%s", e.Emulator.Stats().Total, diff)
			}
		})
	}
	t.Run("20,000 distinct made-up regions", func(t *testing.T) {
		e := te.Start(t, te.World(), nil)
		// No log buffer: what is measured is what the service keeps.
		s := handlers.NewService(e.Runtime.Converger, handlers.Options{Rules: e.Runtime.Config.Rules(), Regions: e.Runtime.Config.Regions})
		srv := httptest.NewServer(s.NewHTTPHandler(handlers.HTTPOptions{}))
		defer srv.Close()
		heap := heapInUse()
		for i := range 20000 {
			status, answer := te.Post(t, srv.URL, ibmKafka(), activity("is.tag.attach", region(te.SnapCRN, fmt.Sprintf("zz-r%d", i)), nil))
			if status != 200 || answer.Results[0].Outcome != converge.Ignored {
				t.Fatalf("region %d: %d %+v", i, status, answer)
			}
		}
		// The duplicate filter keeps 10,000 hashes (about 1.5 MB); no per-region client is made
		// (before, 60,000 regions took 87 MB).
		checkGrowth(t, "20,000 regions", heap, 8<<20)
		if n := e.Emulator.Stats().Total; n != 0 {
			t.Errorf("%d IBM calls", n)
		}
	})
}

// TestKeysEqualUnderCaseFolding: keys that differ only in case are duplicates in every envelope.
func TestKeysEqualUnderCaseFolding(t *testing.T) {
	attach := string(activity("is.tag.attach", te.SnapCRN, nil))
	ce := func(members string) []byte {
		return []byte(`{"specversion":"1.0","source":"/s","type":"` + delivery.TypeKafka + `","datacontenttype":"application/json",` + members + `}`)
	}
	structured := http.Header{"Content-Type": {"application/cloudevents+json"}}
	batch := http.Header{"Content-Type": {"application/cloudevents-batch+json"}}
	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		wantErr string
	}{
		{"structured: id twice", structured, ce(`"id":"a","id":"b","data":` + attach), `duplicate key "id"`},
		{"structured: ID beside id", structured, ce(`"id":"a","ID":"b","data":` + attach), `duplicate key "ID"`},
		{"structured: ſpecversion beside specversion", structured, ce(`"ſpecversion":"0.3","id":"a","data":` + attach), `duplicate key "ſpecversion"`},
		{"batch member: id twice", batch, []byte("[" + string(ce(`"id":"a","id":"b","data":`+attach)) + "]"), `duplicate key "id"`},
		{"Kafka data: ACTION beside action", ibmKafka(), []byte(strings.Replace(attach, `"action"`, `"ACTION":"iam.x","action"`, 1)), `duplicate key "action"`},
		{"plain notification: Data beside data", jsonHeader(), ce(`"id":"a","Data":{},"data":` + attach), `duplicate key "data"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := te.Start(t, te.World(), nil)
			srv := e.HTTP(handlers.HTTPOptions{})
			status, answer := te.Post(t, srv.URL, tt.header, tt.body)
			text := answer.Error
			for _, r := range answer.Results {
				text += r.Error
			}
			if status != http.StatusBadRequest || !strings.Contains(text, tt.wantErr) {
				t.Fatalf("answer %d %q, want 400 %q", status, text, tt.wantErr)
			}
			if got := e.Grants(); len(got) != 0 || e.Emulator.Stats().Total != 0 {
				t.Errorf("acted on: %v, %d calls", got, e.Emulator.Stats().Total)
			}
		})
	}
}

// TestUnauthenticatedSlowBodies: a sender without the token who announces a large body and sends
// it slowly gets its 401 at once, without the body being waited for, and the connection is
// closed; 300 of them at once leave nothing behind.
func TestUnauthenticatedSlowBodies(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	srv := e.HTTP(handlers.HTTPOptions{Token: token})
	const n = 300
	heap := heapInUse()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A guard against a hang, not a timing assertion: the answer needs no more of the body.
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"action\":")
		conns[i] = c
	}
	for i, c := range conns {
		r := bufio.NewReader(c)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
			t.Fatalf("connection %d: %d (close %v), want 401 and Connection: close", i, resp.StatusCode, resp.Close)
		}
		if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("connection %d still open after the 401: %v", i, err)
		}
	}
	checkGrowth(t, fmt.Sprintf("%d unauthenticated slow bodies", n), heap, 16<<20)
	if got := e.Grants(); len(got) != 0 || e.Emulator.Stats().Total != 0 {
		t.Errorf("acted on: %v, %d calls", got, e.Emulator.Stats().Total)
	}
}

// TestReadinessIsCached: probes while IAM fails cost one check per ReadyTTL, not one each.
func TestReadinessIsCached(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	var checks atomic.Int64
	srv := e.HTTP(handlers.HTTPOptions{ReadyTTL: time.Hour, Ready: func(context.Context) error {
		checks.Add(1)
		return errors.New("IAM token: 503 Service Unavailable")
	}})
	for i := range 200 {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		_ = jsonDecode(resp, &body)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body["error"], "IAM token") {
			t.Fatalf("probe %d: %d %v", i, resp.StatusCode, body)
		}
	}
	if n := checks.Load(); n != 1 {
		t.Errorf("200 probes made %d readiness checks, want 1", n)
	}
}

// stallingConverger lets the first pass objects through and then waits for the request's
// deadline, as a slow IBM answer would.
type stallingConverger struct {
	next  handlers.Converger
	pass  int
	calls atomic.Int64
}

func (c *stallingConverger) Converge(ctx context.Context, obj converge.Object) converge.Result {
	if int(c.calls.Add(1)) > c.pass {
		<-ctx.Done()
	}
	return c.next.Converge(ctx, obj)
}

// TestBatchDeadline: a batch whose members outlast the request's deadline is answered in time:
// the members done keep their results, the others get 503 so that the sender redelivers; the
// redelivery then costs nothing for the members done.
func TestBatchDeadline(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	conv := &stallingConverger{next: e.Runtime.Converger, pass: 2}
	s := handlers.NewService(conv, handlers.Options{Rules: e.Runtime.Config.Rules(), Regions: e.Runtime.Config.Regions, Logger: e.Runtime.Logger})
	srv := httptest.NewServer(s.NewHTTPHandler(handlers.HTTPOptions{Deadline: 300 * time.Millisecond}))
	defer srv.Close()
	targets := []string{te.SnapCRN, te.RootKeyCRN, te.SnapPlainCRN, te.SnapEUCRN, te.HPCSKeyCRN, te.SnapCRN, te.SnapCRN, te.SnapCRN}
	var members []string
	for i, target := range targets {
		action := "is.tag.attach"
		if strings.Contains(target, ":key:") {
			action = "kms.secrets.create"
		}
		members = append(members, string(te.Structured(fmt.Sprintf("partition:0/offset:%d", i), delivery.TypeKafka, activity(action, target, nil))))
	}
	status, answer := te.Post(t, srv.URL, http.Header{"Content-Type": {"application/cloudevents-batch+json"}}, []byte("["+strings.Join(members, ",")+"]"))
	if status != http.StatusServiceUnavailable || len(answer.Results) != len(targets) {
		t.Fatalf("answer %d with %d results, want 503 with %d", status, len(answer.Results), len(targets))
	}
	for i, r := range answer.Results {
		switch {
		case i < 2 && r.Outcome != converge.Applied:
			t.Errorf("member %d: %s %s, want applied", i, r.Outcome, r.Error)
		case i == 2 && (r.Status != 503 || r.Outcome != converge.Failed):
			t.Errorf("member %d (stalled): %d %s, want 503 failed", i, r.Status, r.Outcome)
		case i > 2 && (r.Status != 503 || !strings.Contains(r.Error, "deadline ran out before this event's turn")):
			t.Errorf("member %d: %d %q, want 503 not handled", i, r.Status, r.Error)
		}
	}
	kpGrant := "encryption server-protect@" + te.Account + " → kms instance " + te.KPGUID + " in " + te.Account + " (Reader)"
	if diff := cmp.Diff([]string{kpGrant, restoreGrant(te.Restorer)}, e.Grants(), sortStrings); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}
}

var sortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })
