package record

import (
	"bytes"
	"encoding/json"
)

// initiatorKept is what stays of an Activity Tracker event's initiator: the kind of principal
// and credential, never who or where. The IDs (IBMid, service ID), names, e-mail addresses,
// IP addresses and user agents identify a person or a machine and are removed.
var initiatorKept = map[string]map[string]bool{
	"":           {"typeURI": true, "credential": true, "host": true},
	"credential": {"type": true},
	"host":       {"addressType": true},
}

// maxNesting is how deep Redact looks for the Activity Tracker event: in a notification's
// data, possibly as a JSON string, as the decoder does.
const maxNesting = 3

// Redact removes the initiator's identifying fields from the Activity Tracker event in data
// (data itself, or wrapped under "data"). Everything else is kept: action, outcome, target,
// requestData, responseData. Data that is not JSON, or carries no initiator, comes back as is.
func Redact(data []byte) []byte {
	out, changed := redact(data, 0)
	if !changed {
		return data
	}
	return out
}

func redact(data []byte, depth int) ([]byte, bool) {
	if depth > maxNesting {
		return data, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers stay as written
	var obj map[string]any
	if dec.Decode(&obj) != nil || obj == nil {
		return data, false
	}
	changed := false
	if initiator, ok := obj["initiator"].(map[string]any); ok && obj["action"] != nil {
		prune(initiator, "")
		changed = true
	}
	switch inner := obj["data"].(type) {
	case map[string]any:
		raw, _ := json.Marshal(inner)
		if out, ok := redact(raw, depth+1); ok {
			obj["data"] = json.RawMessage(out)
			changed = true
		}
	case string:
		if out, ok := redact([]byte(inner), depth+1); ok {
			obj["data"] = string(out)
			changed = true
		}
	}
	if !changed {
		return data, false
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return data, false
	}
	return out, true
}

func prune(m map[string]any, section string) {
	for k, v := range m {
		if !initiatorKept[section][k] {
			delete(m, k)
			continue
		}
		if sub, ok := v.(map[string]any); ok && section == "" {
			prune(sub, k)
		} else if section == "" && (k == "credential" || k == "host") {
			delete(m, k) // a scalar where an object belongs can hold anything
		}
	}
}
