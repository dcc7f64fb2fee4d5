package main

import (
	"context"
	"fmt"
)

func runJob(_ context.Context, a *app, _ []string) int {
	fmt.Fprintln(a.stderr, "job: not built yet")
	return exitFailure
}
