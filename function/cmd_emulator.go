package main

import (
	"context"
	"fmt"
)

func runEmulator(_ context.Context, a *app, _ []string) int {
	fmt.Fprintln(a.stderr, "emulator: not built yet")
	return exitFailure
}
