package handlers

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
)

// Converger converges one object.
type Converger interface {
	Converge(ctx context.Context, obj converge.Object) converge.Result
}

// Options configure a Service.
type Options struct {
	// Rules classify events: the account acted on, and the KMS scope.
	Rules authz.Rules
	// Regions is IBMCLOUD_REGIONS: snapshots elsewhere are refused as out of scope, because the
	// full reconcile would never revisit their grants (delivery.Classify).
	Regions []string
	Logger  *zap.Logger
	// Tick answers a cron tick: the caller decides what a tick does (serve starts a background
	// reconcile and says so in the returned reason). nil: ticks are accepted and do nothing here.
	Tick func(ctx context.Context) (reason string)
}

// dedupSize is how many recent (source, id) pairs are remembered; each costs a fixed size (a
// hash), whatever the sender put in them.
const dedupSize = 10000

// Service handles deliveries: the same code behind serve, job and replay.
type Service struct {
	converger Converger
	rules     authz.Rules
	regions   []string
	tick      func(ctx context.Context) string
	log       *zap.Logger
	recent    *recent
}

// NewService builds a Service.
func NewService(c Converger, o Options) *Service {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Service{converger: c, rules: o.Rules, regions: o.Regions, tick: o.Tick, log: o.Logger, recent: newRecent(dedupSize)}
}

// Result is what happened to one event: the converger's outcome and its change records, as
// apply made them.
type Result struct {
	ID       string           `json:"id,omitempty"`
	Source   string           `json:"source,omitempty"`
	Type     string           `json:"type,omitempty"`
	Action   string           `json:"action,omitempty"`
	Object   string           `json:"object,omitempty"`
	Outcome  converge.Outcome `json:"outcome"`
	Reason   string           `json:"reason,omitempty"`
	Changes  []apply.Result   `json:"changes,omitempty"`
	Refusals []authz.Refusal  `json:"refusals,omitempty"`
	Error    string           `json:"error,omitempty"`
	// Scope is "out_of_scope" for an object in a region outside IBMCLOUD_REGIONS.
	Scope      string  `json:"scope,omitempty"`
	Status     int     `json:"status"`
	DurationMS float64 `json:"duration_ms"`

	warn bool // the operator should see this one, though nothing failed
}

// Handle handles one delivery and logs one line about it.
func (s *Service) Handle(ctx context.Context, d delivery.Delivery) Result {
	start := time.Now()
	r := s.handle(ctx, d)
	r.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	s.logResult(r)
	return r
}

func (s *Service) handle(ctx context.Context, d delivery.Delivery) Result {
	r := Result{ID: d.ID, Source: d.Source, Type: d.Type}
	if d.Err != nil {
		return rejected(r, d.Err)
	}
	if d.Activity != nil {
		r.Action, r.Object = d.Activity.Action, d.Activity.Target.ID
	}
	key := dedupKey(d.Source, d.ID)
	if d.ID != "" && s.recent.seen(key) {
		r.Outcome, r.Status, r.Reason = converge.Duplicate, http.StatusOK, "handled before"
		return r
	}
	switch {
	case d.Tick:
		r.Outcome, r.Status, r.Reason = converge.Accepted, http.StatusAccepted, "no full reconcile in this process"
		if s.tick != nil {
			r.Reason = s.tick(ctx)
		}
	case d.Activity == nil:
		r.Outcome, r.Status, r.Reason = converge.Ignored, http.StatusOK, "carries no Activity Tracker event"
	default:
		r = s.activity(ctx, r, d.Activity)
	}
	if d.ID != "" && r.Outcome != converge.Failed && r.Outcome != converge.Rejected {
		s.recent.add(key)
	}
	return r
}

func (s *Service) activity(ctx context.Context, r Result, ev *delivery.ActivityEvent) Result {
	r.Action = ev.Action
	decision, err := delivery.Classify(ev, s.rules, s.regions)
	if err != nil {
		return rejected(r, err)
	}
	if decision.Object == nil {
		r.Outcome, r.Status, r.Reason = converge.Ignored, http.StatusOK, decision.Ignore
		r.Object, r.warn = delivery.Abbreviate(ev.Target.ID), decision.Warn
		if decision.OutOfScope {
			r.Scope = OutOfScope
		}
		return r
	}
	res := s.converger.Converge(ctx, *decision.Object)
	r.Object, r.Outcome, r.Reason, r.Refusals, r.Changes = res.Object, res.Outcome, res.Reason, res.Refusals, res.Report.Results
	r.Status = http.StatusOK
	if res.Err != nil {
		r.Error = res.Err.Error()
		r.Status = http.StatusInternalServerError
		if res.Transient() {
			r.Status = http.StatusServiceUnavailable
		}
	}
	return r
}

// notStarted answers a delivery the request's deadline left no time for: 503, so that the
// sender redelivers it.
func (s *Service) notStarted(d delivery.Delivery, deadline time.Duration) Result {
	r := Result{ID: d.ID, Source: d.Source, Type: d.Type, Outcome: converge.Failed, Status: http.StatusServiceUnavailable,
		Error: fmt.Sprintf("not handled: the request's %s deadline ran out before this event's turn; redeliver it", deadline)}
	s.logResult(r)
	return r
}

// OutOfScope is the Scope of an object outside IBMCLOUD_REGIONS, in the answer and the log.
const OutOfScope = "out_of_scope"

func rejected(r Result, err error) Result {
	r.Outcome, r.Status, r.Error = converge.Rejected, http.StatusBadRequest, err.Error()
	return r
}

func (s *Service) logResult(r Result) {
	level := zapcore.InfoLevel
	switch {
	case r.Outcome == converge.Failed:
		level = zapcore.ErrorLevel
	case r.Outcome == converge.Rejected, r.Outcome == converge.Refused, len(r.Refusals) > 0, r.warn, needsAPerson(r.Changes):
		level = zapcore.WarnLevel
	case r.Outcome == converge.Ignored, r.Outcome == converge.Duplicate:
		level = zapcore.DebugLevel
	}
	ce := s.log.Check(level, "event")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("event_id", r.ID), zap.String("source", r.Source), zap.String("type", r.Type),
		zap.String("action", r.Action), zap.String("object", r.Object), zap.String("outcome", string(r.Outcome)),
		zap.Int("status", r.Status), zap.Float64("duration_ms", r.DurationMS),
	}
	if r.Reason != "" {
		fields = append(fields, zap.String("reason", r.Reason))
	}
	if len(r.Changes) > 0 {
		fields = append(fields, zap.Any("changes", r.Changes))
	}
	if len(r.Refusals) > 0 {
		fields = append(fields, zap.Any("refusals", r.Refusals))
	}
	if r.Error != "" {
		fields = append(fields, zap.String("error", r.Error))
	}
	if r.Scope != "" {
		fields = append(fields, zap.String("scope", r.Scope))
	}
	ce.Write(fields...)
}

// needsAPerson reports whether a change was left for a person: blocked by a policy not ours, or a
// policy imitating this project's marker.
func needsAPerson(changes []apply.Result) bool {
	for _, c := range changes {
		if c.Outcome == apply.Blocked || c.Outcome == apply.Imitation {
			return true
		}
	}
	return false
}
