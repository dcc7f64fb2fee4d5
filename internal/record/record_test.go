package record_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/logging"
	"github.com/s2s-authorizer/s2s-authorizer/internal/record"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// activity is an Activity Tracker event with everything that identifies its initiator.
const activity = `{"action":"kms.secrets.create","outcome":"success","eventTime":"2026-11-20T10:15:04.12+0000",
"target":{"id":"` + "crn:v1:bluemix:public:kms:us-south:a/" + te.Account + ":" + te.KPGUID + ":key:" + te.RootKey + `","name":"volume-root-key"},
"initiator":{"id":"IBMid-270004XYZ1","name":"jane.doe@example.com","authnName":"jane.doe@example.com","authnId":"IBMid-270004XYZ1",
 "typeURI":"service/security/account/user","credential":{"type":"token","apikeyId":"ApiKey-1"},
 "host":{"address":"203.0.113.7","addressType":"IPv4","agent":"Mozilla/5.0"}},
"requestData":{"keyType":"root_key","instanceID":"3b05b403-8f51-4dac-9114-c777d0a760d4"},"reason":{"reasonCode":201}}`

// identifying are the values redaction must remove.
var identifying = []string{"IBMid-270004XYZ1", "jane.doe@example.com", "203.0.113.7", "Mozilla", "ApiKey-1"}

func newDelivery(t *testing.T, id, data string) delivery.Delivery {
	t.Helper()
	e := event.New()
	e.SetID(id)
	e.SetSource("/apis/v1/namespaces/ns/kafkasources/at#activity-tracker")
	e.SetType(delivery.TypeKafka)
	if err := e.SetData(event.ApplicationJSON, json.RawMessage(data)); err != nil {
		t.Fatal(err)
	}
	return delivery.FromCloudEvent(e)
}

var fixedClock = func() time.Time { return time.Date(2026, 11, 20, 10, 15, 5, 1000, time.UTC) }

var namePattern = regexp.MustCompile(`^20261120T101505\.000001000Z-[A-Za-z0-9_-]{1,64}(-[0-9]+)?\.json$`)

