package readme_test

// The README's commands 'go run ./function'. Importing what it is built from makes go test
// compile those packages before this test starts (in 'go test ./...', once, shared with the
// other packages' test builds), so that each 'go run' only compiles package main and links.
import (
	_ "github.com/s2s-authorizer/s2s-authorizer/internal/bench"
	_ "github.com/s2s-authorizer/s2s-authorizer/internal/replay"
	_ "github.com/s2s-authorizer/s2s-authorizer/internal/wiring"
)
