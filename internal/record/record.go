// Package record writes the events serve receives to a directory, one structured CloudEvent
// file each, before they are handled, so that real traffic can be replayed later with
// `s2s-authorizer replay`. Recording is best effort: a write that fails is logged and never
// fails the event.
package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"go.uber.org/zap"
)

// Options configure a Recorder.
type Options struct {
	// Redact removes what identifies the person or machine behind an event (see Redact).
	Redact bool
	Logger *zap.Logger
	// Now is the clock that names files; time.Now when nil.
	Now func() time.Time
}

// Recorder writes deliveries to one directory. It is safe for concurrent use: file names are
// claimed with O_EXCL, so two events never share a file.
type Recorder struct {
	dir string
	o   Options
}

// New records into dir, which is created on the first write if missing.
func New(dir string, o Options) *Recorder {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Recorder{dir: dir, o: o}
}

// Record writes d, or logs why it could not; it is the serve hook (handlers.HTTPOptions.Record).
func (r *Recorder) Record(d delivery.Delivery) {
	path, err := r.Write(d)
	switch {
	case err != nil:
		r.o.Logger.Error("record event", zap.String("event_id", d.ID), zap.String("dir", r.dir), zap.Error(err))
	case path == "":
		r.o.Logger.Debug("record event: nothing to record", zap.String("event_id", d.ID))
	default:
		r.o.Logger.Debug("recorded event", zap.String("event_id", d.ID), zap.String("file", path))
	}
}

// maxIDInName bounds the part of a file name taken from the event ID.
const maxIDInName = 64

// maxCollisions is how many suffixes are tried when a name is taken.
const maxCollisions = 100

// Write writes d as a structured CloudEvent to <dir>/<time>-<id>.json and returns the path; ""
// without error when the delivery carries no CloudEvent (a batch member that did not decode).
func (r *Recorder) Write(d delivery.Delivery) (string, error) {
	if d.Event == nil {
		return "", nil
	}
	data, err := r.encode(*d.Event)
	if err != nil {
		return "", err
	}
	base := r.o.Now().UTC().Format("20060102T150405.000000000Z") + "-" + safeName(d.Event.ID())
	for attempt := 0; attempt < maxCollisions; attempt++ {
		name := base + ".json"
		if attempt > 0 {
			name = fmt.Sprintf("%s-%d.json", base, attempt)
		}
		path := filepath.Join(r.dir, name)
		err := writeNew(path, data)
		if errors.Is(err, fs.ErrNotExist) {
			if mkErr := os.MkdirAll(r.dir, 0o750); mkErr != nil {
				return "", fmt.Errorf("create the record directory: %w", mkErr)
			}
			err = writeNew(path, data)
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return path, nil
	}
	return "", fmt.Errorf("%s-*.json: %d names taken", filepath.Join(r.dir, base), maxCollisions)
}

// writeNew creates path, failing if it exists; recorded events may carry what an account
// would not show everyone, so only the owner reads them.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// encode renders the event as indented structured JSON. JSON data is written as JSON when it
// is valid, and as data_base64 when it is not, so that the file itself is always valid JSON.
func (r *Recorder) encode(e event.Event) ([]byte, error) {
	e = e.Clone()
	data := e.Data()
	if isJSON(e.DataMediaType()) && len(data) > 0 {
		if r.o.Redact {
			data = Redact(data)
		}
		e.DataEncoded = data
		e.DataBase64 = !json.Valid(data)
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode the event: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("encode the event: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func isJSON(mediaType string) bool {
	return mediaType == "" || mediaType == event.ApplicationJSON || mediaType == "text/json" || strings.HasSuffix(mediaType, "+json")
}

// safeName keeps letters, digits, '-' and '_' of an event ID, so that a name can never leave
// the directory, hide, or grow without bound; '.' goes too, so ".." cannot appear.
func safeName(id string) string {
	var b strings.Builder
	for _, c := range id {
		if b.Len() >= maxIDInName {
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "no-id"
	}
	return b.String()
}
