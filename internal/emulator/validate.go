package emulator

import (
	"regexp"
	"slices"
	"time"
)

// regions are the VPC regions (the vpcv1 SDK's GetServiceURLForRegion list). Key Protect and HPCS
// instances are checked against the same list: the emulator's assumption, they overlap in
// practice and a typo in a world file is what this catches.
var regions = []string{
	"au-syd", "br-sao", "ca-mon", "ca-tor", "eu-de", "eu-es", "eu-gb",
	"in-che", "jp-osa", "jp-tok", "us-east", "us-south",
}

func isRegion(s string) bool { return slices.Contains(regions, s) }

// kmsServices are the CRN service names of the key managers whose keys encrypt volumes.
var kmsServices = []string{"kms", "hs-crypto"}

func isKMSService(s string) bool { return slices.Contains(kmsServices, s) }

var (
	accountIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)
	guidPattern      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	// VPC ids are "<zone-or-region code>-<uuid>" (e.g. r006-…); the emulator only insists on the
	// VPC id alphabet so that hand-written worlds stay easy to write.
	vpcIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	// vpcNamePattern is the pattern VPC documents for resource names.
	vpcNamePattern = regexp.MustCompile(`^-?([a-z]|[a-z][-a-z0-9]*[a-z0-9]|[0-9][-a-z0-9]*([a-z]|[-a-z][-a-z0-9]*[a-z0-9]))$`)
	// tagPattern is the user tag alphabet of the facts file (section 3).
	tagPattern     = regexp.MustCompile(`^[A-Za-z0-9 _.:-]+$`)
	versionPattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// The checks below run once per snapshot of a world: byte loops where a regular expression
// would be most of the load time. Each has its pattern next to it; validate_test.go checks
// they agree.

// isAccountID is accountIDPattern.
func isAccountID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := range len(s) {
		if !isLowerHex(s[i]) {
			return false
		}
	}
	return true
}

// isGUID is guidPattern.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return false
			}
		} else if !isLowerHex(s[i]) {
			return false
		}
	}
	return true
}

// isVPCID is vpcIDPattern.
func isVPCID(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '-' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isTagText is tagPattern.
func isTagText(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == ' ' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func isLowerHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

func isVPCName(s string) bool { return len(s) <= 63 && vpcNamePattern.MatchString(s) }

// maxTagLength is the user tag length limit of the facts file.
const maxTagLength = 128

// tagProblem says what is wrong with a user tag, or "" when it is valid.
func tagProblem(tag string) string {
	switch {
	case tag == "":
		return "tag must not be empty"
	case len(tag) > maxTagLength:
		return "tag is longer than 128 characters"
	case !isTagText(tag):
		return "tag may only contain A-Z a-z 0-9 space _ . - :"
	}
	return ""
}

// validVersion checks a VPC API version date.
func validVersion(v string) bool {
	if !versionPattern.MatchString(v) {
		return false
	}
	_, err := time.Parse(time.DateOnly, v)
	return err == nil
}
