// Package ibm holds the thin adapters over IBM's Go SDKs: IAM policies, the account of an API
// key, VPC snapshots, KMS instances from the resource controller, and root keys from the Key
// Protect API. They translate between SDK types and the domain model, wrap every error with the
// operation and the object, and configure every client the same way (timeouts, retries with
// jitter). Nothing here decides what should exist.
package ibm
