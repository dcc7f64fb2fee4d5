package main

import (
	"context"
	"fmt"
)

func runServe(_ context.Context, a *app, _ []string) int {
	fmt.Fprintln(a.stderr, "serve: not built yet")
	return exitFailure
}
