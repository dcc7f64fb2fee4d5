package delivery

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// ibmNotification is an Event Notifications payload in IBM's shape (Event Notifications
// "payload" docs): CloudEvents attributes, ibmen* fields, some of them not scalars, and a
// top-level notification_id that is not a valid CloudEvents attribute name.
func ibmNotification(data string) string {
	return `{"specversion":"1.0","id":"3f2c9a1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b","source":"crn:v1:bluemix:public:event-notifications:us-south:a/` + acct + `:8c1d5e2f-3a4b-4c6d-9e8f-0a1b2c3d4e5f::",` +
		`"type":"com.ibm.cloud.logs.alert","time":"2026-11-20T10:16:05.001Z","datacontenttype":"application/json",` +
		`"ibmenseverity":"LOW","ibmensourceid":"8c1d5e2f-3a4b-4c6d-9e8f-0a1b2c3d4e5f:api","ibmendefaultshort":"alert","ibmendefaultlong":"an alert",` +
		`"ibmenpushto":{"platforms":["push_android"]},"ibmenmailto":["ops@example.com"],` +
		`"notification_id":"7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","data":` + data + `}`
}

// TestDecodeIBMDeliveries decodes each delivery IBM makes (ibm-cloud-facts §4) as serve receives it.
func TestDecodeIBMDeliveries(t *testing.T) {
	kafkaHeaders := header("ce-specversion", "1.0", "ce-id", "partition:0/offset:167", "ce-subject", "partition:0#167",
		"ce-source", "/apis/v1/namespaces/2xq8w3k9pz1/kafkasources/at-events#activity-tracker", "ce-type", TypeKafka,
		"ce-kafkaheadertype", "audit", "ce-kafkaheaderaccount", acct, "ce-kafkaheaderregion", "us-south", "ce-kafkaheaderlocation", "us-south")
	tests := []struct {
		name    string
		header  http.Header
		body    string
		want    string // action, "tick" or "none"
		wantID  string
		wantExt map[string]string
	}{
		{name: "Kafka subscription, no Content-Type", header: kafkaHeaders, body: atKey, want: "kms.secrets.create", wantID: "partition:0/offset:167",
			wantExt: map[string]string{"kafkaheadertype": "audit", "kafkaheaderaccount": acct, "kafkaheaderregion": "us-south", "kafkaheaderlocation": "us-south"}},
		{name: "cron subscription, empty body", header: header("ce-specversion", "1.0", "ce-id", "c9f1e3a2", "ce-source", "/apis/v1/namespaces/p/pingsources/nightly", "ce-type", TypePing, "Content-Length", "0"), want: "tick"},
		{name: "Event Notifications, plain POST", header: header("Content-Type", "application/json"), body: ibmNotification(`{"alert":"x"}`), want: "none", wantID: "3f2c9a1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
			wantExt: map[string]string{"ibmenseverity": "LOW", "ibmensourceid": "8c1d5e2f-3a4b-4c6d-9e8f-0a1b2c3d4e5f:api"}},
		{name: "Event Notifications, structured", header: header("Content-Type", "application/cloudevents+json"), body: ibmNotification(`{"alert":"x"}`), want: "none"},
		{name: "Event Notifications, binary mode", header: header("ce-specversion", "1.0", "ce-id", "3f2c9a1e", "ce-source", "/en", "ce-type", "com.ibm.cloud.logs.alert",
			"ce-ibmenseverity", "LOW", "ce-notification_id", "7a1b2c3d", "Content-Type", "application/json"), body: `{"alert":"x"}`, want: "none", wantID: "3f2c9a1e",
			wantExt: map[string]string{"ibmenseverity": "LOW"}},
		{name: "Event Notifications carrying an event (a convenience)", header: header("Content-Type", "application/json"), body: ibmNotification(atTag), want: "is.tag.attach"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := DecodeHTTP(tt.header, []byte(tt.body))
			if err != nil || len(ds) != 1 || ds[0].Err != nil {
				t.Fatalf("DecodeHTTP: %v %+v", err, ds)
			}
			d := ds[0]
			switch {
			case tt.want == "tick" && !d.Tick, tt.want == "none" && (d.Tick || d.Activity != nil),
				tt.want != "tick" && tt.want != "none" && (d.Activity == nil || d.Activity.Action != tt.want):
				t.Fatalf("delivery %+v, want %s", d, tt.want)
			}
			if tt.wantID != "" && d.ID != tt.wantID {
				t.Errorf("id %q, want %q", d.ID, tt.wantID)
			}
			for name, want := range tt.wantExt {
				if got, _ := d.Event.Extensions()[name].(string); got != want {
					t.Errorf("extension %s = %q, want %q", name, got, want)
				}
			}
			if _, kept := d.Event.Extensions()["notification_id"]; kept {
				t.Errorf("notification_id kept as an extension")
			}
		})
	}
}

