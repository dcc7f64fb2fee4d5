package authz

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
)

// MaxTagLength is IBM's limit for a user tag; a longer "tag" did not come from IBM.
const MaxTagLength = 128

// ParseRestoreTag reads a tag of the form <prefix>:<account-id>. matched is false for tags that
// are not restore requests at all (they are none of this project's business); a tag that starts
// with the prefix but is otherwise wrong is matched with an error saying what is wrong, so that
// the caller can report the refusal instead of silently ignoring a user's intent. The prefix is
// compared without regard to case because IBM treats tags case-insensitively.
func ParseRestoreTag(prefix, tag string) (account string, matched bool, err error) {
	if len(tag) < len(prefix)+1 || !strings.EqualFold(tag[:len(prefix)], prefix) {
		return "", false, nil
	}
	if tag[len(prefix)] != ':' {
		// "s2s-restore :acct": a user's intent with a stray space, refused aloud, not ignored.
		if after := strings.TrimLeft(tag[len(prefix):], " \t"); after != tag[len(prefix):] && strings.HasPrefix(after, ":") {
			return "", true, fmt.Errorf("tag has a space before ':'; want %s:<account-id>", prefix)
		}
		return "", false, nil
	}
	if utf8.RuneCountInString(tag) > MaxTagLength {
		return "", true, fmt.Errorf("tag is %d characters long, more than %d", utf8.RuneCountInString(tag), MaxTagLength)
	}
	rest := tag[len(prefix)+1:]
	switch {
	case rest == "":
		return "", true, fmt.Errorf("tag names no account after %q", prefix+":")
	case strings.Contains(rest, ":"):
		return "", true, fmt.Errorf("tag has more than one ':'; want %s:<account-id>", prefix)
	case !crn.IsAccountID(rest):
		return "", true, fmt.Errorf("%q is not an account ID (32 lowercase hexadecimal characters)", rest)
	}
	return rest, true, nil
}
