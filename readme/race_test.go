//go:build race

package readme_test

// raceEnabled: the test runs with the race detector, and so do the README's Go commands.
const raceEnabled = true
