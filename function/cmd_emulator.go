package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// runEmulator serves the embedded IBM Cloud emulator until ctx ends (SIGINT/SIGTERM). Its first
// stdout line is "listening on URL" and the following lines are shell exports, so that
// `eval "$(s2s-authorizer emulator | tail -n +2)"` — or reading them from a harness — points
// the project's binary at it.
func runEmulator(ctx context.Context, a *app, args []string) int {
	fs := a.flags("emulator", "[--listen ADDR] [--world FILE]",
		"Run the embedded IBM Cloud emulator (IAM, VPC snapshots, Global Tagging, Resource Controller,\n"+
			"Key Protect) on one address, with the state of a world file, until interrupted.")
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on (port 0 picks a free port)")
	worldPath := fs.String("world", "", "world file (JSON); default: the project's sample world")
	if done, code := a.parse(fs, args, 0, 0); done {
		return code
	}

	world := emulator.SampleWorld()
	if *worldPath != "" {
		w, err := emulator.LoadWorldFile(*worldPath)
		if err != nil {
			fmt.Fprintf(a.stderr, "emulator: bad world file: %v\n", err)
			return exitUsage
		}
		world = w
	}
	srv, err := emulator.Start(world, *listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			fmt.Fprintf(a.stderr, "emulator: cannot listen on %s: the address is already in use (pick another with --listen)\n", *listen)
		} else {
			fmt.Fprintf(a.stderr, "emulator: cannot listen on %s: %v\n", *listen, err)
		}
		return exitFailure
	}
	fmt.Fprintf(a.stdout, "listening on %s\n", srv.URL())
	for _, kv := range srv.Env() {
		name, value, _ := strings.Cut(kv, "=")
		fmt.Fprintf(a.stdout, "export %s=%s\n", name, shellQuote(value))
	}

	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintf(a.stderr, "emulator: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// shellQuote single-quotes s for POSIX shells, so that "{region}" and any other character
// survive eval unchanged.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
