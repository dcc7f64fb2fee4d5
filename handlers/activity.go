// Package handlers turns deliveries into work: it decodes every envelope an event can arrive in
// (CloudEvents in binary, structured and batch mode, Code Engine Kafka and cron subscriptions,
// Event Notifications, plain Activity Tracker JSON, a job's environment), classifies the
// Activity Tracker event into the object it concerns, hands that object to the converger, and
// answers: one log line per event and the HTTP status the sender acts on.
package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// KeyType is requestData.keyType: root_key, standard_key, or "" when the event does not say.
func (e *ActivityEvent) KeyType() (string, error) {
	raw, ok := e.RequestData["keyType"]
	if !ok {
		return "", nil
	}
	var t string
	if err := json.Unmarshal(raw, &t); err != nil {
		return "", fmt.Errorf("requestData.keyType: want a string")
	}
	return t, nil
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
	return decodeWrapped(data, 0)
}

func decodeWrapped(data []byte, depth int) (*ActivityEvent, error) {
	if depth > maxWrapping {
		return nil, errors.New("event wrapped more than 3 deep")
	}
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("want a JSON object: %w", describe(err))
	}
	switch {
	case probe["action"] != nil:
		var ev ActivityEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			return nil, describe(err)
		}
		if ev.Action == "" {
			return nil, errors.New("field action: empty")
		}
		return &ev, nil
	case probe["data"] != nil:
		// An Event Notifications notification (a CloudEvent in JSON) or any envelope that keeps
		// the event under "data", possibly as a JSON string.
		inner := probe["data"]
		var s string
		if json.Unmarshal(inner, &s) == nil {
			inner = []byte(s)
		}
		ev, err := decodeWrapped(inner, depth+1)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		return ev, nil
	}
	return nil, nil
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

// checkJSON accepts one JSON value, no deeper than maxJSONDepth, with no key twice in an
// object: parsers disagree on which duplicate wins, so a duplicate is an attack or a bug.
func checkJSON(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walk(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("malformed JSON: data after the first value at byte %d", dec.InputOffset())
	}
	return nil
}

func walk(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("malformed JSON at byte %d: %w", dec.InputOffset(), err)
	}
	delim, ok := tok.(json.Delim)
	if !ok || delim == '}' || delim == ']' {
		return nil
	}
	if depth+1 > maxJSONDepth {
		return fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
	}
	seen := map[string]bool{}
	for dec.More() {
		if delim == '{' {
			keyTok, err := dec.Token()
			if err != nil {
				return fmt.Errorf("malformed JSON at byte %d: %w", dec.InputOffset(), err)
			}
			key, _ := keyTok.(string)
			if seen[key] {
				return fmt.Errorf("duplicate key %q in a JSON object", abbreviate(key))
			}
			seen[key] = true
		}
		if err := walk(dec, depth+1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("malformed JSON at byte %d: %w", dec.InputOffset(), err)
	}
	return nil
}

// abbreviate keeps hostile input from flooding error messages and logs.
func abbreviate(s string) string {
	const keep = 100
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "…"
}
