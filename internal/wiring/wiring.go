// Package wiring assembles the event path from the configuration: adapters, policy index,
// converger, event service and full reconcile, the same way for serve, job, reconcile, replay,
// the soak and the bench, against IBM Cloud or against the embedded emulator.
package wiring

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
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
	Logger    *zap.Logger
}

// Build validates cfg (a *config.Error when it is unusable), connects to IBM Cloud (or whatever
// the configured URLs point at) and assembles the path. The account ID is looked up when cfg
// has none.
func Build(ctx context.Context, cfg config.Config, logger *zap.Logger, o ibm.Options) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cloud, err := ibm.Connect(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	cfg.AccountID = cloud.AccountID
	index := policyindex.New(cloud.Policies, cfg.PolicyCacheTTL)
	conv := converge.New(converge.Options{Rules: cfg.Rules(), Mode: cfg.SyncMode, DryRun: cfg.DryRun},
		cloud.Snapshots, cloud.Instances, cloud.Keys, index)
	return &Runtime{Config: cfg, Cloud: cloud, Index: index, Converger: conv, Logger: logger}, nil
}

// BuildOn is Build against the emulator srv: cfg's endpoints and credentials are replaced by
// the emulator's.
func BuildOn(ctx context.Context, srv *emulator.Server, cfg config.Config, logger *zap.Logger, o ibm.Options) (*Runtime, error) {
	return Build(ctx, PointAtEmulator(cfg, srv), logger, o)
}

// Service is the event handling over the runtime; rec answers cron ticks (nil: not here).
func (r *Runtime) Service(rec handlers.Reconciler) *handlers.Service {
	return handlers.NewService(r.Converger, handlers.Options{AccountID: r.Config.AccountID, Logger: r.Logger, Reconciler: rec})
}

// Reconciler is the full reconcile over the runtime's adapters and policy index, with its rules,
// mode and dry run; zero limits take the reconciler's defaults, a negative rate none.
func (r *Runtime) Reconciler(concurrency int, maxWritesPerSecond float64) *reconcile.Reconciler {
	return reconcile.New(reconcile.Options{
		Rules: r.Config.Rules(), Regions: r.Config.Regions, Mode: r.Config.SyncMode, DryRun: r.Config.DryRun,
		Concurrency: concurrency, MaxWritesPerSecond: maxWritesPerSecond,
	}, r.Cloud.Snapshots, r.Cloud.Instances, r.Cloud.Keys, r.Index)
}

// LocalAPIKey is the API key local runs present to the emulator, which accepts any.
const LocalAPIKey = "local-emulator-key"

// PointAtEmulator returns cfg with every IBM endpoint replaced by the emulator's and the
// emulator's credentials; the account is then looked up through the emulator like a real one.
func PointAtEmulator(cfg config.Config, srv *emulator.Server) config.Config {
	e := srv.Endpoints()
	cfg.IAMURL, cfg.VPCURL, cfg.ResourceControllerURL, cfg.TaggingURL, cfg.KMSURL = e.IAM, e.VPC, e.ResourceController, e.Tagging, e.KMS
	cfg.APIKey, cfg.TrustedProfile, cfg.AccountID = LocalAPIKey, "", ""
	return cfg
}

// StartEmulator starts the embedded emulator on a free loopback port, seeded with world (the
// sample world when nil).
func StartEmulator(world *emulator.World) (*emulator.Server, error) {
	if world == nil {
		world = emulator.SampleWorld()
	}
	srv, err := emulator.Start(world, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the emulator: %w", err)
	}
	return srv, nil
}
