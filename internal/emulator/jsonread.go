package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// pathError is a problem found at one place of a JSON document. Its text starts with the JSON
// path ("$.snapshots[2].region: required") so that a user can find the spot in a hand-written
// world file or request body.
type pathError struct {
	path string
	msg  string
}

func (e *pathError) Error() string { return e.path + ": " + e.msg }

func errAt(path, format string, args ...any) error {
	return &pathError{path: path, msg: fmt.Sprintf(format, args...)}
}

// jsonKind names the JSON type of a raw value, for "expected X, got Y" messages.
func jsonKind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

func isNull(raw json.RawMessage) bool { return jsonKind(raw) == "null" }

// checkSyntax reports malformed JSON with the byte offset, because encoding/json's own message
// does not say where the problem is.
func checkSyntax(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errAt("$", "empty document")
	}
	if json.Valid(data) {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return errAt("$", "invalid JSON at byte %d: %v", se.Offset, err)
		}
		return errAt("$", "invalid JSON: %v", err)
	}
	if dec.More() {
		return errAt("$", "invalid JSON: data after the top-level value")
	}
	return nil
}

// jsonObject reads one JSON object strictly: every field must be consumed by the caller, wrong
// types and missing required fields are errors naming the field's path.
type jsonObject struct {
	path   string
	fields map[string]json.RawMessage
	used   map[string]bool
}

func readObject(path string, raw json.RawMessage) (*jsonObject, error) {
	if k := jsonKind(raw); k != "object" {
		return nil, errAt(path, "expected object, got %s", k)
	}
	fields, ok := splitObject(raw)
	if !ok {
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, errAt(path, "invalid object: %v", err)
		}
	}
	return &jsonObject{path: path, fields: fields, used: map[string]bool{}}, nil
}

func (o *jsonObject) fieldPath(name string) string { return o.path + "." + name }

// take marks name as known and returns its value; absent and null are both "not given".
func (o *jsonObject) take(name string) (json.RawMessage, bool) {
	o.used[name] = true
	raw, ok := o.fields[name]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

// str reads a string field; required means present and non-empty.
func (o *jsonObject) str(name string, required bool) (string, error) {
	raw, ok := o.take(name)
	if !ok {
		if required {
			return "", errAt(o.fieldPath(name), "required")
		}
		return "", nil
	}
	if k := jsonKind(raw); k != "string" {
		return "", errAt(o.fieldPath(name), "expected string, got %s", k)
	}
	s, ok := unquoteFast(bytes.TrimSpace(raw))
	if !ok {
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errAt(o.fieldPath(name), "invalid string: %v", err)
		}
	}
	if required && s == "" {
		return "", errAt(o.fieldPath(name), "required")
	}
	return s, nil
}

func (o *jsonObject) boolean(name string) (value, present bool, err error) {
	raw, ok := o.take(name)
	if !ok {
		return false, false, nil
	}
	if k := jsonKind(raw); k != "boolean" {
		return false, true, errAt(o.fieldPath(name), "expected boolean, got %s", k)
	}
	err = json.Unmarshal(raw, &value)
	return value, true, err
}

// array reads an array field; required means present and non-empty.
func (o *jsonObject) array(name string, required bool) ([]json.RawMessage, error) {
	raw, ok := o.take(name)
	if !ok {
		if required {
			return nil, errAt(o.fieldPath(name), "required")
		}
		return nil, nil
	}
	if k := jsonKind(raw); k != "array" {
		return nil, errAt(o.fieldPath(name), "expected array, got %s", k)
	}
	items, ok := splitArray(raw)
	if !ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, errAt(o.fieldPath(name), "invalid array: %v", err)
		}
	}
	if required && len(items) == 0 {
		return nil, errAt(o.fieldPath(name), "required (must not be empty)")
	}
	return items, nil
}

// strings reads an array of strings.
func (o *jsonObject) strings(name string) ([]string, bool, error) {
	items, err := o.array(name, false)
	if err != nil {
		return nil, false, err
	}
	_, present := o.fields[name]
	out := make([]string, 0, len(items))
	for i, raw := range items {
		p := fmt.Sprintf("%s[%d]", o.fieldPath(name), i)
		if k := jsonKind(raw); k != "string" {
			return nil, present, errAt(p, "expected string, got %s", k)
		}
		s, ok := unquoteFast(bytes.TrimSpace(raw))
		if !ok {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, present, errAt(p, "invalid string: %v", err)
			}
		}
		out = append(out, s)
	}
	return out, present, nil
}

// ignore accepts a field without reading it (fields the API returns but the emulator derives).
func (o *jsonObject) ignore(names ...string) {
	for _, n := range names {
		o.used[n] = true
	}
}

// finish reports the first field (in name order, for stable messages) nobody asked for.
func (o *jsonObject) finish() error {
	var unknown []string
	for name := range o.fields {
		if !o.used[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return errAt(o.fieldPath(unknown[0]), "unknown field")
}

// quoteList renders allowed values for error messages: "a, b or c".
func quoteList(values []string) string {
	switch len(values) {
	case 0:
		return ""
	case 1:
		return values[0]
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}
