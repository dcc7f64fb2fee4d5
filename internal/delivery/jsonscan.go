package delivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// checkJSON accepts one JSON value, no deeper than maxJSONDepth, with no key twice in an
// object: parsers disagree on which duplicate wins, so a duplicate is an attack or a bug. It is
// on every event's path, so it scans the bytes once and allocates only for escaped keys and
// very large objects.
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
		many      map[string]struct{}
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
				if seenKey(keys[top.keysStart:], top.many, key) {
					return fmt.Errorf("duplicate key %q in a JSON object", Abbreviate(string(key)))
				}
				if top.many != nil {
					top.many[string(key)] = struct{}{}
				} else if keys = append(keys, key); len(keys)-top.keysStart > smallObject {
					top.many = make(map[string]struct{}, 2*smallObject)
					for _, k := range keys[top.keysStart:] {
						top.many[string(k)] = struct{}{}
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

func seenKey(keys [][]byte, many map[string]struct{}, key []byte) bool {
	if many != nil {
		_, ok := many[string(key)]
		return ok
	}
	for _, k := range keys {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}
