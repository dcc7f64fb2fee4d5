package crn_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
	"github.com/s2s-authorizer/s2s-authorizer/internal/testcorpus"
)

// FuzzParse: Parse never panics, says briefly what is wrong with what it refuses, and what it
// accepts prints back exactly as it came and parses again to the same CRN, whose account is
// either absent or a valid account ID.
func FuzzParse(f *testing.F) {
	for _, s := range testcorpus.Quoted(f, "../..", regexp.MustCompile(`"(crn:[^"]*)"`)) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := crn.Parse(s)
		if err != nil {
			if len(err.Error()) > 1024 {
				t.Errorf("error of %d bytes: %.200s…", len(err.Error()), err)
			}
			return
		}
		if len(s) > crn.MaxLength {
			t.Errorf("accepted %d characters, more than %d", len(s), crn.MaxLength)
		}
		if got := c.String(); got != s {
			t.Errorf("String() = %q, parsed from %q", got, s)
		}
		again, err := crn.Parse(c.String())
		if err != nil || again != c {
			t.Errorf("re-parsing %q: %+v, %v; want %+v", c.String(), again, err, c)
		}
		if a := c.Account(); c.Scope != "" && !crn.IsAccountID(a) {
			t.Errorf("scope %q gives account %q", c.Scope, a)
		}
		if strings.ContainsAny(c.Service+c.Location+c.ServiceInstance+c.ResourceType+c.Resource, " \t\r\n\"'$`;|&<>\\") {
			t.Errorf("accepted a segment with white space or metacharacters: %+v", c)
		}
		if in := c.Instance(); in.ResourceType != "" || in.Resource != "" || in.ServiceInstance != c.ServiceInstance || in.Scope != c.Scope {
			t.Errorf("Instance() = %+v", in)
		}
	})
}
