package crn

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const acct = "4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"
	tests := []struct {
		name    string
		in      string
		want    CRN
		wantErr string
	}{
		{
			name: "snapshot",
			in:   "crn:v1:bluemix:public:is:us-south:a/" + acct + "::snapshot:r006-1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b",
			want: CRN{CName: "bluemix", CType: "public", Service: "is", Location: "us-south", Scope: "a/" + acct,
				ResourceType: "snapshot", Resource: "r006-1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b"},
		},
		{
			name: "key",
			in:   "crn:v1:bluemix:public:kms:us-south:a/" + acct + ":3b05b403-8f51-4dac-9114-c777d0a760d4:key:7a8a2761-08e3-455f-a348-144ed604bba9",
			want: CRN{CName: "bluemix", CType: "public", Service: "kms", Location: "us-south", Scope: "a/" + acct,
				ServiceInstance: "3b05b403-8f51-4dac-9114-c777d0a760d4", ResourceType: "key", Resource: "7a8a2761-08e3-455f-a348-144ed604bba9"},
		},
		{
			name: "instance",
			in:   "crn:v1:bluemix:public:hs-crypto:eu-de:a/" + acct + ":0a1b2c3d-0000-4000-8000-000000000001::",
			want: CRN{CName: "bluemix", CType: "public", Service: "hs-crypto", Location: "eu-de", Scope: "a/" + acct,
				ServiceInstance: "0a1b2c3d-0000-4000-8000-000000000001"},
		},
		{name: "empty", in: "", wantErr: "has 1 segments"},
		{name: "too few segments", in: "crn:v1:bluemix:public:is", wantErr: "has 5 segments"},
		{name: "too many segments", in: "crn:v1:bluemix:public:is:us-south:a/" + acct + "::snapshot:x:y", wantErr: "has 11 segments"},
		{name: "not a crn", in: "arn:v1:bluemix:public:is:us-south:a/" + acct + "::snapshot:x", wantErr: `does not start with "crn:v1"`},
		{name: "wrong version", in: "crn:v2:bluemix:public:is:us-south:a/" + acct + "::snapshot:x", wantErr: `does not start with "crn:v1"`},
		{name: "no service", in: "crn:v1:bluemix:public::us-south:a/" + acct + "::snapshot:x", wantErr: "empty service name"},
		{name: "bad account", in: "crn:v1:bluemix:public:is:us-south:a/XYZ::snapshot:x", wantErr: "want a/<32 hex account id>"},
		{name: "uppercase account", in: "crn:v1:bluemix:public:is:us-south:a/" + strings.ToUpper(acct) + "::snapshot:x", wantErr: "want a/<32 hex account id>"},
		{name: "scope not an account", in: "crn:v1:bluemix:public:is:us-south:o/" + acct + "::snapshot:x", wantErr: "want a/<32 hex account id>"},
		{name: "shell metacharacters", in: "crn:v1:bluemix:public:is:us-south:a/" + acct + "::snapshot:$(rm -rf /)", wantErr: "invalid resource"},
		{name: "unicode", in: "crn:v1:bluemix:public:is:us-söuth:a/" + acct + "::snapshot:x", wantErr: "invalid location"},
		{name: "oversized", in: "crn:v1:bluemix:public:is:us-south:a/" + acct + "::snapshot:" + strings.Repeat("a", 600), wantErr: "more than 512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String() = %q, want the input back", got.String())
			}
		})
	}
}

func TestAccountAndInstance(t *testing.T) {
	c, err := Parse("crn:v1:bluemix:public:kms:us-south:a/4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e:3b05b403-8f51-4dac-9114-c777d0a760d4:key:7a8a")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Account(); got != "4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e" {
		t.Errorf("Account() = %q", got)
	}
	if got, want := c.Instance().String(), "crn:v1:bluemix:public:kms:us-south:a/4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e:3b05b403-8f51-4dac-9114-c777d0a760d4::"; got != want {
		t.Errorf("Instance() = %q, want %q", got, want)
	}
}

func TestIsAccountID(t *testing.T) {
	for in, want := range map[string]bool{
		"4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e":  true,
		"4B9F2C1D8E7A6B5C4D3E2F1A0B9C8D7E":  false,
		"4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7":   false,
		"4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e0": false,
		"4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7g":  false,
		"":                                  false,
	} {
		if got := IsAccountID(in); got != want {
			t.Errorf("IsAccountID(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestPublic(t *testing.T) {
	const account = "4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"
	tests := []struct {
		name string
		got  CRN
		want string
	}{
		{"snapshot", Public("is", "us-south", account, "", "snapshot", "r006-1"), "crn:v1:bluemix:public:is:us-south:a/" + account + "::snapshot:r006-1"},
		{"KMS instance", Public("kms", "us-south", account, "guid-1", "", ""), "crn:v1:bluemix:public:kms:us-south:a/" + account + ":guid-1::"},
		{"key", Public("hs-crypto", "eu-de", account, "guid-1", "key", "k-1"), "crn:v1:bluemix:public:hs-crypto:eu-de:a/" + account + ":guid-1:key:k-1"},
		{"log source", Public("is", "us-south", account, "", "", ""), "crn:v1:bluemix:public:is:us-south:a/" + account + ":::"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if s := tc.got.String(); s != tc.want {
				t.Fatalf("String() = %q, want %q", s, tc.want)
			}
			back, err := Parse(tc.want)
			if err != nil || back != tc.got {
				t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.want, back, err, tc.got)
			}
		})
	}
}
