package main

import (
	"context"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// runFast runs a subcommand like run, with IBM clients that do not retry, so that a check
// broken by an injected fault answers at once.
func runFast(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	out, errOut := &te.Buffer{}, &te.Buffer{}
	fast := te.FastOptions()
	fast.MaxRetries = 0
	// The Key Protect client's retries are process-wide (main sets them): this test's, then
	// main's again. Parallel tests are paused while this sequential one runs.
	ibm.LimitKeyProtectRetries(fast)
	t.Cleanup(func() { ibm.LimitKeyProtectRetries(ibm.DefaultOptions()) })
	a := &app{stdout: out, stderr: errOut, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		ibmOptions: func() ibm.Options { return fast }}
	code = a.main(context.Background(), args)
	return code, out.String(), errOut.String()
}

func TestDoctorLocalPassesEveryCheck(t *testing.T) {
	code, out, errOut := runFast(t, map[string]string{"IBMCLOUD_REGIONS": "us-south,eu-de"},
		"doctor", "--local")
	if code != exitOK {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !strings.HasSuffix(last, "0 ✗, 0 ?") {
		t.Errorf("summary %q: want no ✗ and no ?\n%s", last, out)
	}
	for _, want := range []string{
		"✓ credentials: IAM issued a token for iam-ServiceId-",
		"✓ account: " + te.Account + ", from the token",
		"✓ role SnapshotRemoteAccountRestorer on is for server-protect: crn:v1:bluemix:public:iam::::role:SnapshotRemoteAccountRestorer",
		"✓ role AuthorizationDelegator on hs-crypto for server-protect: crn:v1:bluemix:public:iam::::role:AuthorizationDelegator",
		"✓ policy cap: 1 of 4020 policies",
		"✓ snapshots in us-south: readable",
		"✓ snapshots in eu-de: readable",
		"✓ keys of kms " + te.KPGUID + ": 1 root keys readable",
		"✓ roles held on is: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

// Each case breaks one check and looks for its ✗ (or ?) and the line that says what to do.
func TestDoctorBrokenChecks(t *testing.T) {
	otherAccount := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name     string
		world    func(*emulator.World)
		env      map[string]string
		faults   *emulator.Faults
		wantCode int
		want     []string
	}{
		{
			name:     "missing role",
			world:    func(w *emulator.World) { w.RolesMissing = []string{"SnapshotRemoteAccountRestorer"} },
			wantCode: exitFailure,
			want: []string{
				"✗ role SnapshotRemoteAccountRestorer on is for server-protect: IAM's role list (GET /v2/roles?service_name=is&source_service_name=server-protect&policy_type=authorization) does not offer it",
				"    fix: IBM's texts disagree on the restore grant's subject: try RESTORE_SUBJECT=is-volume",
				"✓ role Reader on kms for server-protect",
			},
		},
		{
			name:     "wrong account",
			env:      map[string]string{"IBMCLOUD_ACCOUNT_ID": otherAccount},
			wantCode: exitFailure,
			want: []string{
				"✗ account: IBMCLOUD_ACCOUNT_ID is " + otherAccount + ", but the credentials belong to account " + te.Account,
				"    fix: unset IBMCLOUD_ACCOUNT_ID, set it to " + te.Account + ", or use credentials of account " + otherAccount,
				"✓ policies: ",
			},
		},
		{
			name:     "unreadable region",
			faults:   &emulator.Faults{P500: 1, Routes: []string{"GET /v1/snapshots"}},
			wantCode: exitFailure,
			want: []string{
				"✗ snapshots in us-south: ",
				"    fix: give the identity the roles of the README's Permissions table (Viewer on is); if us-south is not a region you use, remove it from IBMCLOUD_REGIONS",
				"✓ KMS instances: 2 ",
			},
		},
		{
			name:     "cap reached",
			env:      map[string]string{"POLICY_CAP_HEADROOM": "4019"},
			wantCode: exitFailure,
			want: []string{
				"✗ policy cap: 1 of 4020 policies (authorization policies seen; IAM's cap per account): creates stop at 1 (POLICY_CAP_HEADROOM=4019)",
				"    fix: delete authorization policies no longer needed",
			},
		},
		{
			name:     "unreadable keys",
			faults:   &emulator.Faults{P500: 1, Routes: []string{"GET /api/v2/keys"}},
			wantCode: exitFailure,
			want: []string{
				"✗ keys of kms " + te.KPGUID + ": ",
				"    fix: give the identity the roles of the README's Permissions table (Reader on kms)",
			},
		},
		{
			name:     "IAM unreachable",
			env:      map[string]string{"IBMCLOUD_IAM_URL": "http://127.0.0.1:1"},
			wantCode: exitFailure,
			want:     []string{"✗ credentials: ", "    fix: check IBMCLOUD_API_KEY"},
		},
		{
			// Without access policies of its own (its roles come from access groups, say) the
			// doctor cannot tell, which is not a failure.
			name:     "roles held through access groups cannot be seen",
			world:    func(w *emulator.World) { w.PoliciesV2 = nil },
			wantCode: exitOK,
			want: []string{
				"? roles held on kms: its own access policies do not show Administrator, Reader, AuthorizationDelegator on kms",
				"    check: ibmcloud iam service-policies SERVICE_ID",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			world := emulator.SampleWorld()
			if tc.world != nil {
				tc.world(world)
			}
			srv, env := emulatorEnv(t, world)
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.faults != nil {
				srv.SetFaults(*tc.faults)
			}
			code, out, errOut := runFast(t, env, "doctor")
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.wantCode, out, errOut)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, "\n"+want) && !strings.HasPrefix(out, want) {
					t.Errorf("missing line starting %q in\n%s", want, out)
				}
			}
		})
	}
}

func TestDoctorUsage(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"doctor", "--help"}, exitOK, "usage: s2s-authorizer doctor [flags]"},
		{[]string{"doctor", "extra"}, exitUsage, "unexpected arguments: extra"},
		{[]string{"doctor", "--world", "x.json"}, exitUsage, "--world needs --local"},
	}
	for _, tc := range tests {
		code, out, errOut := runFast(t, nil, tc.args...)
		if code != tc.wantCode || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v: exit %d, output %q; want %d and %q", tc.args, code, out+errOut, tc.wantCode, tc.want)
		}
	}
}

func TestDoctorCodeEngineCommands(t *testing.T) {
	code, out, _ := runFast(t, nil, "doctor", "--local", "--code-engine", "--project", "ops")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"ibmcloud ce project select --name ops",
		"ibmcloud ce subscription kafka get --name s2s-authorizer-activity-events",
		"ibmcloud atracker route ls\n      want: a route to the Event Streams target whose locations include global",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
