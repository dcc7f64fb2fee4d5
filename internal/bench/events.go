package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
)

// eventSource is the CloudEvents source of every bench event, as a Code Engine Kafka
// subscription names its own.
const eventSource = "/apis/v1/namespaces/bench/kafkasources/at-events#activity-tracker"

// event is one Activity Tracker event about one object, ready to be sent.
type event struct {
	kind   string // "snapshot" or "key"
	object string // what the function locks on: the snapshot CRN or the instance GUID
	snap   snapshot
	inst   instance
	body   []byte // the Activity Tracker event, as a Kafka message carries it
}

// snapshotEvent is the tag attach that asks for a restore authorization.
func snapshotEvent(s snapshot) event {
	return event{kind: "snapshot", object: s.crn, snap: s, body: activity("is.tag.attach", s.crn, "is/snapshot",
		map[string]any{"tag_names": []string{"s2s-restore:" + restorer}})}
}

// detachEvent is the tag detach that may mean a restore authorization is no longer wanted.
func detachEvent(s snapshot) event {
	return event{kind: "snapshot", object: s.crn, snap: s, body: activity("is.tag.detach", s.crn, "is/snapshot",
		map[string]any{"tag_names": []string{"s2s-restore:" + restorer}})}
}

// keyEvent is the creation of a root key, which says its key type as Key Protect does.
func keyEvent(in instance) event {
	return event{kind: "key", object: in.guid, inst: in, body: activity(in.service+".secrets.create", in.rootKeyCRN, in.service+"/secrets",
		map[string]any{"requestURI": "/api/v2/keys", "instanceID": in.guid, "keyType": "root_key"})}
}

func activity(action, target, typeURI string, requestData map[string]any) []byte {
	// Marshalling maps of strings cannot fail.
	b, _ := json.Marshal(map[string]any{
		"eventTime":   "2026-11-20T10:15:04.12+0000",
		"action":      action,
		"outcome":     "success",
		"severity":    "normal",
		"initiator":   map[string]any{"id": "IBMid-270004XYZ1", "typeURI": "service/security/account/user"},
		"target":      map[string]string{"id": target, "name": "bench", "typeURI": typeURI},
		"requestData": requestData,
		"observer":    map[string]string{"name": "ActivityTracker"},
	})
	return b
}

// sender posts events to the function the way a Code Engine Kafka subscription does: binary
// CloudEvents, one per request, over kept-alive connections.
type sender struct {
	client *http.Client
	url    string
}

func newSender(url string, conns int) *sender {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conns
	return &sender{client: &http.Client{Transport: t, Timeout: time.Minute}, url: url}
}

func (s *sender) close() { s.client.CloseIdleConnections() }

// send delivers body with CloudEvent id and returns the function's outcome for it.
func (s *sender) send(ctx context.Context, id string, body []byte) (converge.Outcome, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", id)
	req.Header.Set("Ce-Source", eventSource)
	req.Header.Set("Ce-Type", delivery.TypeKafka)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var answer handlers.Response
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return "", fmt.Errorf("event %s: HTTP %d, unreadable answer: %w", id, resp.StatusCode, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || len(answer.Results) != 1 {
		return "", fmt.Errorf("event %s: HTTP %d: %s%+v", id, resp.StatusCode, answer.Error, answer.Results)
	}
	return answer.Results[0].Outcome, nil
}

// functionServer serves the function's HTTP handler on loopback, as serve does.
type functionServer struct {
	srv *http.Server
	url string
}

func serveFunction(h http.Handler) (*functionServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &functionServer{srv: srv, url: "http://" + ln.Addr().String() + "/"}, nil
}

func (f *functionServer) close() { _ = f.srv.Close() }
