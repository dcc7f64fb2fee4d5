// Package wiring assembles the event path from the configuration: adapters, policy index,
// converger, event service and full reconcile, the same way for serve, job, reconcile, replay,
// the soak and the bench. It builds only production parts: pointing a configuration at the
// embedded emulator is the emulator's callers' business (package localrun).
package wiring

import (
	"context"
	"errors"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	"github.com/s2s-authorizer/s2s-authorizer/internal/policyindex"
	"github.com/s2s-authorizer/s2s-authorizer/internal/reconcile"
)

// Runtime is everything one process needs to converge authorizations.
type Runtime struct {
	Config    config.Config
	Cloud     *ibm.Cloud
	Index     *policyindex.Index
	Converger *converge.Converger
	// Limiter paces the process's writes, shared by the converger and the full reconcile.
	Limiter *rate.Limiter
	Logger  *zap.Logger
}

// Build validates cfg (a *config.Error when it is unusable), connects to IBM Cloud (or whatever
// the configured URLs point at) and assembles the path. The account ID is looked up when cfg
// has none.
func Build(ctx context.Context, cfg config.Config, logger *zap.Logger, o ibm.Options) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cloud, err := ibm.Connect(ctx, Settings(cfg), o)
	var mismatch *ibm.AccountMismatchError
	if errors.As(err, &mismatch) {
		return nil, &config.Error{Problems: []config.Problem{{Variable: "IBMCLOUD_ACCOUNT_ID", Value: mismatch.Configured, Reason: mismatch.Error()}}}
	}
	if err != nil {
		return nil, err
	}
	cfg.AccountID = cloud.AccountID
	index := policyindex.New(cloud.Policies, cfg.PolicyCacheTTL, cfg.PolicyCapHeadroom)
	// One pace for every write of this process, events and the full reconcile alike, for IAM's
	// rate limits.
	limiter := rate.NewLimiter(rate.Limit(cfg.MaxWritesPerSecond), 1)
	conv := converge.New(converge.Options{Rules: rules(cfg, cloud), Mode: cfg.SyncMode, DryRun: cfg.DryRun, Ready: cloud.Roles.Ready, Limiter: limiter},
		cloud.Snapshots, cloud.Instances, cloud.Keys, index)
	// Backup grants follow the backup policies of the regions the full reconcile reads.
	conv.WithBackupPolicies(cloud.Snapshots, cfg.Regions)
	return &Runtime{Config: cfg, Cloud: cloud, Index: index, Converger: conv, Limiter: limiter, Logger: logger}, nil
}

// Settings are the IBM endpoints and credentials of cfg, as the adapters take them.
func Settings(cfg config.Config) ibm.Settings {
	return ibm.Settings{
		Credentials:           ibm.Credentials{APIKey: cfg.APIKey, TrustedProfile: cfg.TrustedProfile, CRTokenFile: cfg.CRTokenFile, IAMURL: cfg.IAMURL},
		AccountID:             cfg.AccountID,
		ResourceControllerURL: cfg.ResourceControllerURL,
		VPCURL:                cfg.VPCURLFor,
		KMSURL:                cfg.KMSURLFor,
		RoleNeeds:             cfg.Rules().RoleNeeds(),
	}
}

// rules are cfg's rules with the roles IAM offers.
func rules(cfg config.Config, cloud *ibm.Cloud) authz.Rules {
	r := cfg.Rules()
	r.Roles = cloud.Roles
	return r
}

// Service is the event handling over the runtime; tick answers cron ticks (nil: they do nothing
// in this process).
func (r *Runtime) Service(tick func(context.Context) string) *handlers.Service {
	return handlers.NewService(r.Converger, handlers.Options{Rules: rules(r.Config, r.Cloud), Regions: r.Config.Regions, Logger: r.Logger, Tick: tick})
}

// Reconciler is the full reconcile over the runtime's adapters, policy index and converger, with
// its rules, mode and dry run; concurrency 0 takes the reconciler's default. A positive
// maxWritesPerSecond sets the write pace this process shares between events and the reconcile,
// a negative one lifts it, 0 keeps MAX_WRITES_PER_SECOND.
func (r *Runtime) Reconciler(concurrency int, maxWritesPerSecond float64) *reconcile.Reconciler {
	switch {
	case maxWritesPerSecond > 0:
		r.Limiter.SetLimit(rate.Limit(maxWritesPerSecond))
	case maxWritesPerSecond < 0:
		r.Limiter.SetLimit(rate.Inf)
	}
	return reconcile.New(reconcile.Options{
		Rules: rules(r.Config, r.Cloud), Regions: r.Config.Regions, Mode: r.Config.SyncMode, DryRun: r.Config.DryRun,
		Concurrency: concurrency, Ready: r.Cloud.Roles.Ready,
	}, r.Converger, r.Cloud.Snapshots, r.Cloud.Instances, r.Cloud.Keys, r.Index).WithBackupPolicies(r.Cloud.Snapshots)
}

// Close stops what the runtime runs in the background (the policy index's listing).
func (r *Runtime) Close() { r.Index.Close() }
