// Package crn parses IBM Cloud Resource Names strictly, because every decision this project takes
// about whose resource an event concerns starts from a CRN that arrived from outside.
package crn

import (
	"fmt"
	"regexp"
	"strings"
)

// MaxLength bounds what is parsed at all: real CRNs are far shorter, and an input this long is
// garbage, not a resource.
const MaxLength = 512

// CRN is crn:v1:<cname>:<ctype>:<service>:<location>:<scope>:<instance>:<resource-type>:<resource>.
type CRN struct {
	CName           string
	CType           string
	Service         string
	Location        string
	Scope           string
	ServiceInstance string
	ResourceType    string
	Resource        string
}

var (
	accountIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)
	tokenPattern     = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)
	resourcePattern  = regexp.MustCompile(`^[A-Za-z0-9._/-]*$`)
)

// IsAccountID reports whether s is an IBM Cloud account ID: 32 lowercase hexadecimal characters.
func IsAccountID(s string) bool { return accountIDPattern.MatchString(s) }

// Parse parses s and says which segment is wrong when it is not a CRN.
func Parse(s string) (CRN, error) {
	if len(s) > MaxLength {
		return CRN{}, fmt.Errorf("CRN is %d characters long, more than %d", len(s), MaxLength)
	}
	parts := strings.Split(s, ":")
	if len(parts) != 10 {
		return CRN{}, fmt.Errorf("CRN %q has %d segments, want 10", abbreviate(s), len(parts))
	}
	if parts[0] != "crn" || parts[1] != "v1" {
		return CRN{}, fmt.Errorf("CRN %q does not start with \"crn:v1\"", abbreviate(s))
	}
	c := CRN{
		CName: parts[2], CType: parts[3], Service: parts[4], Location: parts[5],
		Scope: parts[6], ServiceInstance: parts[7], ResourceType: parts[8], Resource: parts[9],
	}
	for _, f := range []struct {
		name, value string
		pattern     *regexp.Regexp
		required    bool
	}{
		{"cname", c.CName, tokenPattern, true},
		{"ctype", c.CType, tokenPattern, true},
		{"service name", c.Service, tokenPattern, true},
		{"location", c.Location, tokenPattern, false},
		{"service instance", c.ServiceInstance, tokenPattern, false},
		{"resource type", c.ResourceType, tokenPattern, false},
		{"resource", c.Resource, resourcePattern, false},
	} {
		if f.required && f.value == "" {
			return CRN{}, fmt.Errorf("CRN %q has an empty %s", abbreviate(s), f.name)
		}
		if !f.pattern.MatchString(f.value) {
			return CRN{}, fmt.Errorf("CRN %q has an invalid %s %q", abbreviate(s), f.name, abbreviate(f.value))
		}
	}
	if c.Scope != "" {
		account, ok := strings.CutPrefix(c.Scope, "a/")
		if !ok || !IsAccountID(account) {
			return CRN{}, fmt.Errorf("CRN %q has scope %q, want a/<32 hex account id>", abbreviate(s), abbreviate(c.Scope))
		}
	}
	return c, nil
}

// Public is the CRN of a resource of account in IBM's public cloud (IBM's "Cloud Resource
// Names": cname bluemix, ctype public, scope a/<account>); empty parts stay empty, as in the
// CRN of an instance (no resource type or resource) or of a service's log source (no instance).
func Public(service, location, account, instance, resourceType, resource string) CRN {
	return CRN{CName: "bluemix", CType: "public", Service: service, Location: location, Scope: "a/" + account,
		ServiceInstance: instance, ResourceType: resourceType, Resource: resource}
}

// Account is the account ID in the CRN's scope, or "" when the CRN has no account scope.
func (c CRN) Account() string {
	return strings.TrimPrefix(c.Scope, "a/")
}

func (c CRN) String() string {
	return strings.Join([]string{"crn", "v1", c.CName, c.CType, c.Service, c.Location, c.Scope,
		c.ServiceInstance, c.ResourceType, c.Resource}, ":")
}

// Instance is the CRN of the service instance this CRN belongs to (resource type and resource
// cleared), e.g. the Key Protect instance of a key.
func (c CRN) Instance() CRN {
	c.ResourceType, c.Resource = "", ""
	return c
}

// abbreviate keeps error messages readable when the input is huge or hostile.
func abbreviate(s string) string {
	const keep = 80
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "…"
}
