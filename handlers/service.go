package handlers

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
)

// Converger converges one object.
type Converger interface {
	Converge(ctx context.Context, obj converge.Object) converge.Result
}

// Reconciler starts a full reconcile in the background; started is false when one is running.
type Reconciler interface {
	Trigger() (started bool)
}

// Options configure a Service.
type Options struct {
	AccountID string
	Logger    *zap.Logger
	// Reconciler answers cron ticks; nil means the full reconcile is not available here.
	Reconciler Reconciler
	// DedupSize is how many recent (source, id) pairs are remembered; 0 means 10000.
	DedupSize int
}

// Service handles deliveries: the same code behind serve, job and replay.
type Service struct {
	converger  Converger
	reconciler Reconciler
	accountID  string
	log        *zap.Logger
	recent     *recent
}

// NewService builds a Service.
func NewService(c Converger, o Options) *Service {
	if o.DedupSize == 0 {
		o.DedupSize = 10000
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Service{converger: c, reconciler: o.Reconciler, accountID: o.AccountID, log: o.Logger, recent: newRecent(o.DedupSize)}
}

// Outcomes of one event, as logged and answered.
const (
	OutcomeApplied   = string(converge.Applied)
	OutcomeUnchanged = string(converge.Unchanged)
	OutcomePlanned   = string(converge.Planned)
	OutcomeIgnored   = string(converge.Ignored)
	OutcomeRefused   = string(converge.Refused)
	OutcomeFailed    = string(converge.Failed)
	OutcomeRejected  = "rejected"  // bad input: 4xx, never retried
	OutcomeDuplicate = "duplicate" // handled before: nothing done
	OutcomeAccepted  = "accepted"  // a full reconcile was started (or is running)
)

// Result is what happened to one event.
type Result struct {
	ID         string          `json:"id,omitempty"`
	Source     string          `json:"source,omitempty"`
	Type       string          `json:"type,omitempty"`
	Action     string          `json:"action,omitempty"`
	Object     string          `json:"object,omitempty"`
	Outcome    string          `json:"outcome"`
	Reason     string          `json:"reason,omitempty"`
	Changes    []ChangeResult  `json:"changes,omitempty"`
	Refusals   []authz.Refusal `json:"refusals,omitempty"`
	Error      string          `json:"error,omitempty"`
	Status     int             `json:"status"`
	DurationMS float64         `json:"duration_ms"`

	warn bool // the operator should see this one, though nothing failed
}

// ChangeResult is one authorization of the object's plan and what became of it.
type ChangeResult struct {
	// Op is the plan's verb: create, delete, keep, adopt, covered, retain, replace, blocked.
	Op string `json:"op"`
	// Symbol is Op's plan-line prefix: + create, - delete, ~ adopt, -/+ replace, ! blocked, = the rest.
	Symbol string `json:"symbol"`
	// Result is what applying it did: created, deleted, gone, kept, adopted, covered, retained,
	// replaced, blocked, planned (dry run) or failed.
	Result   string `json:"result"`
	PolicyID string `json:"policy_id,omitempty"`
	Kind     string `json:"kind,omitempty"`
	Grant    string `json:"grant"`
	Error    string `json:"error,omitempty"`
}

// Handle handles one delivery and logs one line about it.
func (s *Service) Handle(ctx context.Context, d Delivery) Result {
	start := time.Now()
	r := s.handle(ctx, d)
	r.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	s.logResult(r)
	return r
}

func (s *Service) handle(ctx context.Context, d Delivery) Result {
	r := Result{ID: d.ID, Source: d.Source, Type: d.Type}
	if d.Err != nil {
		return rejected(r, d.Err)
	}
	if d.Activity != nil {
		r.Action, r.Object = d.Activity.Action, d.Activity.Target.ID
	}
	key := dedupKey(d.Source, d.ID)
	if d.ID != "" && s.recent.seen(key) {
		r.Outcome, r.Status, r.Reason = OutcomeDuplicate, http.StatusOK, "handled before"
		return r
	}
	switch {
	case d.Tick:
		r = s.tick(r)
	case d.Activity == nil:
		r.Outcome, r.Status, r.Reason = OutcomeIgnored, http.StatusOK, "carries no Activity Tracker event"
	default:
		r = s.activity(ctx, r, d.Activity)
	}
	if d.ID != "" && r.Outcome != OutcomeFailed && r.Outcome != OutcomeRejected {
		s.recent.add(key)
	}
	return r
}

func (s *Service) tick(r Result) Result {
	r.Outcome, r.Status = OutcomeAccepted, http.StatusAccepted
	switch {
	case s.reconciler == nil:
		r.Reason = "full reconcile is not available in this process"
	case s.reconciler.Trigger():
		r.Reason = "full reconcile started"
	default:
		r.Reason = "full reconcile already running"
	}
	return r
}

func (s *Service) activity(ctx context.Context, r Result, ev *ActivityEvent) Result {
	r.Action = ev.Action
	decision, err := Classify(ev, s.accountID)
	if err != nil {
		return rejected(r, err)
	}
	if decision.Object == nil {
		r.Outcome, r.Status, r.Reason = OutcomeIgnored, http.StatusOK, decision.Ignore
		r.Object, r.warn = ev.Target.ID, decision.Warn
		return r
	}
	res := s.converger.Converge(ctx, *decision.Object)
	r.Object, r.Outcome, r.Reason, r.Refusals = res.Object, string(res.Outcome), res.Reason, res.Refusals
	r.Changes = changeResults(res.Report)
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

func rejected(r Result, err error) Result {
	r.Outcome, r.Status, r.Error = OutcomeRejected, http.StatusBadRequest, err.Error()
	return r
}

var opOf = map[apply.Outcome]string{
	apply.Created: "create", apply.Deleted: "delete", apply.Gone: "delete", apply.Kept: "keep",
	apply.Adopted: "adopt", apply.Covered: "covered", apply.Retained: "retain", apply.Replaced: "replace",
	apply.Blocked: "blocked",
}

func changeResults(report apply.Report) []ChangeResult {
	out := make([]ChangeResult, 0, len(report.Results))
	for _, res := range report.Results {
		c := res.Change
		op, ok := opOf[res.Outcome]
		if !ok { // planned or failed: the plan's own verb
			op = string(c.Action)
		}
		symbol := c.Symbol()
		if res.Outcome == apply.Adopted {
			symbol = "~"
		}
		cr := ChangeResult{Op: op, Symbol: symbol, Result: string(res.Outcome), PolicyID: res.PolicyID, Kind: string(c.Kind()), Grant: c.Grant().String()}
		if res.Err != nil {
			cr.Error = res.Err.Error()
		}
		out = append(out, cr)
	}
	return out
}

func (s *Service) logResult(r Result) {
	level := zapcore.InfoLevel
	switch {
	case r.Outcome == OutcomeFailed:
		level = zapcore.ErrorLevel
	case r.Outcome == OutcomeRejected, len(r.Refusals) > 0, r.warn:
		level = zapcore.WarnLevel
	case r.Outcome == OutcomeIgnored, r.Outcome == OutcomeDuplicate:
		level = zapcore.DebugLevel
	}
	ce := s.log.Check(level, "event")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("event_id", r.ID), zap.String("source", r.Source), zap.String("type", r.Type),
		zap.String("action", r.Action), zap.String("object", r.Object), zap.String("outcome", r.Outcome),
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
	ce.Write(fields...)
}
