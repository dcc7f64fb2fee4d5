// Package localrun points the function at the embedded IBM Cloud emulator: it starts the
// emulator and rewrites a configuration's endpoints and credentials to it. It stands beside the
// event path (used by --local commands, replay, the soak, the bench and tests), so that the
// production wiring never knows the emulator.
package localrun

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	"github.com/s2s-authorizer/s2s-authorizer/internal/wiring"
)

// APIKey is the API key local runs present to the emulator, which accepts any.
const APIKey = "local-emulator-key"

// Start starts the embedded emulator on a free loopback port, seeded with world (the sample
// world when nil).
func Start(world *emulator.World) (*emulator.Server, error) {
	if world == nil {
		world = emulator.SampleWorld()
	}
	srv, err := emulator.Start(world, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the emulator: %w", err)
	}
	return srv, nil
}

// PointAt returns cfg with every IBM endpoint replaced by the emulator's and the emulator's
// credentials; the account is then looked up through the emulator like a real one.
func PointAt(cfg config.Config, srv *emulator.Server) config.Config {
	e := srv.Endpoints()
	cfg.IAMURL, cfg.VPCURL, cfg.ResourceControllerURL, cfg.KMSURL = e.IAM, e.VPC, e.ResourceController, e.KMS
	cfg.APIKey, cfg.TrustedProfile, cfg.AccountID = APIKey, "", ""
	return cfg
}

// Build is wiring.Build against the emulator srv.
func Build(ctx context.Context, srv *emulator.Server, cfg config.Config, logger *zap.Logger, o ibm.Options) (*wiring.Runtime, error) {
	return wiring.Build(ctx, PointAt(cfg, srv), logger, o)
}
