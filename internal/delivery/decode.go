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

// CloudEvent types with a meaning of their own, as Code Engine's subscriptions send them
// (ibm-cloud-docs/codeengine, "Working with the Periodic timer (cron) event producer" and "…Kafka
// event producer"; facts file, section 4).
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

// MaxAttributeBytes bounds an event's id, source and type. IBM's senders stay far below it
// (a Kafka subscription's id is "partition:N/offset:M", its source
// "/apis/v1/namespaces/<project>/kafkasources/<name>#<topic>"; Event Notifications' id is a
// UUID and its source a CRN: ibm-cloud-facts §4 after the Code Engine and Event Notifications
// docs). Longer values are bad input: they are refused before anything keeps them (the
// duplicate filter, the recorder, the log line).
const MaxAttributeBytes = 256

// DecodeHTTP decodes one HTTP request body into its deliveries (several for a batch). The error
// is for a request that as a whole is not an event; a batch member that is bad is a Delivery
// with Err set, so that the other members are still handled.
func DecodeHTTP(header http.Header, body []byte) ([]Delivery, error) {
	if err := checkCloudEventHeaders(header); err != nil {
		return nil, err
	}
	msg := cehttp.NewMessage(header, io.NopCloser(bytes.NewReader(body)))
	switch msg.ReadEncoding() {
	case binding.EncodingBinary:
		if h, dropped := validExtensionHeaders(header); dropped {
			// Event Notifications may send its notification_id in binary mode too.
			msg = cehttp.NewMessage(h, io.NopCloser(bytes.NewReader(body)))
		}
		e, err := binding.ToEvent(context.Background(), msg)
		if err == nil {
			err = e.Validate()
		}
		if err != nil {
			return nil, fmt.Errorf("CloudEvent: %w", err)
		}
		return []Delivery{FromCloudEvent(*e)}, nil
	case binding.EncodingStructured:
		// Decoded here, not by the SDK: its decoder neither checks duplicate keys nor accepts
		// Event Notifications' notification_id.
		if err := checkJSON(body); err != nil {
			return nil, fmt.Errorf("CloudEvent: %w", err)
		}
		d, err := structuredEvent(body)
		if err != nil {
			return nil, err
		}
		return []Delivery{d}, nil
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

// checkCloudEventHeaders refuses a ce- header that arrives twice: HTTP header names are
// case-insensitive, so "ce-id" and "CE-ID" are one header with two values, and the SDK would
// silently take one of them.
func checkCloudEventHeaders(h http.Header) error {
	for name, values := range h {
		if len(values) > 1 && strings.HasPrefix(strings.ToLower(name), "ce-") {
			return fmt.Errorf("CloudEvent: header %s given %d times (header names are case-insensitive)", Abbreviate(strings.ToLower(name)), len(values))
		}
	}
	return nil
}

// validExtensionHeaders is header without the ce- headers whose name cannot be a CloudEvents
// attribute (ce-notification_id), which the SDK would refuse the whole event for; dropped says
// whether there were any.
func validExtensionHeaders(header http.Header) (http.Header, bool) {
	invalid := func(name string) bool {
		lower := strings.ToLower(name)
		return strings.HasPrefix(lower, "ce-") && !event.IsExtensionNameValid(lower[len("ce-"):])
	}
	found := false
	for name := range header {
		if invalid(name) {
			found = true
			break
		}
	}
	if !found {
		return header, false
	}
	out := http.Header{}
	for name, values := range header {
		if !invalid(name) {
			out[name] = values
		}
	}
	return out, true
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
			d = Delivery{Err: err}
		}
		if d.Err != nil {
			d.Err = fmt.Errorf("batch member %d: %w", i, d.Err)
		}
		out[i] = d
	}
	return out, nil
}

// cloudEventAttributes are the attribute names of CloudEvents 1.0 and 0.3 that are not
// extensions (and data, data_base64, which carry the data).
var cloudEventAttributes = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true, "time": true,
	"datacontenttype": true, "dataschema": true, "schemaurl": true, "datacontentencoding": true,
	"data": true, "data_base64": true,
}

// structuredEvent decodes one CloudEvent in JSON form, already checked by checkJSON. Members
// that cannot be CloudEvents extensions are dropped instead of failing the event: Event
// Notifications puts a top-level notification_id in every payload (not a valid attribute name:
// Event Notifications "payload" docs, ibm-cloud-facts §4), and extension values must be
// strings, numbers or booleans. Nothing this function reads is among them.
func structuredEvent(raw []byte) (Delivery, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return Delivery{}, fmt.Errorf("CloudEvent: want a JSON object: %w", describe(err))
	}
	dropped := false
	for name, value := range members {
		if cloudEventAttributes[name] {
			continue
		}
		if !event.IsExtensionNameValid(name) || !scalarJSON(value) {
			delete(members, name)
			dropped = true
		}
	}
	if dropped {
		var err error
		if raw, err = json.Marshal(members); err != nil {
			return Delivery{}, fmt.Errorf("CloudEvent: %w", err)
		}
	}
	var e event.Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return Delivery{}, fmt.Errorf("CloudEvent: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Delivery{}, fmt.Errorf("CloudEvent: %w", err)
	}
	return FromCloudEvent(e), nil
}

// scalarJSON reports whether a JSON value is a string, a number or a boolean.
func scalarJSON(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case '{', '[', 'n':
		return false
	}
	return true
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
	if err := checkAttributes(e); err != nil {
		// Neither the event nor its attributes are kept: only their first bytes, for the answer.
		return Delivery{ID: Abbreviate(e.ID()), Source: Abbreviate(e.Source()), Type: Abbreviate(e.Type()), Err: err}
	}
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

// checkAttributes bounds the attributes that are remembered and logged.
func checkAttributes(e event.Event) error {
	for _, a := range []struct{ name, value string }{{"id", e.ID()}, {"source", e.Source()}, {"type", e.Type()}} {
		if len(a.value) > MaxAttributeBytes {
			return fmt.Errorf("CloudEvent %s: %d bytes, more than the limit of %d", a.name, len(a.value), MaxAttributeBytes)
		}
	}
	return nil
}

// syntheticID names a plain POST by its content, so that the same event posted twice is
// recognised as a duplicate.
func syntheticID(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256-" + hex.EncodeToString(sum[:16])
}
