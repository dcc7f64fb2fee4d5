package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// control serves /_emulator/*: the knobs of tests and of the replay harness. These endpoints
// are outside IBM's paths, need no token and are neither counted nor faulted.
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	type endpoint struct {
		method string
		handle func(w http.ResponseWriter, r *http.Request)
	}
	endpoints := map[string]endpoint{
		"/_emulator/world":       {http.MethodGet, s.controlWorld},
		"/_emulator/reset":       {http.MethodPost, s.controlReset},
		"/_emulator/stats":       {http.MethodGet, s.controlStats},
		"/_emulator/stats/reset": {http.MethodPost, s.controlResetStats},
	}
	path := r.URL.Path
	getPost := map[string][2]func(w http.ResponseWriter, r *http.Request){
		"/_emulator/faults": {func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.currentFaults()) }, s.controlSetFaults},
		"/_emulator/iam":    {func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.IAMSettings()) }, s.controlSetIAM},
	}
	if h, ok := getPost[path]; ok {
		switch r.Method {
		case http.MethodGet:
			h[0](w, r)
		case http.MethodPost:
			h[1](w, r)
		default:
			w.Header().Set("Allow", "GET, POST")
			writeControlError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+path)
		}
		return
	}
	if path == "/_emulator/backup_policies" || strings.HasPrefix(path, "/_emulator/backup_policies/") {
		s.controlBackupPolicies(w, r, strings.TrimPrefix(strings.TrimPrefix(path, "/_emulator/backup_policies"), "/"))
		return
	}
	ep, ok := endpoints[path]
	if !ok {
		writeControlError(w, http.StatusNotFound, "no control endpoint "+path)
		return
	}
	if r.Method != ep.method {
		w.Header().Set("Allow", ep.method)
		writeControlError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+path)
		return
	}
	ep.handle(w, r)
}

func (s *Server) controlWorld(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.World())
}

// controlReset loads the world file in the body; a malformed one gets 400 naming the JSON path.
func (s *Server) controlReset(w http.ResponseWriter, r *http.Request) {
	data, ok := readControlBody(w, r)
	if !ok {
		return
	}
	world, err := ParseWorld(data)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.Reset(world); err != nil {
		writeControlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.World())
}

func (s *Server) controlStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Server) controlResetStats(w http.ResponseWriter, _ *http.Request) {
	s.ResetStats()
	writeJSON(w, http.StatusOK, s.Stats())
}

// controlSetFaults replaces the faults with the body's; malformed JSON, unknown fields,
// probabilities outside [0,1] and unknown routes get 400.
func (s *Server) controlSetFaults(w http.ResponseWriter, r *http.Request) {
	data, ok := readControlBody(w, r)
	if !ok {
		return
	}
	var f Faults
	if err := json.Unmarshal(data, &f); err != nil {
		writeControlError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.SetFaults(f)
	writeJSON(w, http.StatusOK, s.currentFaults())
}

// controlSetIAM replaces the IAM settings with the body's (the world file's field names);
// unknown fields and invalid values get 400.
func (s *Server) controlSetIAM(w http.ResponseWriter, r *http.Request) {
	data, ok := readControlBody(w, r)
	if !ok {
		return
	}
	var set IAMSettings
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&set); err != nil {
		writeControlError(w, http.StatusBadRequest, "iam settings: "+err.Error())
		return
	}
	if err := s.SetIAMSettings(set); err != nil {
		writeControlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.IAMSettings())
}

// controlBackupPolicies is POST /_emulator/backup_policies (one backup policy as in a world
// file: 201 with it, 400 when invalid or its id is taken) and DELETE
// /_emulator/backup_policies/{id} (204, or 404).
func (s *Server) controlBackupPolicies(w http.ResponseWriter, r *http.Request, id string) {
	switch {
	case id == "" && r.Method == http.MethodPost:
		data, ok := readControlBody(w, r)
		if !ok {
			return
		}
		if err := checkSyntax(data); err != nil {
			writeControlError(w, http.StatusBadRequest, err.Error())
			return
		}
		o, err := readObject("$", data)
		var b BackupPolicy
		if err == nil {
			b, err = parseBackupPolicy(o)
		}
		if err == nil {
			err = s.AddBackupPolicy(b)
		}
		if err != nil {
			writeControlError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, b)
	case id != "" && !strings.Contains(id, "/") && r.Method == http.MethodDelete:
		if !s.DeleteBackupPolicy(id) {
			writeControlError(w, http.StatusNotFound, "no backup policy "+id)
			return
		}
		writeReply(w, reply{status: http.StatusNoContent})
	default:
		allow := http.MethodPost
		if id != "" {
			allow = http.MethodDelete
		}
		w.Header().Set("Allow", allow)
		writeControlError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
	}
}

func readControlBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeControlError(w, http.StatusRequestEntityTooLarge, "the request body is larger than 1 MiB")
		} else {
			writeControlError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
		}
		return nil, false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		writeControlError(w, http.StatusBadRequest, "the request body is empty")
		return nil, false
	}
	return data, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeControlError(w, http.StatusInternalServerError, "cannot encode answer: "+err.Error())
		return
	}
	writeReply(w, reply{status: status, body: append(body, '\n')})
}

func writeControlError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"error": msg}) // a map of strings always encodes
	writeReply(w, reply{status: status, body: body})
}