// TestCaseFoldedDuplicates: keys equal under simple case folding are one key, in every envelope.
func TestCaseFoldedDuplicates(t *testing.T) {
	ce := func(body string) string {
		return `{"specversion":"1.0","source":"/k","type":"` + TypeKafka + `",` + body + `}`
	}
	tests := []struct {
		name, contentType, body, wantErr string
	}{
		{"structured: id twice", "application/cloudevents+json", ce(`"id":"a","id":"b","data":{}`), `duplicate key "id"`},
		{"structured: ID beside id", "application/cloudevents+json", ce(`"id":"a","ID":"b","data":{}`), `duplicate key "ID" in a JSON object: the same as "id"`},
		{"structured: long s", "application/cloudevents+json", `{"specversion":"1.0","ſpecversion":"0.3","id":"a","source":"/k","type":"t"}`, `duplicate key "ſpecversion"`},
		{"batch member: id twice", "application/cloudevents-batch+json", "[" + ce(`"id":"a","id":"b"`) + "]", `duplicate key "id"`},
		{"plain: ACTION beside action", "application/json", `{"action":"iam.x","ACTION":"is.tag.attach","outcome":"success"}`, `duplicate key "ACTION"`},
		{"plain: Kelvin sign", "application/json", `{"kind":"a","` + "\u212a" + `ind":"b","action":"x"}`, "duplicate key"},
		{"plain, many keys: Id among 40", "application/json", largeObject(40) + `,"id":1,"Id":2}`, `duplicate key "Id"`},
		{"notification: data twice", "application/json", `{"specversion":"1.0","id":"n","source":"/en","type":"t","data":{},"Data":` + atTag + `}`, `duplicate key "Data"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := DecodeHTTP(header("Content-Type", tt.contentType), []byte(tt.body))
			if err == nil && len(ds) == 1 {
				err = ds[0].Err
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
	// Keys that only look alike are different keys.
	if ds, err := DecodeHTTP(header("Content-Type", "application/json"), []byte(`{"action":"is.tag.attach","actions":1,"target":{"id":"x"},"requestData":{"Id":1}}`)); err != nil || ds[0].Err != nil {
		t.Errorf("distinct keys refused: %v %v", err, ds[0].Err)
	}
}

// TestAttributeBounds: id, source and type longer than MaxAttributeBytes are refused, naming the
// limit, in every envelope; the refusal keeps only the first bytes.
func TestAttributeBounds(t *testing.T) {
	long := strings.Repeat("x", MaxAttributeBytes+1)
	ok := strings.Repeat("x", MaxAttributeBytes)
	tests := []struct {
		name    string
		header  http.Header
		body    string
		wantErr string
	}{
		{"binary id", header("ce-specversion", "1.0", "ce-id", long, "ce-source", "/k", "ce-type", TypeKafka), atKey, "CloudEvent id: 257 bytes, more than the limit of 256"},
		{"binary source", header("ce-specversion", "1.0", "ce-id", "1", "ce-source", "/"+long, "ce-type", TypeKafka), atKey, "CloudEvent source: 258 bytes"},
		{"structured id", header("Content-Type", "application/cloudevents+json"), `{"specversion":"1.0","id":"` + long + `","source":"/k","type":"t"}`, "CloudEvent id: 257 bytes"},
		{"batch member type", header("Content-Type", "application/cloudevents-batch+json"), `[{"specversion":"1.0","id":"1","source":"/k","type":"` + long + `"}]`, "batch member 0: CloudEvent type: 257 bytes"},
		{"notification id", header("Content-Type", "application/json"), `{"specversion":"1.0","id":"` + long + `","source":"/en","type":"t","data":{}}`, "CloudEvent id: 257 bytes"},
		{"at the limit", header("ce-specversion", "1.0", "ce-id", ok, "ce-source", "/k", "ce-type", TypeKafka), atKey, ""},
		{"ce-id twice", http.Header{"Ce-Id": {"a", "b"}, "Ce-Specversion": {"1.0"}, "Ce-Source": {"/k"}, "Ce-Type": {TypeKafka}}, atKey, "header ce-id given 2 times"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := DecodeHTTP(tt.header, []byte(tt.body))
			if err == nil && len(ds) == 1 {
				err = ds[0].Err
				if len(ds[0].ID) > MaxAttributeBytes+len("…") || len(ds[0].Type) > MaxAttributeBytes+len("…") {
					t.Errorf("refusal kept %d bytes of id", len(ds[0].ID))
				}
				if err != nil && ds[0].Event != nil {
					t.Errorf("refused delivery keeps its event")
				}
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused at the limit: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestJobEnvironments: a job run's full environment (ibm-cloud-facts §4), for each subscription.
func TestJobEnvironments(t *testing.T) {
	common := map[string]string{"CE_JOB": "s2s-authorizer-job", "CE_JOBRUN": "s2s-authorizer-job-run-7x2kq", "JOB_INDEX": "0", "HOME": "/root"}
	tests := []struct {
		name   string
		env    map[string]string
		wantOK bool
		want   string
	}{
		{"job run without an event", map[string]string{}, false, ""},
		{"Kafka subscription", map[string]string{"CE_DATA": atKey, "CE_DOMAIN": "cloud.ibm.com", "CE_ID": "partition:2/offset:7",
			"CE_SOURCE": "/apis/v1/namespaces/p/kafkasources/at-events#activity-tracker", "CE_SPECVERSION": "1.0", "CE_SUBDOMAIN": "kafka",
			"CE_SUBJECT": "partition:2#7", "CE_TIME": "2026-11-21T10:15:05.001Z", "CE_TYPE": TypeKafka}, true, "kms.secrets.create"},
		{"cron subscription", map[string]string{"CE_DATA": "", "CE_DOMAIN": "cloud.ibm.com", "CE_ID": "c9f1e3a2", "CE_SOURCE": "/apis/v1/namespaces/p/pingsources/nightly",
			"CE_SPECVERSION": "1.0", "CE_SUBDOMAIN": "ping", "CE_SUBJECT": "", "CE_TIME": "2026-11-25T03:00:00Z", "CE_TYPE": TypePing, "CONTENT_TYPE": "application/json"}, true, "tick"},
		{"cron subscription with --data", map[string]string{"CE_DATA": `{"op":"reconcile"}`, "CE_ID": "c9f1e3a3", "CE_SOURCE": "/apis/v1/namespaces/p/pingsources/nightly",
			"CE_SPECVERSION": "1.0", "CE_TIME": "2026-11-25T03:00:00Z", "CE_TYPE": TypePing, "CONTENT_TYPE": "application/json"}, true, "tick"},
		{"Event Notifications", map[string]string{"ibmendata": ibmNotification(`{"alert":"x"}`)}, true, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range common {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			d, ok := JobDelivery(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if ok != tt.wantOK || d.Err != nil {
				t.Fatalf("ok %v, err %v; want ok %v", ok, d.Err, tt.wantOK)
			}
			switch {
			case !ok:
			case tt.want == "tick" && !d.Tick, tt.want == "none" && (d.Tick || d.Activity != nil),
				tt.want != "tick" && tt.want != "none" && (d.Activity == nil || d.Activity.Action != tt.want):
				t.Errorf("delivery %+v, want %s", d, tt.want)
			}
		})
	}
}

// TestClassifyIBMEdges: what IBM's own events and documents imply for classification.
func TestClassifyIBMEdges(t *testing.T) {
	const (
		hpcsKeyCRN = "crn:v1:bluemix:public:hs-crypto:us-south:a/" + acct + ":0a1b2c3d-0000-4000-8000-000000000001:key:k-1"
		sampleCRN  = "crn:v1:::is::a/" + acct + "::snapshot:r006-1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b"
		noRegion   = "crn:v1:bluemix:public:is::a/" + acct + "::snapshot:r006-1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b"
	)
	inRegion := func(c, region string) string { return strings.Replace(c, ":us-south:", ":"+region+":", 1) }
	tests := []struct {
		name         string
		action       string
		target       string
		keyType      string // raw JSON
		wantKind     authz.ObjectKind
		wantKeyType  string
		wantIgnore   string
		wantOutScope bool
	}{
		{name: "hs-crypto purge", action: "hs-crypto.secrets.purge", target: hpcsKeyCRN, wantKind: authz.ObjectKMSKey},
		{name: "short snapshot action", action: "is.snapshot.create", target: snapCRN, wantKind: authz.ObjectSnapshot},
		{name: "IBM's sample CRN, no cname nor region", action: "is.snapshot.create", target: sampleCRN, wantIgnore: "cannot name a real snapshot"},
		{name: "snapshot CRN without region", action: "is.snapshot.snapshot.update", target: noRegion, wantIgnore: "cannot name a real snapshot"},
		{name: "tag on a snapshot CRN without region", action: "is.tag.attach", target: noRegion, wantIgnore: "cannot name a real snapshot"},
		{name: "unknown keyType value", action: "kms.secrets.create", target: keyCRN, keyType: `"imported_root_key"`, wantKind: authz.ObjectKMSKey, wantKeyType: "imported_root_key"},
		{name: "keyType in another case", action: "kms.secrets.create", target: keyCRN, keyType: `"Standard_Key"`, wantKind: authz.ObjectKMSKey, wantKeyType: "Standard_Key"},
		{name: "snapshot in a made-up region", action: "is.snapshot.snapshot.create", target: inRegion(snapCRN, "mars-1"), wantIgnore: `location "mars-1" is not a VPC region`},
		{name: "key in a made-up region", action: "kms.secrets.create", target: inRegion(keyCRN, "mars-1"), wantIgnore: `location "mars-1" is not a VPC region`},
		{name: "snapshot in a VPC region outside IBMCLOUD_REGIONS", action: "is.tag.attach", target: inRegion(snapCRN, "eu-gb"), wantIgnore: "out_of_scope: snapshot in eu-gb", wantOutScope: true},
		{name: "key in a VPC region outside IBMCLOUD_REGIONS (the reconcile lists every instance)", action: "kms.secrets.delete", target: inRegion(keyCRN, "eu-gb"), wantKind: authz.ObjectKMSKey},
		{name: "snapshot in a configured region IBM's list lacks", action: "is.tag.attach", target: inRegion(snapCRN, "kr-seo"), wantKind: authz.ObjectSnapshot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &ActivityEvent{Action: tt.action, Outcome: "success", Target: ActivityTarget{ID: tt.target}}
			if tt.keyType != "" {
				ev.RequestData = map[string]json.RawMessage{"keyType": json.RawMessage(tt.keyType)}
			}
			d, err := Classify(ev, authz.Rules{AccountID: acct, KMSScope: authz.ScopeInstance}, []string{"us-south", "kr-seo"})
			if err != nil {
				t.Fatalf("Classify: %v", err)
			}
			if tt.wantIgnore != "" {
				if d.Object != nil || !strings.Contains(d.Ignore, tt.wantIgnore) || !d.Warn || d.OutOfScope != tt.wantOutScope {
					t.Fatalf("decision %+v, want ignored with a warning: %q (out of scope %v)", d, tt.wantIgnore, tt.wantOutScope)
				}
				return
			}
			if d.Object == nil || d.Object.Target.Kind != tt.wantKind || d.Object.KeyType != tt.wantKeyType {
				t.Fatalf("decision %+v, want %s with key type %q", d, tt.wantKind, tt.wantKeyType)
			}
		})
	}
}
