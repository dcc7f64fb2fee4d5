package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// ibmKafka is the header of a Code Engine Kafka subscription's delivery of an Event Routing
// message (ibm-cloud-facts §4): ce-id partition:N/offset:M, the four Kafka headers Event Routing
// adds as ce-kafkaheader* extensions, and no Content-Type.
func ibmKafka() http.Header {
	id := nextID()
	h := http.Header{}
	h.Set("ce-specversion", "1.0")
	h.Set("ce-id", "partition:0/"+strings.Replace(id, "-", ":", 1))
	h.Set("ce-subject", "partition:0#"+id)
	h.Set("ce-source", "/apis/v1/namespaces/2xq8w3k9pz1/kafkasources/at-events#activity-tracker")
	h.Set("ce-type", delivery.TypeKafka)
	h.Set("ce-kafkaheadertype", "audit")
	h.Set("ce-kafkaheaderaccount", te.Account)
	h.Set("ce-kafkaheaderregion", "us-south")
	h.Set("ce-kafkaheaderlocation", "us-south")
	return h
}

// ibmNotification is an Event Notifications payload as IBM sends it to an app destination:
// ibmen* fields (some not scalars) and a top-level notification_id.
func ibmNotification(data string) []byte {
	return []byte(`{"specversion":"1.0","id":"` + nextID() + `","source":"crn:v1:bluemix:public:event-notifications:us-south:a/` + te.Account + `:8c1d5e2f-3a4b-4c6d-9e8f-0a1b2c3d4e5f::",` +
		`"type":"com.ibm.cloud.logs.alert","time":"2026-11-20T10:16:05.001Z","datacontenttype":"application/json",` +
		`"ibmenseverity":"LOW","ibmensourceid":"8c1d5e2f:api","ibmendefaultshort":"alert","ibmendefaultlong":"an alert",` +
		`"ibmenpushto":{"platforms":["push_android"]},"notification_id":"7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","data":` + data + `}`)
}

func jsonHeader() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return h
}

