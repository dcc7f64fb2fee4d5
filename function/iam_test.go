package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

const (
	profileID   = "Profile-7c1e4b2a-9d3f-4e5a-8b6c-0d1e2f3a4b5c"
	profileName = "s2s-authorizer"
	crToken     = "compute-resource-token-of-the-app"
)

// credentialEnv is the environment that points the binary at an emulator whose world knows one
// trusted profile, with the credentials of kind and no IBMCLOUD_ACCOUNT_ID.
func credentialEnv(t *testing.T, kind, token string) (*emulator.Server, map[string]string) {
	t.Helper()
	w := te.World()
	w.TrustedProfiles = []emulator.TrustedProfile{{ID: profileID, Name: profileName, CRTokens: []string{crToken}}}
	srv, env := emulatorEnv(t, w)
	delete(env, "IBMCLOUD_ACCOUNT_ID")
	switch kind {
	case "api key":
	case "trusted profile name", "trusted profile ID":
		delete(env, "IBMCLOUD_API_KEY")
		env["IBMCLOUD_TRUSTED_PROFILE"] = profileName
		if kind == "trusted profile ID" {
			env["IBMCLOUD_TRUSTED_PROFILE"] = profileID
		}
		file := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
		env["IBMCLOUD_CR_TOKEN_FILE"] = file
	default:
		t.Fatalf("unknown credentials %q", kind)
	}
	return srv, env
}

// TestNoAccountIDNeeded: with an API key or a trusted profile (a compute-resource token file
// traded for an IAM token) and no IBMCLOUD_ACCOUNT_ID, job and reconcile act in the token's
// account; the policies they make are recorded as made by that identity.
func TestNoAccountIDNeeded(t *testing.T) {
	attach := `{"action":"is.tag.attach","outcome":"success","target":{"id":"` + te.SnapCRN + `"}}`
	for _, kind := range []string{"api key", "trusted profile name", "trusted profile ID"} {
		t.Run(kind+" job", func(t *testing.T) {
			srv, env := credentialEnv(t, kind, crToken)
			for k, v := range map[string]string{"CE_ID": "1", "CE_SOURCE": "/k", "CE_TYPE": delivery.TypeKafka, "CE_SPECVERSION": "1.0", "CE_DATA": attach} {
				env[k] = v
			}
			code, stdout, stderr := run(t, context.Background(), env, "job")
			if code != 0 || !strings.Contains(stdout, `"outcome": "applied"`) {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			checkMadeBy(t, srv, kind, 1)
		})
		t.Run(kind+" reconcile", func(t *testing.T) {
			srv, env := credentialEnv(t, kind, crToken)
			code, stdout, stderr := run(t, context.Background(), env, "reconcile")
			if code != 0 || !strings.Contains(stdout, "Plan: 3 to create") {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			checkMadeBy(t, srv, kind, 3)
		})
	}
	t.Run("a compute-resource token IAM does not accept", func(t *testing.T) {
		srv, env := credentialEnv(t, "trusted profile name", "someone-elses-token")
		code, stdout, stderr := run(t, context.Background(), env, "reconcile")
		if code == 0 || !strings.Contains(stdout+stderr, "not valid for trusted profile") {
			t.Errorf("exit %d, want a failure saying the token is refused; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if w := srv.Stats().Writes; w != 0 {
			t.Errorf("%d writes, want none", w)
		}
	})
}

// checkMadeBy checks that the account holds n Block Storage grants, each made by the identity of
// kind: the trusted profile, or the API key's service ID.
func checkMadeBy(t *testing.T, srv *emulator.Server, kind string, n int) {
	t.Helper()
	policies, err := te.WorldPolicies(srv.World())
	if err != nil {
		t.Fatal(err)
	}
	want := "iam-ServiceId-"
	if kind != "api key" {
		want = "iam-" + profileID
	}
	got := 0
	for _, p := range policies {
		if p.Subject("serviceName") != "server-protect" {
			continue
		}
		got++
		if !strings.HasPrefix(p.CreatedBy, want) {
			t.Errorf("policy %s made by %q, want %s…", p.ID, p.CreatedBy, want)
		}
	}
	if got != n {
		t.Errorf("%d Block Storage grants, want %d", got, n)
	}
}

// TestAccountIDMismatch: an IBMCLOUD_ACCOUNT_ID that is not the token's account is a
// configuration error (exit 2) naming both accounts, and nothing is written.
func TestAccountIDMismatch(t *testing.T) {
	for _, kind := range []string{"api key", "trusted profile name"} {
		for _, command := range []string{"job", "reconcile", "serve"} {
			t.Run(kind+" "+command, func(t *testing.T) {
				srv, env := credentialEnv(t, kind, crToken)
				env["IBMCLOUD_ACCOUNT_ID"] = te.Stranger
				// serve must stop at start; the deadline only keeps a regression from hanging.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				args := []string{command}
				if command == "serve" {
					args = append(args, "--listen", "127.0.0.1:0")
				}
				code, stdout, stderr := run(t, ctx, env, args...)
				if code != 2 || !strings.Contains(stderr, te.Stranger) || !strings.Contains(stderr, te.Account) {
					t.Errorf("exit %d, want 2 naming %s and %s; stdout:\n%s\nstderr:\n%s", code, te.Stranger, te.Account, stdout, stderr)
				}
				if w := srv.Stats().Writes; w != 0 {
					t.Errorf("%d writes, want none", w)
				}
			})
		}
	}
}
