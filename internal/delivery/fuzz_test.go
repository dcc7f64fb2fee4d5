package delivery_test

import (
	"bufio"
	"bytes"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// maxErrorText bounds what a rejection may say: an error quotes hostile input only abbreviated,
// so that one request cannot flood the logs with what it sent.
const maxErrorText = 2048

// recordedBodies are the bodies of the project's recorded and hand-written events
// (testdata/events: *.json files whole, *.jsonl line by line), when the directory is there.
func recordedBodies(t testing.TB) [][]byte {
	var out [][]byte
	root := filepath.Join("..", "..", "testdata", "events")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch filepath.Ext(path) {
		case ".json":
			out = append(out, data)
		case ".jsonl":
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
					out = append(out, append([]byte(nil), line...))
				}
			}
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("reading %s: %v", root, err)
	}
	return out
}

// FuzzDecodeHTTP feeds the envelope decoder every combination of framing headers and body. It
// must never panic, and what it accepts must be usable: at least one delivery, each either
// refused with a short reason or carrying its CloudEvent, and an Activity Tracker event only
// with an action.
func FuzzDecodeHTTP(f *testing.F) {
	attach := te.Activity("is.tag.attach", te.SnapCRN, nil)
	f.Add("application/json", "1.0", "partition:0/offset:1", "/kafka", delivery.TypeKafka, attach)
	f.Add("application/cloudevents+json", "", "", "", "", te.Structured("fuzz-seed", delivery.TypeKafka, attach))
	f.Add("application/cloudevents-batch+json", "", "", "", "", []byte("["+string(te.Structured("fuzz-seed", delivery.TypeKafka, attach))+`,{"specversion":"1.0"}]`))
	f.Add("application/json", "0.3", "1", "/cron", delivery.TypePing, []byte(`{}`))
	f.Add("text/plain", "7.0", "", "", "", []byte(`{"action":"x"}`))
	for _, body := range recordedBodies(f) {
		f.Add("application/json", "", "", "", "", body)
		f.Add("application/cloudevents+json", "", "", "", "", body)
		f.Add("application/json", "1.0", "id-1", "/kafka", delivery.TypeKafka, body)
	}
	f.Fuzz(func(t *testing.T, contentType, specversion, id, source, typ string, body []byte) {
		h := http.Header{}
		for name, value := range map[string]string{"Content-Type": contentType, "Ce-Specversion": specversion, "Ce-Id": id, "Ce-Source": source, "Ce-Type": typ} {
			if value != "" {
				h.Set(name, value)
			}
		}
		deliveries, err := delivery.DecodeHTTP(h, body)
		if err != nil {
			if deliveries != nil {
				t.Errorf("deliveries %v with error %v", deliveries, err)
			}
			if len(err.Error()) > maxErrorText {
				t.Errorf("error of %d bytes: %.200s…", len(err.Error()), err)
			}
			return
		}
		if len(deliveries) == 0 || len(deliveries) > 1000 {
			t.Fatalf("%d deliveries without an error", len(deliveries))
		}
		for i, d := range deliveries {
			checkDelivery(t, i, d)
		}
	})
}

// FuzzDecodeJSON feeds bodies that came without CloudEvents framing. Besides the properties of
// FuzzDecodeHTTP: the same body always gets the same ID (duplicates are recognised by it), and
// whatever the classifier makes of an accepted event never concerns another account's object.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range [][]byte{
		te.Activity("is.tag.attach", te.SnapCRN, nil),
		te.Activity("kms.secrets.create", te.RootKeyCRN, map[string]string{"keyType": "root_key"}),
		te.Structured("fuzz-seed", "com.ibm.cloud.activity-tracker", te.Activity("is.snapshot.snapshot.delete", te.SnapCRN, nil)),
		[]byte(`{"data":"{\"action\":\"is.tag.detach\",\"outcome\":\"success\",\"target\":{\"id\":\"` + te.SnapCRN + `\"}}"}`),
		[]byte(`{"action":"a","action":"b"}`),
		[]byte(strings.Repeat("[", 40)),
	} {
		f.Add(seed)
	}
	for _, body := range recordedBodies(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d := delivery.DecodeJSON(body)
		checkDelivery(t, 0, d)
		if d.Err != nil {
			return
		}
		if again := delivery.DecodeJSON(body); again.ID != d.ID || again.Source != d.Source {
			t.Errorf("the same body decoded as %s/%s, then as %s/%s", d.Source, d.ID, again.Source, again.ID)
		}
		if d.Activity == nil {
			return
		}
		decision, err := delivery.Classify(d.Activity, authz.Rules{AccountID: te.Account, KMSScope: authz.ScopeInstance}, delivery.VPCRegions)
		if err != nil {
			if len(err.Error()) > maxErrorText {
				t.Errorf("classification error of %d bytes", len(err.Error()))
			}
			return
		}
		if o := decision.Object; o != nil && o.Target.Account != te.Account {
			t.Errorf("an event about %s (account %q) would be acted on", o.Target.CRN, o.Target.Account)
		}
		if decision.Object == nil && decision.Ignore == "" {
			t.Error("neither an object nor a reason to ignore the event")
		}
	})
}

func checkDelivery(t *testing.T, i int, d delivery.Delivery) {
	t.Helper()
	if d.Err != nil {
		if len(d.Err.Error()) > maxErrorText {
			t.Errorf("delivery %d: error of %d bytes: %.200s…", i, len(d.Err.Error()), d.Err)
		}
		return
	}
	if d.Event == nil {
		t.Errorf("delivery %d accepted without its CloudEvent", i)
	}
	if d.Activity != nil && d.Activity.Action == "" {
		t.Errorf("delivery %d: Activity Tracker event without an action", i)
	}
	if d.Tick && d.Activity != nil {
		t.Errorf("delivery %d is both a cron tick and an Activity Tracker event", i)
	}
}
