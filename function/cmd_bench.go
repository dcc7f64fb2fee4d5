package main

import (
	"context"
	"fmt"
)

func runBench(_ context.Context, a *app, _ []string) int {
	fmt.Fprintln(a.stderr, "bench: not built yet")
	return exitFailure
}
