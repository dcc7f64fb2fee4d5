// Package e2e holds end-to-end tests of apply and converge: the real SDK clients and adapters
// against the embedded emulator over loopback HTTP, counting the calls IAM sees. The unit tests
// of those packages use in-memory fakes of their ports; these tests check that the adapters keep
// the ports' contracts as the fakes assume. The package has no code outside its tests.
package e2e
