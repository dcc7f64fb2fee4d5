package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
)

// MalformedDir is the directory name that marks expected rejections: every event of a file
// below a directory of this name must be rejected as bad input, and is then not a failure.
const MalformedDir = "malformed"

// maxFileBytes bounds one input file; a recorded event is at most 1 MiB, a JSON Lines dump a
// few of them.
const maxFileBytes = 64 << 20

// replaySource is the CloudEvent source given to a bare Activity Tracker event, which arrives
// without one.
const replaySource = "/s2s-authorizer/replay"

// unit is one event to deliver and where it came from.
type unit struct {
	origin   string
	delivery delivery.Delivery
	// raw is what to POST to a serve target when the delivery carries no CloudEvent (it could
	// not be decoded here): the bytes as the file held them, so that the target judges them.
	raw         []byte
	contentType string
	// expect is the outcome the event must have; "" accepts any but failed and rejected.
	expect converge.Outcome
}

// input is one file: events, a scenario, or a problem.
type input struct {
	path     string
	units    []unit
	scenario *scenario
	problem  string
}

// load reads every path, directories recursively in name order, and StdinPath from stdin. Each
// file that cannot be replayed becomes an input with a problem; loading never stops early.
func load(paths []string, stdin io.Reader) []input {
	var out []input
	for _, root := range paths {
		if root == StdinPath {
			out = append(out, loadStdin(stdin))
			continue
		}
		info, err := os.Stat(root)
		if err != nil {
			out = append(out, input{path: root, problem: statProblem(err)})
			continue
		}
		if !info.IsDir() {
			out = append(out, loadFile(root))
			continue
		}
		// WalkDir visits in lexical order, which is the replay order.
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				out = append(out, input{path: path, problem: err.Error()})
				return nil
			}
			if path != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || skipped(d.Name()) {
				return nil
			}
			out = append(out, loadFile(path))
			return nil
		})
	}
	return out
}

func statProblem(err error) string {
	if os.IsNotExist(err) {
		return "no such file or directory"
	}
	return err.Error()
}

// skipped are the files a corpus directory may hold for people: READMEs and notes.
func skipped(name string) bool {
	upper := strings.ToUpper(name)
	return strings.HasPrefix(upper, "README") || strings.HasSuffix(upper, ".MD")
}

// expectedOutcome is the outcome a file's events must have by the directory convention.
func expectedOutcome(path string) converge.Outcome {
	if slices.Contains(strings.Split(filepath.ToSlash(filepath.Dir(path)), "/"), MalformedDir) {
		return converge.Rejected
	}
	return ""
}

func loadFile(path string) input {
	in := input{path: path}
	data, err := readBounded(path)
	if err != nil {
		in.problem = err.Error()
		return in
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		in = decodeJSONFile(path, data)
	case ".jsonl":
		in.units, err = decodeLines(path, data)
	case ".env":
		in.units, err = decodeEnv(path, data)
	default:
		err = fmt.Errorf("not an event file: want .json (a CloudEvent, a batch of them, an Activity Tracker event or a scenario), .jsonl (one event a line) or .env (a Code Engine job's environment)")
	}
	if err != nil {
		in.problem = err.Error()
	}
	expect := expectedOutcome(path)
	for i := range in.units {
		in.units[i].expect = expect
	}
	return in
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("larger than %d MiB", maxFileBytes>>20)
	}
	return data, nil
}

var batchHeader = http.Header{"Content-Type": {event.ApplicationCloudEventsBatchJSON}}

