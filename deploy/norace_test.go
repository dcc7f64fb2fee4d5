//go:build !race

package deploy_test

// raceEnabled: the test runs without the race detector, so the binary it builds does too (and
// its packages come from the same build cache entries).
const raceEnabled = false
