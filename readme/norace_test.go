//go:build !race

package readme_test

// raceEnabled: the test runs without the race detector, and so do the README's Go commands.
const raceEnabled = false
