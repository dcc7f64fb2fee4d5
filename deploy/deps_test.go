package deploy_test

// The tests in run_test.go build ./function and run it. Importing what it is built from makes
// go test compile those packages before this package's tests start (in 'go test ./...', once,
// shared with the other packages' test builds), so that the nested 'go build' finds them in the
// build cache and only compiles package main and links, instead of compiling every dependency
// a second time beside the running go test.
import (
	_ "github.com/s2s-authorizer/s2s-authorizer/internal/bench"
	_ "github.com/s2s-authorizer/s2s-authorizer/internal/replay"
	_ "github.com/s2s-authorizer/s2s-authorizer/internal/wiring"
)
