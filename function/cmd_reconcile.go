package main

import (
	"context"
	"fmt"
)

func runReconcile(_ context.Context, a *app, _ []string) int {
	fmt.Fprintln(a.stderr, "reconcile: not built yet")
	return exitFailure
}
