package main

import (
	"context"
	"fmt"
)

func runPolicies(_ context.Context, a *app, _ []string) int {
	fmt.Fprintln(a.stderr, "policies: not built yet")
	return exitFailure
}
