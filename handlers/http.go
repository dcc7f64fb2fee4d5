package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
)

// HTTPOptions configure the HTTP face of a Service.
type HTTPOptions struct {
	// Path receives events; "/" when empty.
	Path string
	// Token, when set, must arrive as "Authorization: Bearer <token>".
	Token string
	// Ready reports whether the function can work (configured, IAM token obtainable).
	Ready func(ctx context.Context) error
	// Record, when set, is given every decoded delivery before it is handled.
	Record func(delivery.Delivery)
}

const (
	// maxBodyBytes bounds a request body.
	maxBodyBytes = 1 << 20
	// maxInFlight bounds the events being handled at once; more are answered 503 so that the
	// sender backs off instead of piling up work on IBM Cloud.
	maxInFlight = 64
)

// Response is the JSON body of every answer to an event request.
type Response struct {
	Results []Result `json:"results,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// NewHTTPHandler serves events at o.Path, and GET /healthz and /readyz.
func (s *Service) NewHTTPHandler(o HTTPOptions) http.Handler {
	if o.Path == "" {
		o.Path = "/"
	}
	h := &eventHandler{s: s, o: o, slots: make(chan struct{}, maxInFlight)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if o.Ready != nil {
			if err := o.Ready(r.Context()); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle(o.Path, h)
	return mux
}

type eventHandler struct {
	s     *Service
	o     HTTPOptions
	slots chan struct{}
}

func (h *eventHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != h.o.Path {
		h.refuse(w, http.StatusNotFound, fmt.Sprintf("no events are received at %s", delivery.Abbreviate(r.URL.Path)))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, http.StatusMethodNotAllowed, "events are POSTed")
		return
	}
	if h.o.Token != "" && !validBearer(r.Header.Get("Authorization"), h.o.Token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="s2s-authorizer"`)
		h.refuse(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.refuse(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBodyBytes))
			return
		}
		h.refuse(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	deliveries, err := delivery.DecodeHTTP(r.Header, body)
	if err != nil {
		h.refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	// The slot is taken only now: a client that is slow to send its body holds a goroutine
	// (until the read timeout), never a slot that events waiting for IBM Cloud need.
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		h.refuse(w, http.StatusServiceUnavailable, "too many events in flight; retry later")
		return
	}
	results := make([]Result, len(deliveries))
	for i, d := range deliveries {
		if h.o.Record != nil {
			h.o.Record(d)
		}
		results[i] = h.s.Handle(r.Context(), d)
	}
	writeJSON(w, overallStatus(results), Response{Results: results})
}

// refuse answers a request that never became an event, with the same log line an event gets.
func (h *eventHandler) refuse(w http.ResponseWriter, status int, reason string) {
	h.s.logResult(Result{Outcome: converge.Rejected, Status: status, Error: reason})
	writeJSON(w, status, Response{Error: reason})
}

// overallStatus is the answer for a request: a transient failure anywhere asks for redelivery
// (handling is idempotent, so the members that succeeded are harmless to repeat); then other
// failures; then bad input, which no retry can fix.
func overallStatus(results []Result) int {
	status := http.StatusOK
	for _, want := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusBadRequest} {
		for _, r := range results {
			if r.Status == want {
				return want
			}
		}
	}
	if len(results) == 1 {
		status = results[0].Status
	}
	return status
}

func validBearer(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
