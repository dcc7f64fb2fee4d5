package reconcile

import (
	"context"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// Background runs reconciles for a server's cron ticks: at most one at a time, so that a tick
// arriving during a long run does not start a second one.
type Background struct {
	ctx     context.Context
	r       *Reconciler
	log     *zap.Logger
	running atomic.Bool
	wg      sync.WaitGroup
}

// NewBackground runs reconciles under ctx; cancelling it stops a run in progress.
func NewBackground(ctx context.Context, r *Reconciler, log *zap.Logger) *Background {
	return &Background{ctx: ctx, r: r, log: log}
}

// Start starts a run unless one is in progress; started says which.
func (b *Background) Start() (started bool) {
	if !b.running.CompareAndSwap(false, true) {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer b.running.Store(false)
		rep := b.r.Run(b.ctx)
		LogReport(b.log, rep)
	}()
	return true
}

// Wait blocks until the run in progress, if any, has finished.
func (b *Background) Wait() { b.wg.Wait() }

// LogReport writes one line about a run.
func LogReport(log *zap.Logger, rep Report) {
	n := rep.Plan.Count()
	fields := []zap.Field{
		zap.Int("snapshots", rep.Snapshots), zap.Int("kms_instances", rep.Instances), zap.Int("root_keys", rep.RootKeys),
		zap.Int("policies", rep.Policies), zap.Int("to_create", n["create"]), zap.Int("to_delete", n["delete"]),
		zap.Int("writes", rep.Applied.Writes()), zap.Int("refusals", len(rep.Refusals)),
		zap.Int64("duration_ms", rep.Duration.Milliseconds()),
	}
	if err := rep.Applied.Err(); err != nil {
		fields = append(fields, zap.Error(err))
	}
	if len(rep.ReadErrors) > 0 {
		fields = append(fields, zap.Errors("read_errors", rep.ReadErrors))
	}
	if rep.Failed() {
		log.Error("reconcile", fields...)
		return
	}
	log.Info("reconcile", fields...)
}
