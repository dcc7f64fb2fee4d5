// Package wiring assembles the event path from the configuration: adapters, policy index and
// converger, the same way for serve, job, reconcile and replay, against IBM Cloud or against
// the embedded emulator.
package wiring

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	"github.com/s2s-authorizer/s2s-authorizer/internal/policyindex"
)

// Runtime is everything one process needs to converge authorizations.
type Runtime struct {
	Config    config.Config
	Cloud     *ibm.Cloud
	Index     *policyindex.Index
	Converger *converge.Converger
	Logger    *zap.Logger
}

// Build connects to IBM Cloud (or whatever the configured URLs point at) and assembles the path.
// cfg must be validated. The account ID is looked up when cfg has none.
func Build(ctx context.Context, cfg config.Config, logger *zap.Logger, o ibm.Options) (*Runtime, error) {
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
