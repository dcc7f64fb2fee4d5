package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	"github.com/s2s-authorizer/s2s-authorizer/internal/localrun"
	"github.com/s2s-authorizer/s2s-authorizer/internal/logging"
	"github.com/s2s-authorizer/s2s-authorizer/internal/wiring"
)

// localFlags are the flags of every subcommand that can run against the embedded emulator.
type localFlags struct {
	local bool
	world string
}

func (l *localFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&l.local, "local", false, "run against the embedded IBM Cloud emulator instead of IBM Cloud (no account needed)")
	fs.StringVar(&l.world, "world", "", "with --local: world file to seed the emulator with (default: the sample world)")
}

// session is a configured runtime and what to close when the subcommand ends.
type session struct {
	*wiring.Runtime
	emulator *emulator.Server
}

func (s *session) Close() {
	if s.Runtime != nil {
		s.Runtime.Close()
	}
	if s.emulator != nil {
		_ = s.emulator.Close()
	}
	_ = s.Logger.Sync()
}

// loadConfig reads and validates the configuration; override applies the subcommand's flags.
// It prints every problem and returns false when the configuration is unusable (exit 2).
func (a *app) loadConfig(override func(*config.Config)) (config.Config, bool) {
	cfg, err := config.FromEnv(a.lookupEnv)
	if err != nil {
		fmt.Fprintf(a.stderr, "s2s-authorizer: %v\n", err)
		return cfg, false
	}
	if override != nil {
		override(&cfg)
	}
	return cfg, true
}

// open reads the configuration (override applies the subcommand's flags) and connects; a code
// other than exitOK means the subcommand must stop with it.
func (a *app) open(ctx context.Context, l localFlags, override func(*config.Config)) (*session, int) {
	cfg, ok := a.loadConfig(override)
	if !ok {
		return nil, exitUsage
	}
	return a.connect(ctx, cfg, l)
}

// connect builds the runtime from cfg, first starting the emulator when l.local is set. It
// returns an exit code other than exitOK when it cannot.
func (a *app) connect(ctx context.Context, cfg config.Config, l localFlags) (*session, int) {
	if l.world != "" && !l.local {
		fmt.Fprintln(a.stderr, "s2s-authorizer: --world needs --local")
		return nil, exitUsage
	}
	s := &session{}
	if l.local {
		world := emulator.SampleWorld()
		if l.world != "" {
			w, err := emulator.LoadWorldFile(l.world)
			if err != nil {
				fmt.Fprintf(a.stderr, "s2s-authorizer: %v\n", err)
				return nil, exitUsage
			}
			world = w
		}
		srv, err := localrun.Start(world)
		if err != nil {
			fmt.Fprintf(a.stderr, "s2s-authorizer: %v\n", err)
			return nil, exitFailure
		}
		s.emulator = srv
		cfg = localrun.PointAt(cfg, srv)
	}
	rt, err := wiring.Build(ctx, cfg, logging.New(cfg.LogLevel, a.stderr), a.options())
	if err != nil {
		fmt.Fprintf(a.stderr, "s2s-authorizer: %v\n", err)
		s.closeEmulator()
		var cfgErr *config.Error
		if errors.As(err, &cfgErr) {
			return nil, exitUsage
		}
		return nil, exitFailure
	}
	s.Runtime = rt
	return s, exitOK
}

func (s *session) closeEmulator() {
	if s.emulator != nil {
		_ = s.emulator.Close()
	}
}

// options are the IBM client options of every command that connects.
func (a *app) options() ibm.Options {
	if a.ibmOptions != nil {
		return a.ibmOptions()
	}
	return ibm.DefaultOptions()
}
