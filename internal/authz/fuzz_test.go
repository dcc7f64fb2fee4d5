package authz_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	"github.com/s2s-authorizer/s2s-authorizer/internal/testcorpus"
)

const (
	owner    = fixture.Account
	allowed  = fixture.Restorer
	snapshot = fixture.Snap
)

// restoreTags are the restore tags quoted in the project's recorded events and worlds.
func restoreTags(t testing.TB) []string {
	return testcorpus.Quoted(t, "../..", regexp.MustCompile(`"([^"]*s2s-restore[^"]*)"`))
}

// FuzzParseRestoreTag: a tag is a restore request only when it starts with the prefix and a
// colon; a request the parser accepts names a valid account ID, exactly what follows the
// colon; one it refuses names no account.
func FuzzParseRestoreTag(f *testing.F) {
	for _, tag := range restoreTags(f) {
		f.Add("s2s-restore", tag)
	}
	f.Fuzz(func(t *testing.T, prefix, tag string) {
		account, matched, err := authz.ParseRestoreTag(prefix, tag)
		switch {
		case !matched:
			if account != "" || err != nil {
				t.Errorf("not a restore tag, yet account %q, error %v", account, err)
			}
		case err != nil:
			if account != "" {
				t.Errorf("refused (%v), yet account %q", err, account)
			}
		default:
			if !crn.IsAccountID(account) {
				t.Errorf("accepted %q as the account of %q", account, tag)
			}
			if !strings.EqualFold(tag[:len(prefix)], prefix) || tag[len(prefix):] != ":"+account {
				t.Errorf("tag %q with prefix %q gave account %q", tag, prefix, account)
			}
			if utf8.RuneCountInString(tag) > authz.MaxTagLength {
				t.Errorf("accepted a tag of %d characters", utf8.RuneCountInString(tag))
			}
		}
	})
}

// FuzzForSnapshot: whatever tags a snapshot carries (one per line), the only grants the rules
// give are restore grants of that snapshot to an allowed account, each fitting its template.
func FuzzForSnapshot(f *testing.F) {
	for _, tag := range restoreTags(f) {
		f.Add(tag)
	}
	f.Fuzz(func(t *testing.T, tags string) {
		rules := authz.Rules{AccountID: owner, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: []string{allowed}, KMSScope: authz.ScopeInstance}
		snap := &authz.Snapshot{ID: snapshot, CRN: "crn:v1:bluemix:public:is:us-south:a/" + owner + "::snapshot:" + snapshot, UserTags: strings.Split(tags, "\n")}
		want, refusals := rules.ForSnapshot(snap)
		if len(want) > 1 {
			t.Errorf("%d grants for one allowed account: %v", len(want), want)
		}
		for _, a := range want {
			if a.Kind != authz.KindRestore || a.Subject("accountId") != allowed || a.Resource("snapshotId") != snapshot || a.Object != snap.CRN {
				t.Errorf("grant %s for %s", a, a.Object)
			}
			if err := authz.CheckTemplate(a); err != nil {
				t.Errorf("grant does not fit its template: %v", err)
			}
			if !slices.ContainsFunc(snap.UserTags, func(tag string) bool { return strings.EqualFold(tag, "s2s-restore:"+allowed) }) {
				t.Errorf("grant %s without a tag asking for it", a)
			}
		}
		for _, r := range refusals {
			if r.Object != snap.CRN || r.Reason == "" {
				t.Errorf("refusal %+v", r)
			}
		}
	})
}
