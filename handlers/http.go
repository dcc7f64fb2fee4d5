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
	"sync"
	"time"

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
	// Deadline bounds the work of one request, a batch's members together: what is not done
	// by then is answered 503, so that the sender redelivers it, while the answer still gets
	// out before the server's write timeout cuts the connection. DefaultDeadline when zero.
	Deadline time.Duration
	// ReadyTTL is how long a /readyz result is reused, so that probes cannot turn into a
	// stream of IAM token requests. DefaultReadyTTL when zero.
	ReadyTTL time.Duration
}

// Defaults of HTTPOptions.
const (
	DefaultDeadline = 90 * time.Second
	DefaultReadyTTL = 5 * time.Second
)

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
	if o.Deadline <= 0 {
		o.Deadline = DefaultDeadline
	}
	if o.ReadyTTL <= 0 {
		o.ReadyTTL = DefaultReadyTTL
	}
	h := &eventHandler{s: s, o: o, slots: make(chan struct{}, maxInFlight)}
	ready := &readiness{check: o.Ready, ttl: o.ReadyTTL}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if o.Ready != nil {
			if err := ready.get(r.Context()); err != nil {
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
		h.refuseUnread(w, http.StatusNotFound, fmt.Sprintf("no events are received at %s", delivery.Abbreviate(r.URL.Path)))
		return
	}
	// The token is checked before anything is read of the body, and a refused connection is
	// closed: a sender without the token holds neither memory nor a connection for long.
	if h.o.Token != "" && !validBearer(r.Header.Get("Authorization"), h.o.Token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="s2s-authorizer"`)
		h.refuseUnread(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	switch r.Method {
	case http.MethodPost:
	case http.MethodGet, http.MethodHead:
		// An Event Notifications app destination may be set to GET (Event Notifications docs,
		// ibm-cloud-facts §4). A GET carries no event body, so there is nothing to act on; it is
		// answered 200 ignored, so that it is not redelivered for ever, and logged as a warning,
		// so that the operator switches the destination to POST.
		res := Result{Outcome: converge.Ignored, Status: http.StatusOK, Reason: "a GET carries no event: give the Event Notifications destination the POST method", warn: true}
		h.s.logResult(res)
		writeJSON(w, http.StatusOK, Response{Results: []Result{res}})
		return
	default:
		w.Header().Set("Allow", "POST, GET")
		h.refuseUnread(w, http.StatusMethodNotAllowed, "events are POSTed")
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
	ctx, cancel := context.WithTimeout(r.Context(), h.o.Deadline)
	defer cancel()
	results := make([]Result, len(deliveries))
	for i, d := range deliveries {
		if ctx.Err() != nil {
			results[i] = h.s.notStarted(d, h.o.Deadline)
			continue
		}
		if h.o.Record != nil {
			h.o.Record(d)
		}
		results[i] = h.s.Handle(ctx, d)
	}
	writeJSON(w, overallStatus(results), Response{Results: results})
}

// refuseUnread refuses a request whose body was not read, and closes the connection: reading
// on would cost what the refusal is meant to save, and the unread body would be taken for the
// next request.
func (h *eventHandler) refuseUnread(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Connection", "close")
	h.refuse(w, status, reason)
}

// readiness caches the result of a readiness check for ttl; callers wait for one check at a
// time, so that many probes cost one IAM token request.
type readiness struct {
	check func(context.Context) error
	ttl   time.Duration
	mu    sync.Mutex
	at    time.Time
	err   error
}

func (r *readiness) get(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < r.ttl {
		return r.err
	}
	r.err, r.at = r.check(ctx), time.Now()
	return r.err
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
