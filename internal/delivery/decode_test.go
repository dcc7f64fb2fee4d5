package delivery

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
)

const (
	acct    = fixture.Account
	keyCRN  = "crn:v1:bluemix:public:kms:us-south:a/" + acct + ":" + fixture.KPGUID + ":key:" + fixture.RootKey
	snapCRN = "crn:v1:bluemix:public:is:us-south:a/" + acct + "::snapshot:" + fixture.Snap
	atKey   = `{"action":"kms.secrets.create","outcome":"success","target":{"id":"` + keyCRN + `"},"requestData":{"keyType":"root_key"}}`
	atTag   = `{"action":"is.tag.attach","outcome":"success","target":{"id":"` + snapCRN + `"}}`
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestDecodeHTTP(t *testing.T) {
	binary := header("Content-Type", "application/json", "ce-specversion", "1.0", "ce-id", "o-1", "ce-source", "/kafka#at", "ce-type", TypeKafka)
	tests := []struct {
		name        string
		header      http.Header
		body        string
		wantErr     string   // whole request refused
		want        []string // per delivery: action, "tick", "none", or "err:<text>"
		wantID      string
		wantSources []string
	}{
		{name: "binary kafka", header: binary, body: atKey, want: []string{"kms.secrets.create"}, wantID: "o-1"},
		{
			name:   "structured kafka",
			header: header("Content-Type", "application/cloudevents+json"),
			body:   `{"specversion":"1.0","id":"o-2","source":"/k","type":"dev.knative.kafka.event","datacontenttype":"application/json","data":` + atTag + `}`,
			want:   []string{"is.tag.attach"}, wantID: "o-2",
		},
		{
			name:   "type is the action",
			header: header("Content-Type", "application/json", "ce-specversion", "1.0", "ce-id", "a", "ce-source", "/at", "ce-type", "kms.secrets.create"),
			body:   atKey, want: []string{"kms.secrets.create"},
		},
		{
			name:   "cron ping",
			header: header("Content-Type", "application/json", "ce-specversion", "1.0", "ce-id", "p", "ce-source", "/ping", "ce-type", TypePing),
			body:   `{"op":"reconcile"}`, want: []string{"tick"},
		},
		{name: "plain activity tracker post", header: header("Content-Type", "application/json"), body: atTag, want: []string{"is.tag.attach"}},
		{
			name:   "event notifications notification",
			header: header("Content-Type", "application/json"),
			body:   `{"specversion":"1.0","id":"en-1","source":"/en/src","type":"com.ibm.cloud.kms.secrets.create","ibmensourceid":"s","data":` + atKey + `}`,
			want:   []string{"kms.secrets.create"}, wantID: "en-1",
		},
		{
			name:   "event as a JSON string under data",
			header: header("Content-Type", "application/json"),
			body:   `{"data":"` + strings.ReplaceAll(atTag, `"`, `\"`) + `"}`,
			want:   []string{"is.tag.attach"},
		},
		{
			name:   "batch with a bad member",
			header: header("Content-Type", "application/cloudevents-batch+json"),
			body: `[{"specversion":"1.0","id":"b1","source":"/k","type":"dev.knative.kafka.event","data":` + atKey + `},` +
				`{"specversion":"1.0","source":"/k","type":"dev.knative.kafka.event","data":` + atTag + `},` +
				`{"specversion":"1.0","id":"b3","source":"/k","type":"dev.knative.kafka.event","data":` + atTag + `}]`,
			want: []string{"kms.secrets.create", "err:batch member 1", "is.tag.attach"},
		},
		{name: "unknown CloudEvent type without data", header: header("ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", "com.example.other"), want: []string{"none"}},
		{name: "kafka event without data", header: header("ce-specversion", "1.0", "ce-id", "x", "ce-source", "/s", "ce-type", TypeKafka), want: []string{"err:has no data"}},
		{name: "data not JSON", header: binary, body: `{"action":`, want: []string{"err:malformed JSON"}},
		{name: "wrong type for target", header: header("Content-Type", "application/json"), body: `{"action":"is.tag.attach","target":"crn"}`, want: []string{"err:field target: want object, got string"}},
		{name: "wrong type for action", header: header("Content-Type", "application/json"), body: `{"action":5}`, want: []string{"err:field action: want string, got number"}},
		{name: "empty body", header: header("Content-Type", "application/json"), body: "", want: []string{"err:empty body"}},
		{name: "duplicate keys", header: header("Content-Type", "application/json"), body: `{"action":"is.tag.attach","action":"kms.secrets.create"}`, want: []string{"err:duplicate key \"action\""}},
		{name: "duplicate keys, one escaped", header: header("Content-Type", "application/json"), body: `{"action":"is.tag.attach","\u0061ction":"kms.secrets.create"}`, want: []string{"err:duplicate key \"action\""}},
		{name: "duplicate keys in a large object", header: header("Content-Type", "application/json"), body: largeObject(40) + `,"k7":1}`, want: []string{"err:duplicate key \"k7\""}},
		{name: "a large object without duplicates", header: header("Content-Type", "application/json"), body: largeObject(40) + `,"action":"is.tag.attach","target":{"id":"x"}}`, want: []string{"is.tag.attach"}},
		{name: "same key in sibling objects is fine", header: header("Content-Type", "application/json"), body: `{"action":"is.tag.attach","target":{"id":"a"},"requestData":{"id":"b","x":{"id":"c"}}}`, want: []string{"is.tag.attach"}},
		{name: "deep nesting", header: header("Content-Type", "application/json"), body: strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), want: []string{"err:nested deeper than 32"}},
		{name: "two values", header: header("Content-Type", "application/json"), body: atTag + atTag, want: []string{"err:data after the first value"}},
		{name: "JSON but no event", header: header("Content-Type", "application/json"), body: `{"hello":"world"}`, want: []string{"err:not an Activity Tracker event"}},
		{name: "array body without batch type", header: header("Content-Type", "application/json"), body: `[1,2]`, want: []string{"err:want a JSON object"}},
		{name: "binary without id", header: header("ce-specversion", "1.0", "ce-source", "/s", "ce-type", TypeKafka), body: atKey, wantErr: "id"},
		{name: "binary without source", header: header("ce-specversion", "1.0", "ce-id", "1", "ce-type", TypeKafka), body: atKey, wantErr: "source"},
		{name: "binary without type", header: header("ce-specversion", "1.0", "ce-id", "1", "ce-source", "/s"), body: atKey, wantErr: "type"},
		{name: "unknown specversion", header: header("ce-specversion", "0.1", "ce-id", "1", "ce-source", "/s", "ce-type", TypeKafka), body: atKey, wantErr: "unsupported ce-specversion"},
		{name: "structured with unknown specversion", header: header("Content-Type", "application/cloudevents+json"), body: `{"specversion":"9.9","id":"1","source":"/s","type":"t"}`, wantErr: "CloudEvent"},
		{name: "empty batch", header: header("Content-Type", "application/cloudevents-batch+json"), body: `[]`, wantErr: "empty"},
		{name: "batch not an array", header: header("Content-Type", "application/cloudevents-batch+json"), body: `{}`, wantErr: "want a JSON array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := DecodeHTTP(tt.header, []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeHTTP: %v", err)
			}
			if len(ds) != len(tt.want) {
				t.Fatalf("%d deliveries, want %d", len(ds), len(tt.want))
			}
			for i, d := range ds {
				var got string
				switch {
				case d.Err != nil:
					got = "err:" + d.Err.Error()
				case d.Tick:
					got = "tick"
				case d.Activity == nil:
					got = "none"
				default:
					got = d.Activity.Action
				}
				if want := tt.want[i]; got != want && !(strings.HasPrefix(want, "err:") && strings.HasPrefix(got, "err:") && strings.Contains(got, want[4:])) {
					t.Errorf("delivery %d = %q, want %q", i, got, want)
				}
			}
			if tt.wantID != "" && ds[0].ID != tt.wantID {
				t.Errorf("ID = %q, want %q", ds[0].ID, tt.wantID)
			}
		})
	}
}

