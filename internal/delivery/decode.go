package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// CloudEvent types with a meaning of their own.
const (
	TypePing  = "dev.knative.sources.ping"             // Code Engine cron subscription: reconcile everything
	TypeKafka = "dev.knative.kafka.event"              // Code Engine Kafka subscription: data is the Kafka message
	TypeRaw   = "com.ibm.cloud.activity-tracker.event" // given to a plain Activity Tracker POST
)

// Delivery is one event as it arrived, whatever envelope carried it.
type Delivery struct {
	ID, Source, Type string
	// Tick asks for a full reconcile (cron subscription).
	Tick bool
	// Activity is the Activity Tracker event; nil when the event carries none.
	Activity *ActivityEvent
	// Err says why this delivery cannot be handled; retrying it cannot help.
	Err error
	// Event is the delivery as a CloudEvent (made up for plain POSTs), for recording and replay.
	Event *event.Event
}

// maxBatch bounds the members of one batch; a real subscription sends one event per request.
const maxBatch = 1000

// DecodeHTTP decodes one HTTP request body into its deliveries (several for a batch). The error
// is for a request that as a whole is not an event; a batch member that is bad is a Delivery
// with Err set, so that the other members are still handled.
func DecodeHTTP(header http.Header, body []byte) ([]Delivery, error) {
	msg := cehttp.NewMessage(header, io.NopCloser(bytes.NewReader(body)))
	switch msg.ReadEncoding() {
	case binding.EncodingBinary, binding.EncodingStructured:
		e, err := binding.ToEvent(context.Background(), msg)
		if err == nil {
			err = e.Validate()
		}
		if err != nil {
			return nil, fmt.Errorf("CloudEvent: %w", err)
		}
		return []Delivery{FromCloudEvent(*e)}, nil
	case binding.EncodingBatch:
		return decodeBatch(body)
	}
	if hasCloudEventHeaders(header) {
		return nil, fmt.Errorf("CloudEvent: unsupported ce-specversion %q (want 1.0 or 0.3)", Abbreviate(header.Get("ce-specversion")))
	}
	return []Delivery{DecodeJSON(body)}, nil
}

func hasCloudEventHeaders(h http.Header) bool {
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "ce-") {
			return true
		}
	}
	return false
}

func decodeBatch(body []byte) ([]Delivery, error) {
	if err := checkJSON(body); err != nil {
		return nil, fmt.Errorf("CloudEvents batch: %w", err)
	}
	var members []json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, fmt.Errorf("CloudEvents batch: want a JSON array of events: %w", describe(err))
	}
	if len(members) == 0 {
		return nil, errors.New("CloudEvents batch: empty")
	}
	if len(members) > maxBatch {
		return nil, fmt.Errorf("CloudEvents batch: %d events, more than %d", len(members), maxBatch)
	}
	out := make([]Delivery, len(members))
	for i, raw := range members {
		d, err := structuredEvent(raw)
		if err != nil {
			d = Delivery{Err: fmt.Errorf("batch member %d: %w", i, err)}
		}
		out[i] = d
	}
	return out, nil
}

// structuredEvent decodes one CloudEvent in JSON form.
func structuredEvent(raw []byte) (Delivery, error) {
	var e event.Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return Delivery{}, fmt.Errorf("CloudEvent: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Delivery{}, fmt.Errorf("CloudEvent: %w", err)
	}
	return FromCloudEvent(e), nil
}

// DecodeJSON decodes a body that came without CloudEvents framing: a bare Activity Tracker
// event, an Event Notifications notification, or a CloudEvent in JSON sent as plain JSON.
func DecodeJSON(body []byte) Delivery {
	w, err := readPayload(body, true)
	if err != nil {
		return Delivery{Err: err}
	}
	if w.SpecVersion != nil {
		d, err := structuredEvent(body)
		if err != nil {
			return Delivery{Err: err}
		}
		return d
	}
	ev, err := w.activity(0)
	if err != nil {
		return Delivery{Err: err}
	}
	if ev == nil {
		return Delivery{Err: errors.New("not an Activity Tracker event, a CloudEvent or an Event Notifications notification")}
	}
	return wrapActivity(ev, body)
}

// wrapActivity gives a bare Activity Tracker event the CloudEvent form a Kafka subscription would.
func wrapActivity(ev *ActivityEvent, body []byte) Delivery {
	e := event.New()
	e.SetID(syntheticID(body))
	e.SetSource("/s2s-authorizer/plain-post")
	e.SetType(TypeRaw)
	if t, err := time.Parse("2006-01-02T15:04:05.00-0700", ev.EventTime); err == nil {
		e.SetTime(t)
	}
	_ = e.SetData(event.ApplicationJSON, json.RawMessage(body))
	return Delivery{ID: e.ID(), Source: e.Source(), Type: e.Type(), Activity: ev, Event: &e}
}

// FromCloudEvent reads what a CloudEvent asks for.
func FromCloudEvent(e event.Event) Delivery {
	d := Delivery{ID: e.ID(), Source: e.Source(), Type: e.Type(), Event: &e}
	if e.Type() == TypePing {
		d.Tick = true
		return d
	}
	data := e.Data()
	if len(bytes.TrimSpace(data)) == 0 {
		if e.Type() == TypeKafka || strings.Contains(e.Type(), ".secrets.") || strings.Contains(e.Type(), ".tag.") {
			d.Err = fmt.Errorf("CloudEvent of type %s has no data", Abbreviate(e.Type()))
		}
		return d
	}
	d.Activity, d.Err = decodePayload(data)
	if d.Err != nil {
		d.Err = fmt.Errorf("data: %w", d.Err)
	}
	return d
}

// syntheticID names a plain POST by its content, so that the same event posted twice is
// recognised as a duplicate.
func syntheticID(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256-" + hex.EncodeToString(sum[:16])
}
