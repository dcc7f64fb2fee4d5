package delivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ActivityEvent is the part of an Activity Tracker (CADF) event the function reads. Only the
// action, the outcome and the target's CRN decide anything; the key type is a hint that can
// save a read.
type ActivityEvent struct {
	Action      string                     `json:"action"`
	Outcome     string                     `json:"outcome"`
	EventTime   string                     `json:"eventTime,omitempty"`
	Target      ActivityTarget             `json:"target"`
	RequestData map[string]json.RawMessage `json:"requestData,omitempty"`
}

// ActivityTarget is the resource the action was done to.
type ActivityTarget struct {
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	TypeURI string `json:"typeURI,omitempty"`
}

// KeyType is requestData.keyType, or "" when the event does not say it as a string. Its values
// are undocumented (Key Protect event docs, ibm-cloud-facts §4): whatever is not the known
// standard-key value leaves the key's type to be read, so a value of another JSON type is
// "not said", never an error.
func (e *ActivityEvent) KeyType() string {
	var t string
	if raw, ok := e.RequestData["keyType"]; ok && json.Unmarshal(raw, &t) == nil {
		return t
	}
	return ""
}

// Limits on what a payload may look like, well beyond any real event.
const (
	maxJSONDepth = 32
	maxWrapping  = 3 // an event inside a notification inside a CloudEvent, at most
)

// decodePayload finds the Activity Tracker event in a message body: the event itself, or a
// CloudEvent or Event Notifications notification whose data holds it. nil without error means
// the body is well-formed JSON but carries no Activity Tracker event: nothing to do.
func decodePayload(data []byte) (*ActivityEvent, error) {
	w, err := readPayload(data, true)
	if err != nil {
		return nil, err
	}
	return w.activity(0)
}

// payload is every field the decoder looks at, read in one pass: the Activity Tracker event's,
// and those of the envelopes that carry one.
type payload struct {
	Action      *string                    `json:"action"`
	Outcome     string                     `json:"outcome"`
	EventTime   string                     `json:"eventTime"`
	Target      ActivityTarget             `json:"target"`
	RequestData map[string]json.RawMessage `json:"requestData"`
	Data        json.RawMessage            `json:"data"`
	SpecVersion json.RawMessage            `json:"specversion"`
}

// readPayload decodes one JSON object; check is false for bytes already checked as part of an
// enclosing document.
func readPayload(data []byte, check bool) (*payload, error) {
	if check {
		if err := checkJSON(data); err != nil {
			return nil, err
		}
	}
	if first := bytes.TrimLeft(data, " \t\r\n"); len(first) == 0 || first[0] != '{' {
		return nil, errors.New("want a JSON object")
	}
	var w payload
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, describe(err)
	}
	return &w, nil
}

// activity is the Activity Tracker event in w, looking through up to maxWrapping envelopes
// that keep it under "data", possibly as a JSON string.
func (w *payload) activity(depth int) (*ActivityEvent, error) {
	switch {
	case w.Action != nil:
		if *w.Action == "" {
			return nil, errors.New("field action: empty")
		}
		return &ActivityEvent{Action: *w.Action, Outcome: w.Outcome, EventTime: w.EventTime, Target: w.Target, RequestData: w.RequestData}, nil
	case w.Data == nil:
		return nil, nil
	case depth >= maxWrapping:
		return nil, errors.New("event wrapped more than 3 deep")
	}
	inner, checked := []byte(w.Data), false
	var s string
	if json.Unmarshal(inner, &s) == nil {
		// A JSON string holds a document of its own, which nothing has checked yet.
		inner, checked = []byte(s), true
	}
	iw, err := readPayload(inner, checked)
	if err == nil {
		var ev *ActivityEvent
		if ev, err = iw.activity(depth + 1); err == nil {
			return ev, nil
		}
	}
	return nil, fmt.Errorf("data: %w", err)
}

// describe rewrites encoding/json's errors so that they name the field and what was wanted.
func describe(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("field %s: want %s, got %s", field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Errorf("malformed JSON at byte %d: %v", syntaxErr.Offset, err)
	}
	return err
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	}
	return goKind
}

// Abbreviate keeps hostile input from flooding error messages and logs.
func Abbreviate(s string) string {
	const keep = 100
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "…"
}
