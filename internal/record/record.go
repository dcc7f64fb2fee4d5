// Package record writes the events serve receives to a directory, one structured CloudEvent
// file each, before they are handled, so that real traffic can be replayed later with
// `s2s-authorizer replay`. Recording is best effort: a write that fails is logged and never
// fails the event. It is bounded: a redelivered event is not written again, the directory
// holds at most Options.MaxBytes, and what looks like a credential never reaches a file.
package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	// MaxBytes bounds the bytes of the directory's files, those there before included; once
	// reached, events are no longer recorded (and that is logged once). DefaultMaxBytes when 0.
	MaxBytes int64
}

// DefaultMaxBytes is the recording quota unless configured: some thousand events.
const DefaultMaxBytes = 64 << 20

// rememberedIDs is how many recorded (source, id) pairs are remembered to skip redeliveries.
const rememberedIDs = 10000

// Recorder writes deliveries to one directory. It is safe for concurrent use: file names are
// claimed with O_EXCL, so two events never share a file.
type Recorder struct {
	dir string
	o   Options

	mu        sync.Mutex
	used      int64 // bytes in the directory; -1 until counted
	warned    bool  // the quota was reported
	seen      map[[sha256.Size]byte]bool
	seenOrder [][sha256.Size]byte // oldest first, for eviction
}

// New records into dir, which is created on the first write if missing.
func New(dir string, o Options) *Recorder {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	return &Recorder{dir: dir, o: o, used: -1, seen: map[[sha256.Size]byte]bool{}}
}

// Record writes d, or logs why it could not; it is the serve hook (handlers.HTTPOptions.Record).
func (r *Recorder) Record(d delivery.Delivery) {
	path, skip, err := r.write(d)
	switch {
	case err != nil:
		r.o.Logger.Error("record event", zap.String("event_id", d.ID), zap.String("dir", r.dir), zap.Error(err))
	case skip == skipQuota:
		r.mu.Lock()
		first := !r.warned
		r.warned = true
		r.mu.Unlock()
		if first {
			r.o.Logger.Warn("record event: quota reached, no more events are recorded", zap.String("dir", r.dir), zap.Int64("max_bytes", r.o.MaxBytes))
		}
	case path == "":
		r.o.Logger.Debug("record event: not recorded", zap.String("event_id", d.ID), zap.String("reason", skip))
	default:
		r.o.Logger.Debug("recorded event", zap.String("event_id", d.ID), zap.String("file", path))
	}
}

// maxIDInName bounds the part of a file name taken from the event ID.
const maxIDInName = 64

// maxCollisions is how many suffixes are tried when a name is taken.
const maxCollisions = 100

// Reasons a delivery is not written.
const (
	skipNoEvent   = "carries no CloudEvent"
	skipDuplicate = "recorded before"
	skipQuota     = "quota reached"
)

// Write writes d as a structured CloudEvent to <dir>/<time>-<id>.json and returns the path; ""
// without error when there is nothing to write: the delivery carries no CloudEvent (a batch
// member that did not decode), it was recorded before, or the quota is reached.
func (r *Recorder) Write(d delivery.Delivery) (string, error) {
	path, _, err := r.write(d)
	return path, err
}

func (r *Recorder) write(d delivery.Delivery) (path, skip string, err error) {
	if d.Event == nil {
		return "", skipNoEvent, nil
	}
	key := sha256.Sum256([]byte(d.Event.Source() + "\x00" + d.Event.ID()))
	data, err := r.encode(*d.Event)
	if err != nil {
		return "", "", err
	}
	if skip := r.reserve(key, int64(len(data))); skip != "" {
		return "", skip, nil
	}
	path, err = r.create(d, data)
	if err != nil {
		r.release(key, int64(len(data)))
		return "", "", err
	}
	return path, "", nil
}

// reserve claims size bytes of the quota and the event's key, or says why not.
func (r *Recorder) reserve(key [sha256.Size]byte, size int64) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[key] {
		return skipDuplicate
	}
	if r.used < 0 {
		r.used = dirBytes(r.dir)
	}
	if r.used+size > r.o.MaxBytes {
		return skipQuota
	}
	r.used += size
	r.seen[key] = true
	r.seenOrder = append(r.seenOrder, key)
	if len(r.seenOrder) > rememberedIDs {
		delete(r.seen, r.seenOrder[0])
		r.seenOrder = r.seenOrder[1:]
	}
	return ""
}

// release gives back what reserve claimed, after a write that failed.
func (r *Recorder) release(key [sha256.Size]byte, size int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.used -= size
	delete(r.seen, key)
}

// dirBytes is the size of the files in dir; 0 when it does not exist yet.
func dirBytes(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

func (r *Recorder) create(d delivery.Delivery, data []byte) (string, error) {
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
	redactCredentials(&e)
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

// credentialWords mark an extension that may hold a credential: a sender can put any header
// into a binary-mode event as ce-<name> (a token sent as ce-authorization becomes the
// extension "authorization"), and such values must never reach a file.
var credentialWords = []string{"auth", "token", "secret", "key", "password", "passwd", "cookie", "credential", "session", "signature", "bearer"}

// Redacted replaces the value of an extension that looks like a credential.
const Redacted = "[redacted]"

// redactCredentials replaces, always (whatever Options.Redact says), the value of every
// extension whose name looks like a credential's.
func redactCredentials(e *event.Event) {
	for name := range e.Extensions() {
		lower := strings.ToLower(name)
		for _, w := range credentialWords {
			if strings.Contains(lower, w) {
				e.SetExtension(name, Redacted)
				break
			}
		}
	}
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
