package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	"github.com/s2s-authorizer/s2s-authorizer/internal/reconcile"
	"github.com/s2s-authorizer/s2s-authorizer/internal/wiring"
)

// target handles events and tells what authorizations exist afterwards.
type target interface {
	deliver(ctx context.Context, u unit) Step
	authorizations(ctx context.Context) ([]Authorization, error)
}

// local runs the function's own handlers in this process, against the emulator or, for
// --live, against IBM Cloud.
type local struct {
	rt  *wiring.Runtime
	svc *handlers.Service
	emu *emulator.Server // nil for --live
	rec *reconcile.Reconciler
}

func newLocal(ctx context.Context, cfg config.Config, emu *emulator.Server, o Options) (*local, error) {
	rt, err := wiring.Build(ctx, cfg, o.logger(), o.IBM)
	if err != nil {
		return nil, err
	}
	writes := 5.0 // IAM's rate limits
	if emu != nil {
		writes = -1
	}
	return &local{rt: rt, svc: rt.Service(nil), emu: emu, rec: rt.Reconciler(0, writes)}, nil
}

func (l *local) deliver(ctx context.Context, u unit) Step {
	var before emulator.Stats
	if l.emu != nil {
		before = l.emu.Stats()
	}
	r := l.svc.Handle(ctx, u.delivery)
	// A cron tick runs the full reconcile before the next event, as a job handed one does, so
	// that its changes belong to the tick in the report.
	var rep *reconcile.Report
	if u.delivery.Tick && r.Outcome == converge.Accepted {
		run := l.rec.Run(ctx)
		rep = &run
		r.Reason = "full reconcile run"
	}
	st := Step{Origin: u.origin, Kind: StepEvent, ExpectedOutcome: u.expect, Result: &r}.describe(u.delivery)
	if l.emu != nil {
		after := l.emu.Stats()
		calls, writes := after.Total-before.Total, after.PolicyWrites-before.PolicyWrites
		st.APICalls, st.PolicyWrites = &calls, &writes
	} else {
		writes := apply.Writes(r.Changes)
		st.PolicyWrites = &writes
	}
	if rep != nil {
		doc := rep.JSON(l.rt.Config.DryRun)
		st.Reconcile, st.reconcile = &doc, rep
		if l.emu == nil {
			writes := *st.PolicyWrites + rep.Applied.Writes()
			st.PolicyWrites = &writes
		}
	}
	return st
}

func (l *local) authorizations(ctx context.Context) ([]Authorization, error) {
	policies, err := l.rt.Cloud.Policies.List(ctx)
	if err != nil {
		return nil, err
	}
	return authorizationsOf(policies), nil
}

// remote POSTs events to a running serve, each as a binary-mode CloudEvent, the way a Code
// Engine subscription delivers them.
type remote struct {
	url, token string
	client     *http.Client
	// policies reads the target's account when credentials for it are configured.
	policies *ibm.Policies
	readErr  error
}

// maxAnswerBytes bounds what is read of an answer; serve's answers are a few KiB.
const maxAnswerBytes = 4 << 20

func newRemote(ctx context.Context, o Options) *remote {
	r := &remote{url: o.URL, token: o.Token, client: &http.Client{Timeout: 3 * time.Minute}}
	if err := o.Config.Validate(); err != nil {
		r.readErr = fmt.Errorf("not readable from here: configure the target account's credentials (IBMCLOUD_API_KEY) to read its policies")
		return r
	}
	cloud, err := ibm.Connect(ctx, wiring.Settings(o.Config), o.IBM)
	if err != nil {
		r.readErr = err
		return r
	}
	r.policies = cloud.Policies
	return r
}

func (r *remote) deliver(ctx context.Context, u unit) Step {
	st := Step{Origin: u.origin, Kind: StepEvent, ExpectedOutcome: u.expect}.describe(u.delivery)
	res := r.post(ctx, u)
	st.Result = &res
	writes := apply.Writes(res.Changes)
	st.PolicyWrites = &writes
	return st
}

func (r *remote) post(ctx context.Context, u unit) handlers.Result {
	d := u.delivery
	local := handlers.Result{ID: d.ID, Source: d.Source, Type: d.Type}
	var req *http.Request
	var err error
	switch {
	case d.Event != nil:
		req, err = cehttp.NewHTTPRequestFromEvent(ctx, r.url, *d.Event)
	case u.raw != nil:
		// Not an event here either; the target answers it as it answers any bad body.
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(u.raw))
		if err == nil {
			req.Header.Set("Content-Type", u.contentType)
		}
	default:
		local.Outcome, local.Error = converge.Rejected, "not sent: "+errText(d.Err)
		return local
	}
	if err != nil {
		local.Outcome, local.Error = converge.Failed, "build the request: "+err.Error()
		return local
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	start := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		local.Outcome, local.Error = converge.Failed, err.Error()
		return local
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		local.Outcome, local.Error = converge.Failed, "read the answer: "+err.Error()
		return local
	}
	var answer handlers.Response
	if err := json.Unmarshal(body, &answer); err != nil || (len(answer.Results) == 0 && answer.Error == "") {
		local.Outcome, local.Status = converge.Failed, resp.StatusCode
		local.Error = fmt.Sprintf("HTTP %d, not an answer of serve: %s", resp.StatusCode, abbreviate(strings.TrimSpace(string(body))))
		return local
	}
	if len(answer.Results) > 0 {
		res := answer.Results[0]
		if res.Status == 0 {
			res.Status = resp.StatusCode
		}
		return res
	}
	// The request never became an event: bad input is a rejection, anything else a failure.
	local.Status, local.Error = resp.StatusCode, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, answer.Error)
	local.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	local.Outcome = converge.Failed
	if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestEntityTooLarge {
		local.Outcome = converge.Rejected
	}
	return local
}

func (r *remote) authorizations(ctx context.Context) ([]Authorization, error) {
	if r.policies == nil {
		return nil, r.readErr
	}
	policies, err := r.policies.List(ctx)
	if err != nil {
		return nil, err
	}
	return authorizationsOf(policies), nil
}

func errText(err error) string {
	if err == nil {
		return "no event"
	}
	return err.Error()
}

func abbreviate(s string) string {
	const keep = 200
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "…"
}
