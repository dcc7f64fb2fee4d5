package record_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/logging"
	"github.com/s2s-authorizer/s2s-authorizer/internal/record"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

func kafkaHeader(id string, extra ...string) http.Header {
	h := http.Header{}
	h.Set("ce-specversion", "1.0")
	h.Set("ce-id", id)
	h.Set("ce-source", "/apis/v1/namespaces/p/kafkasources/at-events#activity-tracker")
	h.Set("ce-type", delivery.TypeKafka)
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

func recorded(t *testing.T, dir string) (files []string, bytes int64) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, string(raw))
		bytes += int64(len(raw))
	}
	return files, bytes
}

// TestRecordingLimits sends events through serve's handler with recording on: credential-like
// headers never reach a file, a redelivery is not written again, and the quota holds; the
// events are handled all the same.
func TestRecordingLimits(t *testing.T) {
	const secret = "s3cr3t-event-token-value"
	attach := te.Activity("is.tag.attach", te.SnapCRN, nil)
	t.Run("credential-like headers are redacted", func(t *testing.T) {
		env := te.Start(t, te.World(), nil)
		dir := t.TempDir()
		// Redact off: the credential redaction does not depend on it.
		srv := env.HTTP(handlers.HTTPOptions{Record: record.New(dir, record.Options{Logger: env.Runtime.Logger}).Record})
		h := kafkaHeader("partition:0/offset:1", "ce-authorization", "Bearer "+secret, "ce-xapitoken", secret, "ce-clientsecret", secret,
			"ce-apikey", secret, "ce-cookie", secret, "ce-kafkaheaderaccount", te.Account)
		if status, answer := te.Post(t, srv.URL, h, attach); status != 200 || answer.Results[0].Outcome != converge.Applied {
			t.Fatalf("event: %d %+v", status, answer)
		}
		files, _ := recorded(t, dir)
		if len(files) != 1 {
			t.Fatalf("%d files, want 1", len(files))
		}
		if strings.Contains(files[0], secret) {
			t.Errorf("a credential reached the file:\n%s", files[0])
		}
		for _, want := range []string{`"authorization": "[redacted]"`, `"apikey": "[redacted]"`, `"kafkaheaderaccount": "` + te.Account + `"`} {
			if !strings.Contains(files[0], want) {
				t.Errorf("file lacks %s:\n%s", want, files[0])
			}
		}
	})
	t.Run("a redelivery is recorded once", func(t *testing.T) {
		env := te.Start(t, te.World(), nil)
		dir := t.TempDir()
		srv := env.HTTP(handlers.HTTPOptions{Record: record.New(dir, record.Options{}).Record})
		for range 3 {
			if status, _ := te.Post(t, srv.URL, kafkaHeader("partition:0/offset:2"), attach); status != 200 {
				t.Fatalf("status %d", status)
			}
		}
		if files, _ := recorded(t, dir); len(files) != 1 {
			t.Errorf("%d files for one event delivered 3 times, want 1", len(files))
		}
	})
	t.Run("the quota holds, files there before included", func(t *testing.T) {
		env := te.Start(t, te.World(), nil)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "old.json"), []byte(strings.Repeat(" ", 2000)), 0o600); err != nil {
			t.Fatal(err)
		}
		const quota = 6000
		logs := &te.Buffer{}
		srv := env.HTTP(handlers.HTTPOptions{Record: record.New(dir, record.Options{MaxBytes: quota, Logger: loggerTo(logs)}).Record})
		for i := range 20 {
			status, answer := te.Post(t, srv.URL, kafkaHeader("partition:0/offset:"+string(rune('a'+i))), attach)
			if status != 200 || answer.Results[0].Outcome == converge.Failed {
				t.Fatalf("event %d: %d %+v", i, status, answer)
			}
		}
		files, n := recorded(t, dir)
		if n > quota || len(files) < 2 || len(files) > 10 {
			t.Errorf("%d files of %d bytes, want at most %d bytes", len(files), n, quota)
		}
		if c := strings.Count(logs.String(), "quota reached"); c != 1 {
			t.Errorf("quota reported %d times, want once:\n%s", c, logs)
		}
	})
}

func loggerTo(b *te.Buffer) *zap.Logger { return logging.New("info", b) }