// TestIBMDeliveries replays each delivery IBM really makes through the HTTP handler: the status,
// the outcome and its reason, the log line, and the policies afterwards.
func TestIBMDeliveries(t *testing.T) {
	hpcsGrant := "encryption server-protect@" + te.Account + " → hs-crypto instance " + te.HPCSGUID + " in " + te.Account + " (Reader)"
	kpGrant := "encryption server-protect@" + te.Account + " → kms instance " + te.KPGUID + " in " + te.Account + " (Reader)"
	sampleCRN := "crn:v1:::is::a/" + te.Account + "::snapshot:" + te.Snap
	tests := []struct {
		name        string
		world       *emulator.World
		method      string
		header      http.Header
		body        []byte
		wantStatus  int
		wantOutcome converge.Outcome
		wantReason  string // in the answer and the log line
		wantLevel   string
		want        []string // grants added
	}{
		{name: "Kafka subscription: tag attached", header: ibmKafka(), body: activity("is.tag.attach", te.SnapCRN, nil),
			wantStatus: 200, wantOutcome: converge.Applied, wantLevel: "info", want: []string{restoreGrant(te.Restorer)}},
		{name: "Kafka subscription: hs-crypto.secrets.purge", header: ibmKafka(), body: activity("hs-crypto.secrets.purge", te.HPCSKeyCRN, nil),
			wantStatus: 200, wantOutcome: converge.Applied, wantLevel: "info", want: []string{hpcsGrant}},
		{name: "Kafka subscription: undocumented keyType, a root key", header: ibmKafka(), body: activity("kms.secrets.create", te.RootKeyCRN, map[string]string{"keyType": "imported_root"}),
			wantStatus: 200, wantOutcome: converge.Applied, wantLevel: "info", want: []string{kpGrant}},
		{name: "Kafka subscription: undocumented keyType, a standard key", header: ibmKafka(), body: activity("kms.secrets.create", te.StdKeyCRN, map[string]string{"keyType": "Standard"}),
			wantStatus: 200, wantOutcome: converge.Ignored, wantReason: "standard key", wantLevel: "debug"},
		{name: "IBM's VPC sample: is.snapshot.create, CRN without cname or region", header: ibmKafka(), body: activity("is.snapshot.create", sampleCRN, nil),
			wantStatus: 200, wantOutcome: converge.Ignored, wantReason: "cannot name a real snapshot", wantLevel: "warn"},
		{name: "is.snapshot.create of a real snapshot", header: ibmKafka(), body: activity("is.snapshot.create", te.SnapCRN, nil),
			wantStatus: 200, wantOutcome: converge.Applied, wantLevel: "info", want: []string{restoreGrant(te.Restorer)}},
		{name: "snapshot that does not exist", world: withoutSnapshot(te.World(), te.Snap), header: ibmKafka(), body: activity("is.snapshot.snapshot.update", te.SnapCRN, nil),
			wantStatus: 200, wantOutcome: converge.Unchanged, wantReason: "snapshot " + te.Snap + " not found in us-south: nothing to grant", wantLevel: "info"},
		{name: "snapshot never in that region", header: ibmKafka(), body: activity("is.tag.attach", strings.Replace(te.SnapCRN, "us-south", "eu-de", 1), nil),
			wantStatus: 200, wantOutcome: converge.Unchanged, wantReason: "snapshot " + te.Snap + " not found in eu-de: nothing to grant", wantLevel: "info"},
		{name: "Event Notifications payload with notification_id", header: jsonHeader(), body: ibmNotification(`{"alert":"x"}`),
			wantStatus: 200, wantOutcome: converge.Ignored, wantReason: "carries no Activity Tracker event", wantLevel: "debug"},
		{name: "Event Notifications payload, structured mode", header: http.Header{"Content-Type": {"application/cloudevents+json"}}, body: ibmNotification(`{"alert":"x"}`),
			wantStatus: 200, wantOutcome: converge.Ignored, wantLevel: "debug"},
		{name: "Activity Tracker wrapped in a notification (a convenience)", header: jsonHeader(), body: ibmNotification(string(activity("is.tag.attach", te.SnapCRN, nil))),
			wantStatus: 200, wantOutcome: converge.Applied, wantLevel: "info", want: []string{restoreGrant(te.Restorer)}},
		{name: "Event Notifications destination with GET", method: http.MethodGet, header: http.Header{},
			wantStatus: 200, wantOutcome: converge.Ignored, wantReason: "a GET carries no event", wantLevel: "warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			world := tt.world
			if world == nil {
				world = te.World()
			}
			e := te.Start(t, world, nil)
			srv := e.HTTP(handlers.HTTPOptions{})
			before := e.Grants()
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			status, answer := te.Send(t, method, srv.URL, tt.header, tt.body)
			if status != tt.wantStatus || len(answer.Results) != 1 || answer.Results[0].Outcome != tt.wantOutcome {
				t.Fatalf("answer %d %+v, want %d %s", status, answer, tt.wantStatus, tt.wantOutcome)
			}
			if !strings.Contains(answer.Results[0].Reason, tt.wantReason) {
				t.Errorf("reason %q, want %q", answer.Results[0].Reason, tt.wantReason)
			}
			if line := eventLine(e.Logs); line == nil || line["outcome"] != string(tt.wantOutcome) || line["level"] != tt.wantLevel ||
				!strings.Contains(str(line["reason"]), tt.wantReason) {
				t.Errorf("log line %v, want outcome %s at %s with reason %q", line, tt.wantOutcome, tt.wantLevel, tt.wantReason)
			}
			if diff := cmp.Diff(append(before, tt.want...), e.Grants()); diff != "" {
				t.Errorf("policies (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCronTickWithEmptyBody: a Code Engine cron subscription's tick (empty body,
// Content-Length 0) is a tick.
func TestCronTickWithEmptyBody(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	ticks := 0
	s := handlers.NewService(e.Runtime.Converger, handlers.Options{Rules: e.Runtime.Config.Rules(), Tick: func(context.Context) string { ticks++; return "full reconcile started" }})
	srv := httptest.NewServer(s.NewHTTPHandler(handlers.HTTPOptions{}))
	defer srv.Close()
	h := http.Header{}
	h.Set("ce-specversion", "1.0")
	h.Set("ce-id", "c9f1e3a2-77b0-4d51-9a0e-5f3b2e1d0c9a")
	h.Set("ce-source", "/apis/v1/namespaces/2xq8w3k9pz1/pingsources/nightly-reconcile")
	h.Set("ce-type", delivery.TypePing)
	status, answer := te.Post(t, srv.URL, h, nil)
	if status != http.StatusAccepted || answer.Results[0].Outcome != converge.Accepted || ticks != 1 {
		t.Fatalf("answer %d %+v after %d ticks, want 202 accepted after 1", status, answer, ticks)
	}
}

// eventLine is the last "event" log line.
func eventLine(logs *te.Buffer) map[string]any {
	var last map[string]any
	for _, line := range logs.Lines() {
		if line["msg"] == "event" {
			last = line
		}
	}
	return last
}

func str(v any) string { s, _ := v.(string); return s }
