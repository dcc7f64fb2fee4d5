package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// StdinPath is the PATH that names standard input, so that a generated event can be piped in
// (s2s-authorizer event … | s2s-authorizer replay -).
const StdinPath = "-"

// stdinName is how reports name what came from standard input.
const stdinName = "stdin"

// loadStdin reads standard input whole and decodes it by its shape, as there is no file name
// to go by: one JSON document (an event, a batch or a scenario), JSON Lines, or a job's
// environment (NAME=VALUE lines).
func loadStdin(r io.Reader) input {
	in := input{path: stdinName}
	if r == nil {
		in.problem = "no standard input"
		return in
	}
	data, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	switch {
	case err != nil:
		in.problem = err.Error()
		return in
	case len(data) > maxFileBytes:
		in.problem = fmt.Sprintf("larger than %d MiB", maxFileBytes>>20)
		return in
	case len(bytes.TrimSpace(data)) == 0:
		in.problem = "standard input is empty"
		return in
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case json.Valid(trimmed):
		return decodeJSONFile(stdinName, data)
	case trimmed[0] == '{':
		in.units, err = decodeLines(stdinName, data)
	default:
		in.units, err = decodeEnv(stdinName, data)
	}
	if err != nil {
		in.problem = err.Error()
	}
	return in
}