// decodeJSONFile tells a scenario, a batch and a single event apart by their shape; events are
// decoded by the handlers' own decoders, so a file is judged exactly as serve would judge it.
func decodeJSONFile(path string, data []byte) input {
	in := input{path: path}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if looksLikeExpectations(trimmed) {
			in.problem = "an expectations file, not events: pass it with --expect"
			return in
		}
		in.units = decodeBatch(path, trimmed)
		return in
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(trimmed, &probe) == nil {
		switch {
		case probe["steps"] != nil:
			sc, err := parseScenario(path, trimmed)
			if err != nil {
				in.problem = "scenario: " + err.Error()
				return in
			}
			in.scenario = sc
			return in
		case probe["account_id"] != nil && probe["action"] == nil && probe["specversion"] == nil:
			in.problem = "a world file, not an event: pass it with --world, or name it as a scenario's world"
			return in
		}
	}
	in.units = []unit{{origin: path, delivery: decodeEvent(trimmed), raw: data, contentType: event.ApplicationJSON}}
	return in
}

func looksLikeExpectations(data []byte) bool {
	var entries []map[string]json.RawMessage
	return json.Unmarshal(data, &entries) == nil && len(entries) > 0 && entries[0]["subject_account"] != nil
}

// decodeBatch splits a batch the way serve does; each member keeps its own bytes so that a
// member that cannot be decoded here can still be shown to a serve target.
func decodeBatch(path string, data []byte) []unit {
	deliveries, err := delivery.DecodeHTTP(batchHeader, data)
	if err != nil {
		return []unit{{origin: path, delivery: delivery.Delivery{Err: err}, raw: data, contentType: event.ApplicationCloudEventsBatchJSON}}
	}
	var members []json.RawMessage
	_ = json.Unmarshal(data, &members) // DecodeHTTP has parsed the same array
	units := make([]unit, len(deliveries))
	for i, d := range deliveries {
		units[i] = unit{origin: fmt.Sprintf("%s[%d]", path, i), delivery: d, contentType: event.ApplicationCloudEventsJSON}
		if i < len(members) {
			units[i].raw = members[i]
		}
	}
	return units
}

func decodeLines(path string, data []byte) ([]unit, error) {
	var units []unit
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		units = append(units, unit{origin: fmt.Sprintf("%s:%d", path, i+1), delivery: decodeEvent(line), raw: line, contentType: event.ApplicationJSON})
	}
	if len(units) == 0 {
		return nil, fmt.Errorf("no events: want one JSON event a line")
	}
	return units, nil
}

// decodeEnv reads a Code Engine job's environment, NAME=VALUE a line (the value verbatim, no
// quoting; lines starting with # are comments), and decodes it as the job does.
func decodeEnv(path string, data []byte) ([]unit, error) {
	env := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("line %d: want NAME=VALUE", i+1)
		}
		env[strings.TrimSpace(name)] = value
	}
	d, ok := delivery.JobDelivery(func(name string) (string, bool) { v, ok := env[name]; return v, ok })
	if !ok {
		return nil, fmt.Errorf("no CE_* variable and no ibmendata: not the environment of a job run with an event")
	}
	u := unit{origin: path, delivery: d, contentType: event.ApplicationJSON}
	if payload := env["ibmendata"]; payload != "" {
		u.raw = []byte(payload)
	} else if data := env["CE_DATA"]; data != "" {
		u.raw = []byte(data)
	}
	return []unit{u}, nil
}

// decodeEvent decodes one event of a file as a plain JSON POST would be, except that a bare
// Activity Tracker event is given the CloudEvent form a Code Engine Kafka subscription
// gives it, which is how such an event reaches the function in production.
func decodeEvent(body []byte) delivery.Delivery {
	d := delivery.DecodeJSON(body)
	if d.Err != nil || d.Event == nil || isCloudEvent(body) {
		return d
	}
	e := event.New()
	e.SetID(d.ID)
	e.SetSource(replaySource)
	e.SetType(delivery.TypeKafka)
	if t := d.Event.Time(); !t.IsZero() {
		e.SetTime(t)
	}
	if err := e.SetData(event.ApplicationJSON, json.RawMessage(body)); err != nil {
		return d
	}
	return delivery.FromCloudEvent(e)
}

func isCloudEvent(body []byte) bool {
	var probe map[string]json.RawMessage
	return json.Unmarshal(body, &probe) == nil && probe["specversion"] != nil
}
