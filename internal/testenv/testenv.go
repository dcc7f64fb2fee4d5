// Package testenv starts the function's whole event path against the embedded emulator for
// tests: real SDK clients over loopback HTTP, a fresh emulated account per test, fast retries,
// and the log lines captured. It is test support only; nothing on the event path imports it.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	"github.com/s2s-authorizer/s2s-authorizer/internal/localrun"
	"github.com/s2s-authorizer/s2s-authorizer/internal/logging"
	"github.com/s2s-authorizer/s2s-authorizer/internal/wiring"
)

// The accounts and objects of World, as the fixture package names them.
const (
	Account  = fixture.Account  // owns keys and snapshots
	Restorer = fixture.Restorer // allowed to restore and to use keys
	Consumer = fixture.Consumer // a KMS consumer account
	Stranger = fixture.Stranger // allowed nothing

	KPGUID    = fixture.KPGUID
	RootKey   = fixture.RootKey
	StdKey    = fixture.StdKey
	HPCSGUID  = fixture.HPCSGUID
	HPCSKey   = fixture.HPCSKey
	Snap      = fixture.Snap      // us-south, tagged for Restorer
	SnapPlain = fixture.SnapPlain // us-south, untagged
	SnapEU    = fixture.SnapEU    // eu-de, untagged
)

// CRNs of World's objects.
var (
	KPCRN        = fixture.KPCRN
	RootKeyCRN   = fixture.RootKeyCRN
	StdKeyCRN    = fixture.StdKeyCRN
	HPCSCRN      = fixture.HPCSCRN
	HPCSKeyCRN   = fixture.HPCSKeyCRN
	SnapCRN      = fixture.SnapCRN
	SnapPlainCRN = fixture.SnapPlainCRN
	SnapEUCRN    = fixture.SnapEUCRN
)

// World is the project's sample world: two KMS instances, three snapshots, one unmanaged policy.
func World() *emulator.World { return emulator.SampleWorld() }

// FastOptions retry like production but wait milliseconds, so fault tests stay fast.
func FastOptions() ibm.Options {
	o := ibm.DefaultOptions()
	o.Timeout = 5 * time.Second
	o.MinRetryWait, o.MaxRetryWait = time.Millisecond, 5*time.Millisecond
	return o
}

// Env is one emulated account and the function's event path against it.
type Env struct {
	T        testing.TB
	Emulator *emulator.Server
	Runtime  *wiring.Runtime
	Logs     *Buffer
}