// largeObject is the start of an object with n distinct keys, without its closing brace.
func largeObject(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	return b.String()
}

func TestPlainPostIDIsStable(t *testing.T) {
	a, b := DecodeJSON([]byte(atTag)), DecodeJSON([]byte(atTag))
	if a.ID == "" || a.ID != b.ID {
		t.Errorf("the same plain event got IDs %q and %q; duplicates would not be recognised", a.ID, b.ID)
	}
	if c := DecodeJSON([]byte(atKey)); c.ID == a.ID {
		t.Errorf("different events share the ID %q", a.ID)
	}
	if a.Event == nil || a.Event.Type() != TypeRaw {
		t.Errorf("a plain post is not given its CloudEvent form: %v", a.Event)
	}
}

func TestJobDelivery(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantOK  bool
		want    string
		wantErr string
	}{
		{name: "nothing: reconcile", env: map[string]string{"HOME": "/"}},
		{name: "CE variables", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/k", "CE_TYPE": TypeKafka, "CE_SPECVERSION": "1.0", "CE_TIME": "2026-11-20T10:15:05Z", "CE_DATA": atKey}, wantOK: true, want: "kms.secrets.create"},
		{name: "cron tick", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/p", "CE_TYPE": TypePing, "CE_SPECVERSION": "1.0"}, wantOK: true, want: "tick"},
		{name: "event notifications", env: map[string]string{"ibmendata": `{"specversion":"1.0","id":"n","source":"/en","type":"t","data":` + atTag + `}`}, wantOK: true, want: "is.tag.attach"},
		{name: "no specversion", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/k", "CE_TYPE": TypeKafka}, wantOK: true, wantErr: "CE_SPECVERSION: missing"},
		{name: "bad specversion", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/k", "CE_TYPE": TypeKafka, "CE_SPECVERSION": "2"}, wantOK: true, wantErr: "CE_SPECVERSION"},
		{name: "bad time", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/k", "CE_TYPE": TypeKafka, "CE_SPECVERSION": "1.0", "CE_TIME": "yesterday"}, wantOK: true, wantErr: "CE_TIME"},
		{name: "no id", env: map[string]string{"CE_SOURCE": "/k", "CE_TYPE": TypeKafka, "CE_SPECVERSION": "1.0", "CE_DATA": atKey}, wantOK: true, wantErr: "id"},
		{name: "bad data", env: map[string]string{"CE_ID": "1", "CE_SOURCE": "/k", "CE_TYPE": TypeKafka, "CE_SPECVERSION": "1.0", "CE_DATA": "{"}, wantOK: true, wantErr: "malformed JSON"},
		{name: "bad ibmendata", env: map[string]string{"ibmendata": "nope"}, wantOK: true, wantErr: "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := JobDelivery(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if tt.wantErr != "" {
				if d.Err == nil || !strings.Contains(d.Err.Error(), tt.wantErr) {
					t.Fatalf("Err = %v, want %q", d.Err, tt.wantErr)
				}
				return
			}
			if d.Err != nil {
				t.Fatalf("Err = %v", d.Err)
			}
			switch {
			case tt.want == "tick" && !d.Tick:
				t.Errorf("not a tick")
			case tt.want != "" && tt.want != "tick" && (d.Activity == nil || d.Activity.Action != tt.want):
				t.Errorf("activity = %+v, want action %s", d.Activity, tt.want)
			}
		})
	}
}
