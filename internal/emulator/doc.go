// Package emulator is an in-process fake of the IBM Cloud APIs that s2s-authorizer talks to:
// IAM (JWT tokens, API key details, v1 and v2 policies over one store, role lists, the account's
// policy cap), VPC snapshots and backup policies, Global Tagging, Resource Controller and Key
// Protect / Hyper Protect Crypto Services keys.
//
// It exists so that tests, the local replay harness and users can run the real, unmodified IBM
// Go SDK clients over real HTTP against a fake account whose state is a small JSON "world"
// file. Only the clients' service URLs change (see Server.Endpoints and Server.Env).
//
// Where IBM's behaviour is not documented precisely, the emulator follows the project's notes on
// IBM Cloud's API behaviour and says so next to the code ("emulator's assumption"), so that a
// wrong guess is a one-place change.
//
// Faults (throttling, server errors, lost responses, latency, eventual consistency) can be
// injected to exercise retry and reconcile logic; Stats counts the calls per route so that tests
// can assert how many API calls a piece of code makes.
package emulator
