package emulator

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzValidators checks the byte-loop validators against the patterns they replace.
func FuzzValidators(f *testing.F) {
	for _, s := range []string{"", "4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e", "3b05b403-8f51-4dac-9114-c777d0a760d4", "r006-abc", "-x",
		"env:prod", "a b_c.d-e:f", "ä", "3B05B403-8F51-4DAC-9114-C777D0A760D4", "r006-1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b-toolongtoolongtoolong"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			name     string
			got, was bool
		}{
			{"account id", isAccountID(s), accountIDPattern.MatchString(s)},
			{"guid", isGUID(s), guidPattern.MatchString(s)},
			{"vpc id", isVPCID(s), vpcIDPattern.MatchString(s)},
			{"tag", isTagText(s), tagPattern.MatchString(s)},
		} {
			if c.got != c.was {
				t.Errorf("%s(%q) = %v, the pattern says %v", c.name, s, c.got, c.was)
			}
		}
	})
}

// FuzzSplitters checks the object and array scanners against encoding/json on valid JSON.
func FuzzSplitters(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":1,"b":[1,{"c":"}"}],"a":"x\\"y"}`, ` [ "a" , {"b":null} , 1e5 , true ] `,
		`{"\u0061":"é","b":"\ud800"}`, `{"a":{"b":{"c":[[]]}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		var wantObj map[string]json.RawMessage
		if json.Unmarshal(data, &wantObj) == nil {
			got, ok := splitObject(data)
			if !ok || !reflect.DeepEqual(normalize(got), normalize(wantObj)) {
				t.Errorf("splitObject(%s) = %v, %v; encoding/json: %v", data, got, ok, wantObj)
			}
		}
		var wantArr []json.RawMessage
		if json.Unmarshal(data, &wantArr) == nil {
			got, ok := splitArray(data)
			if !ok || len(got) != len(wantArr) {
				t.Fatalf("splitArray(%s) = %v, %v; encoding/json: %v", data, got, ok, wantArr)
			}
			for i := range got {
				if string(got[i]) != string(wantArr[i]) {
					t.Errorf("splitArray(%s)[%d] = %s, encoding/json: %s", data, i, got[i], wantArr[i])
				}
			}
		}
		var wantStr string
		if json.Unmarshal(data, &wantStr) == nil {
			if got, ok := unquoteFast(trim(data)); !ok || got != wantStr {
				t.Errorf("unquoteFast(%s) = %q, %v; encoding/json: %q", data, got, ok, wantStr)
			}
		}
	})
}

func normalize(m map[string]json.RawMessage) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
