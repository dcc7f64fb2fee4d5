package delivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkJSON accepts one JSON value, no deeper than maxJSONDepth, with no key twice in an
// object: parsers disagree on which duplicate wins, so a duplicate is an attack or a bug. Keys
// equal under Unicode simple case folding count as the same key ("ID" and "id", "ſpecversion"
// and "specversion"), because encoding/json matches struct fields case-insensitively, with the
// same folding: two such keys would otherwise let the later one decide what is acted on. It is
// on every event's path, so it scans the bytes once and allocates only for escaped keys,
// non-ASCII keys in very large objects, and very large objects.
func checkJSON(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty body")
	}
	if err := checkStructure(data); err != nil {
		return err
	}
	if !json.Valid(data) {
		// The slow path, for bad input only: encoding/json says where it went wrong.
		var v any
		err := json.Unmarshal(data, &v)
		if err == nil {
			err = errors.New("malformed JSON")
		}
		var syntaxErr *json.SyntaxError
		if errors.As(err, &syntaxErr) && strings.Contains(err.Error(), "after top-level value") {
			return fmt.Errorf("malformed JSON: data after the first value at byte %d", syntaxErr.Offset)
		}
		return describe(err)
	}
	return nil
}

// smallObject is how many keys an object may have before its duplicate check uses a map.
const smallObject = 16

// checkStructure checks nesting depth and duplicate keys. It must not trust its input (json.Valid
// runs after it, so that a deeply nested document gets the depth error), but it only has to be
// right about documents that are valid JSON.
func checkStructure(data []byte) error {
	type frame struct {
		object    bool
		keysStart int
		many      map[string]string // folded key → the key as written
	}
	var frameBuf [maxJSONDepth]frame
	var keyBuf [4 * smallObject][]byte
	stack, keys := frameBuf[:0], keyBuf[:0]
	expectKey := false
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			end := stringEnd(data, i)
			if expectKey && len(stack) > 0 && stack[len(stack)-1].object {
				key := data[i+1 : end]
				if bytes.IndexByte(key, '\\') >= 0 && end < len(data) {
					var unescaped string
					if json.Unmarshal(data[i:end+1], &unescaped) == nil {
						key = []byte(unescaped)
					}
				}
				top := &stack[len(stack)-1]
				if first, dup := seenKey(keys[top.keysStart:], top.many, key); dup {
					if first != string(key) {
						return fmt.Errorf("duplicate key %q in a JSON object: the same as %q, as keys that differ only in case are", Abbreviate(string(key)), Abbreviate(first))
					}
					return fmt.Errorf("duplicate key %q in a JSON object", Abbreviate(string(key)))
				}
				if top.many != nil {
					top.many[foldKey(key)] = string(key)
				} else if keys = append(keys, key); len(keys)-top.keysStart > smallObject {
					top.many = make(map[string]string, 2*smallObject)
					for _, k := range keys[top.keysStart:] {
						top.many[foldKey(k)] = string(k)
					}
					keys = keys[:top.keysStart]
				}
			}
			i = end
		case '{', '[':
			if len(stack) == maxJSONDepth {
				return fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
			}
			stack = append(stack, frame{object: data[i] == '{', keysStart: len(keys)})
			expectKey = data[i] == '{'
		case '}', ']':
			if len(stack) > 0 {
				keys = keys[:stack[len(stack)-1].keysStart]
				stack = stack[:len(stack)-1]
			}
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		case ':':
			expectKey = false
		}
	}
	return nil
}

// stringEnd is the index of the quote that closes the string opening at start, or len(data).
func stringEnd(data []byte, start int) int {
	for j := start + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(data)
}

// seenKey reports whether key, or a key equal to it under simple case folding, is among the
// object's keys so far, and which one.
func seenKey(keys [][]byte, many map[string]string, key []byte) (string, bool) {
	if many != nil {
		first, ok := many[foldKey(key)]
		return first, ok
	}
	for _, k := range keys {
		// bytes.EqualFold is Unicode simple folding, the same that encoding/json uses.
		if bytes.EqualFold(k, key) {
			return string(k), true
		}
	}
	return "", false
}

// foldKey maps a key to one representative of its case-folding class: each rune becomes the
// smallest rune of its unicode.SimpleFold orbit, so that "s", "S" and "ſ" all become "S".
func foldKey(key []byte) string {
	ascii := true
	for _, c := range key {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// The smallest rune of an ASCII letter's orbit is its upper case (k, K and the Kelvin
		// sign fold to K).
		return strings.ToUpper(string(key))
	}
	var b strings.Builder
	for _, r := range string(key) {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
