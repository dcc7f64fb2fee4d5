package main

import (
	"context"
	"fmt"
)

func runReplay(_ context.Context, a *app, _ []string) int {
	fmt.Fprintln(a.stderr, "replay: not built yet")
	return exitFailure
}