// Start starts the emulator seeded with world and builds the path with the default
// configuration, Restorer allowed to restore, and whatever mutate changes.
func Start(t testing.TB, world *emulator.World, mutate func(*config.Config)) *Env {
	t.Helper()
	srv, err := emulator.Start(world, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cfg := config.Defaults()
	cfg.RestoreAllowedAccounts = []string{Restorer}
	cfg.Regions = []string{"us-south", "eu-de"}
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &Buffer{}
	rt, err := localrun.Build(context.Background(), srv, cfg, logging.New("debug", logs), FastOptions())
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(rt.Close)
	srv.ResetStats()
	return &Env{T: t, Emulator: srv, Runtime: rt, Logs: logs}
}

// Service is the event handling service over the path.
func (e *Env) Service() *handlers.Service {
	return e.Runtime.Service(nil)
}

// HTTP serves the service on loopback, as serve does.
func (e *Env) HTTP(o handlers.HTTPOptions) *httptest.Server {
	if o.Ready == nil {
		o.Ready = e.Runtime.Cloud.Ready
	}
	srv := httptest.NewServer(e.Service().NewHTTPHandler(o))
	e.T.Cleanup(srv.Close)
	return srv
}

// Policies are the active policies of the emulated account, read without an API call.
func (e *Env) Policies() []authz.Policy {
	e.T.Helper()
	out, err := WorldPolicies(e.Emulator.World())
	if err != nil {
		e.T.Fatalf("policy in the emulator's world: %v", err)
	}
	return out
}

// WorldPolicies are the policies of a world, made through v1 or v2, as the domain sees them.
func WorldPolicies(w *emulator.World) ([]authz.Policy, error) {
	var out []authz.Policy
	for _, raw := range w.Policies {
		p, err := ParsePolicy(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	for _, raw := range w.PoliciesV2 {
		p, err := ParsePolicyV2(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParsePolicyV2 reads a policy in IAM's v2 shape. Subject attributes with stringEquals lose
// their operator, as the adapter reads them, so that a grant is the same in either version.
func ParsePolicyV2(raw []byte) (authz.Policy, error) {
	type attr struct {
		Key, Operator string
		Value         any
	}
	var p struct {
		ID, Type, Description, State string
		CreatedByID                  string `json:"created_by_id"`
		Subject                      struct{ Attributes []attr }
		Resource                     struct{ Attributes []attr }
		Control                      struct {
			Grant struct {
				Roles []struct {
					RoleID string `json:"role_id"`
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return authz.Policy{}, err
	}
	text := func(v any) string {
		if s, ok := v.(string); ok {
			return s
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	out := authz.Policy{ID: p.ID, Description: p.Description, State: p.State, CreatedBy: p.CreatedByID, Grant: authz.Grant{Type: p.Type}}
	for _, a := range p.Subject.Attributes {
		op := a.Operator
		if op == "stringEquals" {
			op = ""
		}
		out.Subjects = append(out.Subjects, authz.Attribute{Name: a.Key, Value: text(a.Value), Operator: op})
	}
	for _, a := range p.Resource.Attributes {
		out.Resources = append(out.Resources, authz.Attribute{Name: a.Key, Value: text(a.Value), Operator: a.Operator})
	}
	for _, r := range p.Control.Grant.Roles {
		out.Roles = append(out.Roles, r.RoleID)
	}
	return out, nil
}

// Grants summarises the policies whose subject is Block Storage, one line each, sorted:
// "<kind or unmanaged> <grant>". Tests compare these with what a user would expect to see.
func (e *Env) Grants() []string {
	return e.GrantsWhere(func(p authz.Policy) bool { return p.Subject("serviceName") == authz.SourceService })
}

// GrantsWhere is Grants for the policies keep accepts.
func (e *Env) GrantsWhere(keep func(authz.Policy) bool) []string {
	var out []string
	for _, p := range e.Policies() {
		if !keep(p) {
			continue
		}
		label := "unmanaged"
		if o, ok := p.Owner(); ok {
			label = string(o.Kind)
		}
		out = append(out, label+" "+p.Grant.String())
	}
	sort.Strings(out)
	return out
}

// ParsePolicy reads an IAM v1 policy as the API returns it.
func ParsePolicy(raw []byte) (authz.Policy, error) {
	var p struct {
		ID, Type, Description, State string
		Subjects                     []struct{ Attributes []authz.Attribute }
		Resources                    []struct{ Attributes []authz.Attribute }
		Roles                        []struct {
			RoleID string `json:"role_id"`
		}
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return authz.Policy{}, err
	}
	out := authz.Policy{ID: p.ID, Description: p.Description, State: p.State, Grant: authz.Grant{Type: p.Type}}
	for _, s := range p.Subjects {
		out.Subjects = append(out.Subjects, s.Attributes...)
	}
	for _, r := range p.Resources {
		out.Resources = append(out.Resources, r.Attributes...)
	}
	for _, r := range p.Roles {
		out.Roles = append(out.Roles, r.RoleID)
	}
	return out, nil
}

// Buffer is a concurrency-safe log sink.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Lines decodes the JSON log lines written so far.
func (b *Buffer) Lines() []map[string]any {
	var out []map[string]any
	for _, line := range bytes.Split([]byte(b.String()), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// Post sends body to url with the given headers and returns the status and decoded answer.
func Post(t testing.TB, url string, header http.Header, body []byte) (int, handlers.Response) {
	t.Helper()
	return Send(t, http.MethodPost, url, header, body)
}

// Send is Post with another method, as a misconfigured sender (or Event Notifications' GET
// check) would use.
func Send(t testing.TB, method, url string, header http.Header, body []byte) (int, handlers.Response) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var out handlers.Response
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// HandMade is g as an IAM v1 policy that someone created by hand, for a world's policies.
func HandMade(g authz.Grant) json.RawMessage { return PolicyJSON(g, "", "made by hand") }

// PolicyJSON is g as IAM v1 returns it, with description (this project's marker makes it a
// managed policy); an empty id is assigned by the emulator.
func PolicyJSON(g authz.Grant, id, description string) json.RawMessage {
	type attrs struct {
		Attributes []authz.Attribute `json:"attributes"`
	}
	type role struct {
		RoleID string `json:"role_id"`
	}
	p := struct {
		ID          string  `json:"id,omitempty"`
		Type        string  `json:"type"`
		Description string  `json:"description"`
		Subjects    []attrs `json:"subjects"`
		Resources   []attrs `json:"resources"`
		Roles       []role  `json:"roles"`
	}{ID: id, Type: g.Type, Description: description, Subjects: []attrs{{g.Subjects}}, Resources: []attrs{{g.Resources}}}
	for _, r := range g.Roles {
		p.Roles = append(p.Roles, role{r})
	}
	raw, _ := json.Marshal(p)
	return raw
}

// AddPolicy puts a policy into the emulated account behind the function's back.
func (e *Env) AddPolicy(raw json.RawMessage) {
	e.T.Helper()
	w := e.Emulator.World()
	w.Policies = append(w.Policies, raw)
	if err := e.Emulator.Reset(w); err != nil {
		e.T.Fatal(err)
	}
}

// Activity builds an Activity Tracker event of a successful action on target.
func Activity(action, target string, requestData map[string]string) []byte {
	ev := map[string]any{"action": action, "outcome": "success", "eventTime": "2026-11-20T10:15:04.12+0000",
		"target": map[string]string{"id": target, "name": "x"}, "initiator": map[string]any{"id": "IBMid-1", "host": map[string]string{"address": "203.0.113.7"}}}
	if requestData != nil {
		ev["requestData"] = requestData
	}
	b, _ := json.Marshal(ev)
	return b
}

// Structured wraps data in a structured-mode CloudEvent of type typ.
func Structured(id, typ string, data []byte) []byte {
	b, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": "/en/source", "type": typ,
		"datacontenttype": "application/json", "data": json.RawMessage(data)})
	return b
}