func TestFileNamesAreSafe(t *testing.T) {
	dir := t.TempDir()
	r := record.New(dir, record.Options{Now: fixedClock})
	tests := []struct{ id, want string }{
		{"partition:0/offset:4711", "20261120T101505.000001000Z-partition_0_offset_4711.json"},
		{"../../etc/passwd", "20261120T101505.000001000Z-______etc_passwd.json"},
		{"..", "20261120T101505.000001000Z-__.json"},
		{"", "20261120T101505.000001000Z-no-id.json"},
		{strings.Repeat("x", 200), "20261120T101505.000001000Z-" + strings.Repeat("x", 64) + ".json"},
		{"ключ\x00 id", "20261120T101505.000001000Z-______id.json"},
		// Collisions: other ids with the same name get a suffix, never overwrite.
		{"partition_0/offset:4711", "20261120T101505.000001000Z-partition_0_offset_4711-1.json"},
		{"partition:0_offset:4711", "20261120T101505.000001000Z-partition_0_offset_4711-2.json"},
	}
	for _, tt := range tests {
		path, err := r.Write(newDelivery(t, tt.id, activity))
		if err != nil {
			t.Fatalf("id %q: %v", tt.id, err)
		}
		if filepath.Dir(path) != dir || filepath.Base(path) != tt.want || !namePattern.MatchString(filepath.Base(path)) {
			t.Errorf("id %q: written to %s, want %s in %s", tt.id, path, tt.want, dir)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(tests) {
		t.Errorf("%d files, want %d", len(entries), len(tests))
	}
}

// TestRecordedFileReplaysAsTheEvent decodes a recorded file as replay does: same event, same
// Activity Tracker event, initiator redacted.
func TestRecordedFileReplaysAsTheEvent(t *testing.T) {
	for _, redact := range []bool{true, false} {
		dir := t.TempDir()
		d := newDelivery(t, "partition:0/offset:1", activity)
		path, err := record.New(dir, record.Options{Redact: redact}).Write(d)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		again := delivery.DecodeJSON(raw)
		if again.Err != nil || again.ID != d.ID || again.Source != d.Source || again.Type != d.Type ||
			again.Activity.Action != "kms.secrets.create" || again.Activity.Target.ID != d.Activity.Target.ID || again.Activity.Outcome != "success" {
			t.Fatalf("redact=%v: recorded file decodes to %+v, %v", redact, again, again.Err)
		}
		if kt := again.Activity.KeyType(); kt != "root_key" {
			t.Errorf("redact=%v: requestData.keyType = %q", redact, kt)
		}
		for _, secret := range identifying {
			if strings.Contains(string(raw), secret) == redact {
				t.Errorf("redact=%v: %q present=%v in\n%s", redact, secret, !redact, raw)
			}
		}
		if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
			t.Errorf("file mode %v, want 0600", info.Mode().Perm())
		}
	}
}

func TestRedact(t *testing.T) {
	kept := `"initiator":{"credential":{"type":"token"},"host":{"addressType":"IPv4"},"typeURI":"service/security/account/user"}`
	tests := []struct {
		name, in string
		want     []string // in the output
	}{
		{"Activity Tracker event", activity, []string{kept, `"action":"kms.secrets.create"`, `"keyType":"root_key"`, `"reasonCode":201`}},
		{"notification carrying the event", `{"specversion":"1.0","id":"n","data":` + activity + `}`, []string{kept, `"id":"n"`}},
		{"event as a JSON string", `{"data":` + strings.ReplaceAll(string(mustJSON(t, activity)), `\n`, ``) + `}`, []string{`\"typeURI\":\"service/security/account/user\"`}},
		{"scalar where an object belongs", `{"action":"a","initiator":{"host":"203.0.113.7","credential":"ApiKey-1"}}`, []string{`"initiator":{}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := string(record.Redact([]byte(tt.in)))
			for _, secret := range identifying {
				if strings.Contains(out, secret) {
					t.Errorf("%q survived: %s", secret, out)
				}
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %s: %s", want, out)
				}
			}
		})
	}
	for _, unchanged := range []string{`not json`, `{"initiator":{"id":"x"}}`, `[1,2]`} {
		if out := string(record.Redact([]byte(unchanged))); out != unchanged {
			t.Errorf("Redact(%s) = %s, want it unchanged", unchanged, out)
		}
	}
}

func mustJSON(t *testing.T, s string) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInvalidDataStaysValidJSON records an event whose JSON data is broken: the file holds it
// as data_base64, so that it is still a file replay can read, and decodes to the same rejection.
func TestInvalidDataStaysValidJSON(t *testing.T) {
	dir := t.TempDir()
	d := newDelivery(t, "bad", `{"x":1}`)
	d.Event.DataEncoded = []byte(`{"action":`)
	path, err := record.New(dir, record.Options{Redact: true}).Write(d)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !json.Valid(raw) || !strings.Contains(string(raw), `"data_base64"`) {
		t.Fatalf("recorded file:\n%s", raw)
	}
	if again := delivery.DecodeJSON(raw); again.Err == nil || !strings.Contains(again.Err.Error(), "data: malformed JSON") {
		t.Errorf("replayed: %v, want the data's error", again.Err)
	}
}

// TestRecordingInServe hooks the recorder into the HTTP handler: every event is written before
// it is handled, a directory that cannot be written only logs, and the event is still handled.
func TestRecordingInServe(t *testing.T) {
	attach := `{"action":"is.tag.attach","outcome":"success","target":{"id":"` + te.SnapCRN + `"},"initiator":{"id":"IBMid-270004XYZ1"}}`
	h := http.Header{}
	h.Set("Content-Type", "application/json")

	t.Run("writable directory, created on first use", func(t *testing.T) {
		env := te.Start(t, te.World(), nil)
		dir := filepath.Join(t.TempDir(), "recorded", "events")
		srv := env.HTTP(handlers.HTTPOptions{Record: record.New(dir, record.Options{Redact: true, Logger: env.Runtime.Logger}).Record})
		status, answer := te.Post(t, srv.URL, h, []byte(attach))
		if status != 200 || answer.Results[0].Outcome != converge.Applied {
			t.Fatalf("event: %d %+v", status, answer)
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 1 {
			t.Fatalf("recorded: %v, %v", entries, err)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, entries[0].Name()))
		if d := delivery.DecodeJSON(raw); d.ID != answer.Results[0].ID || strings.Contains(string(raw), "IBMid") {
			t.Errorf("recorded %s as %+v:\n%s", entries[0].Name(), d, raw)
		}
	})
	t.Run("failing directory", func(t *testing.T) {
		env := te.Start(t, te.World(), nil)
		notADir := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(notADir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		logs := &te.Buffer{}
		srv := env.HTTP(handlers.HTTPOptions{Record: record.New(notADir, record.Options{Logger: logging.New("info", logs)}).Record})
		status, answer := te.Post(t, srv.URL, h, []byte(attach))
		if status != 200 || answer.Results[0].Outcome != converge.Applied || len(env.Grants()) != 1 {
			t.Fatalf("event with a failing recorder: %d %+v", status, answer)
		}
		if !strings.Contains(logs.String(), `"msg":"record event"`) || !strings.Contains(logs.String(), `"level":"error"`) {
			t.Errorf("the failed write was not logged: %s", logs)
		}
	})
}
