package emulator

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBodyBytes caps request bodies; larger ones get 413.
const maxBodyBytes = 1 << 20

// request is what a handler gets: the resolved route's parameters and the body already read,
// so that handlers run under the server mutex without waiting on the network.
type request struct {
	r      *http.Request
	params map[string]string
	region string // "" unless reached through /vpc/{region}
	prefix string // "/vpc/{region}" or ""
	body   []byte
	base   string // scheme://host the client used, for hrefs
	token  tokenInfo
	now    time.Time
	kms    *instanceState // the bluemix-instance of a Key Protect request
}

func (q *request) query(name string) string { return q.r.URL.Query().Get(name) }

// tokenInfo is who holds an access or refresh token.
type tokenInfo struct {
	iamID   string
	apiKey  string // the API key it was made from, for /v1/apikeys/details; "" otherwise
	account string // the account at issue time (the JWT's account.bss)
	grant   string
	expires time.Time
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if path == "/_emulator" || strings.HasPrefix(path, "/_emulator/") {
		s.control(w, r)
		return
	}
	m, status, allowed := resolve(s.routes, r.Method, path)
	switch status {
	case http.StatusNotFound:
		writeReply(w, routeNotFound(r.Method, path))
		return
	case http.StatusMethodNotAllowed:
		writeReply(w, methodNotAllowed(r.Method, path, allowed))
		return
	}
	body, problem := readBody(w, r, m.rt.kind)
	if problem != nil {
		writeReply(w, *problem)
		return
	}

	s.mu.Lock()
	s.stats.count(m.rt)
	plan := s.faults.plan(s.rng, m.rt)
	if plan.status != 0 {
		s.stats.fault(m.rt, plan.status)
	}
	faults := s.faults
	s.mu.Unlock()

	if plan.latency > 0 {
		t := time.NewTimer(plan.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if plan.status != 0 {
		writeReply(w, injectedReply(m.rt.kind, plan.status, &faults))
		return
	}

	q := &request{
		r: r, params: m.params, region: m.region, prefix: m.prefix,
		body: body, base: baseURL(r), now: time.Now(),
	}
	s.mu.Lock()
	if m.rt.kind != kindToken {
		tok, ok := s.bearer(r, q.now)
		if !ok {
			s.mu.Unlock()
			writeReply(w, unauthorized(m.rt.kind))
			return
		}
		q.token = tok
	}
	rep := m.rt.handle(s, q)
	if plan.commitThenFail && rep.status >= 200 && rep.status < 300 {
		s.stats.fault(m.rt, http.StatusInternalServerError)
		rep = lostReply(m.rt.kind)
	}
	s.mu.Unlock()
	writeReply(w, rep)
}

// bearer finds the holder of the request's bearer token; the caller holds s.mu. Key Protect's
// client sends the header in lowercase, which net/http canonicalises.
func (s *Server) bearer(r *http.Request, now time.Time) (tokenInfo, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return tokenInfo{}, false
	}
	info, ok := s.tokens[strings.TrimSpace(token)]
	if !ok || !now.Before(info.expires) {
		return tokenInfo{}, false
	}
	return info, true
}

// readBody reads at most maxBodyBytes (after gzip, which go-sdk-core may use for requests).
func readBody(w http.ResponseWriter, r *http.Request, kind serviceKind) ([]byte, *reply) {
	tooLarge := errorReply(kind, http.StatusRequestEntityTooLarge, "request_too_large", "the request body is larger than 1 MiB")
	if r.ContentLength > maxBodyBytes {
		return nil, &tooLarge
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &tooLarge
		}
		bad := errorReply(kind, http.StatusBadRequest, "invalid_body", "cannot read the request body: "+err.Error())
		return nil, &bad
	}
	if !strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") || len(data) == 0 {
		return data, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		bad := errorReply(kind, http.StatusBadRequest, "invalid_body", "the gzip request body is corrupt: "+err.Error())
		return nil, &bad
	}
	data, err = io.ReadAll(io.LimitReader(zr, maxBodyBytes+1))
	if err != nil {
		bad := errorReply(kind, http.StatusBadRequest, "invalid_body", "the gzip request body is corrupt: "+err.Error())
		return nil, &bad
	}
	if len(data) > maxBodyBytes {
		return nil, &tooLarge
	}
	return data, nil
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeReply(w http.ResponseWriter, rep reply) {
	h := w.Header()
	for name, values := range rep.header {
		h[name] = values
	}
	if rep.body != nil {
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
		h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	}
	w.WriteHeader(rep.status)
	if rep.body != nil {
		_, _ = w.Write(rep.body) // the client went away; nothing to do
	}
}
