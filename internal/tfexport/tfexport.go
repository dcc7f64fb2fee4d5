// Package tfexport renders IAM authorization policies as Terraform for the IBM provider: one
// ibm_iam_authorization_policy resource and one import block per policy, in the layout
// `terraform fmt` writes, so that a team can hand grants over to infrastructure as code and
// `terraform plan` shows no change after the import. It is pure: policies in, HCL out.
package tfexport

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// Entry is one policy to export and the kind of grant it is (the marker's, or the shape's for a
// policy made by hand).
type Entry struct {
	Policy  authz.Policy
	Kind    string
	Managed bool
}

// resourceType is the provider's resource for authorizations (terraform-provider-ibm,
// website/docs/r/iam_authorization_policy.html.markdown).
const resourceType = "ibm_iam_authorization_policy"

// Write prints entries in a stable order (kind, then resource name), each resource followed by
// its import block. Attributes are written as subject_attributes and resource_attributes blocks
// rather than source_service_name and friends: the provider's shorthand arguments cannot say
// snapshotId, and the blocks carry the policy's attributes one for one, which is what makes the
// plan after import empty.
func Write(w io.Writer, entries []Entry) error {
	named := Names(entries)
	sort.SliceStable(named, func(i, j int) bool { return named[i].name < named[j].name })
	var b strings.Builder
	for i, n := range named {
		if i > 0 {
			b.WriteString("\n")
		}
		writeResource(&b, n.name, n.Entry)
		b.WriteString("\n")
		writeImport(&b, n.name, n.Policy.ID)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Named is an entry with its resource name.
type Named struct {
	Entry
	name string
}

// Name is the Terraform resource name.
func (n Named) Name() string { return n.name }

// Names gives each entry a resource name derived from its kind and object, so that exporting
// twice gives the same names: <kind>_<object>[_<subject account>]. Two policies with the same
// derived name (a hand-made restore grant in each subject form) are told apart by policy ID order
// with _2, _3, ….
func Names(entries []Entry) []Named {
	sorted := make([]Entry, len(entries))
	copy(sorted, entries)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Policy.ID < sorted[j].Policy.ID })
	seen := map[string]int{}
	out := make([]Named, 0, len(sorted))
	for _, e := range sorted {
		base := baseName(e)
		seen[base]++
		name := base
		if n := seen[base]; n > 1 {
			name = fmt.Sprintf("%s_%d", base, n)
		}
		out = append(out, Named{Entry: e, name: name})
	}
	return out
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

func baseName(e Entry) string {
	p := e.Policy
	parts := []string{e.Kind}
	if !e.Managed {
		parts = []string{"unmanaged", e.Kind}
	}
	switch {
	case p.Resource("snapshotId") != "":
		parts = append(parts, p.Resource("snapshotId"), p.Subject("accountId"))
	case p.Resource("serviceInstance") != "":
		parts = append(parts, p.Resource("serviceInstance"))
		if key := p.Resource("resource"); key != "" {
			parts = append(parts, "key", key)
		}
		if p.Subject("accountId") != p.Resource("accountId") {
			parts = append(parts, p.Subject("accountId"))
		}
	default:
		parts = append(parts, p.ID)
	}
	name := unsafeName.ReplaceAllString(strings.ToLower(strings.Join(parts, "_")), "_")
	return strings.Trim(name, "_")
}

// RoleName is the name the provider takes in roles for a role CRN: IAM's display name, which
// for the roles these grants use is the CRN's last segment, except AuthorizationDelegator, shown
// as "Authorization Delegator" (the provider's own example of a delegating grant).
func RoleName(roleCRN string) string {
	name := roleCRN[strings.LastIndex(roleCRN, ":")+1:]
	if name == authz.RoleNameAuthorizationDelegator {
		return "Authorization Delegator"
	}
	return name
}

func writeResource(b *strings.Builder, name string, e Entry) {
	p := e.Policy
	fmt.Fprintf(b, "resource %q %q {\n", resourceType, name)
	roles := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = quote(RoleName(r))
	}
	attrs := [][2]string{}
	if p.Description != "" {
		attrs = append(attrs, [2]string{"description", quote(p.Description)})
	}
	attrs = append(attrs, [2]string{"roles", "[" + strings.Join(roles, ", ") + "]"})
	writeAligned(b, "  ", attrs)
	for _, a := range p.Subjects {
		b.WriteString("\n")
		writeAttributeBlock(b, "subject_attributes", a)
	}
	for _, a := range p.Resources {
		b.WriteString("\n")
		writeAttributeBlock(b, "resource_attributes", a)
	}
	b.WriteString("}\n")
}

func writeAttributeBlock(b *strings.Builder, block string, a authz.Attribute) {
	fmt.Fprintf(b, "  %s {\n", block)
	attrs := [][2]string{{"name", quote(a.Name)}}
	if a.Operator != "" {
		attrs = append(attrs, [2]string{"operator", quote(a.Operator)})
	}
	attrs = append(attrs, [2]string{"value", quote(a.Value)})
	writeAligned(b, "    ", attrs)
	b.WriteString("  }\n")
}

func writeImport(b *strings.Builder, name, id string) {
	b.WriteString("import {\n")
	writeAligned(b, "  ", [][2]string{{"to", resourceType + "." + name}, {"id", quote(id)}})
	b.WriteString("}\n")
}

// writeAligned writes consecutive attributes with their equals signs in one column, as
// terraform fmt does.
func writeAligned(b *strings.Builder, indent string, attrs [][2]string) {
	width := 0
	for _, a := range attrs {
		width = max(width, len(a[0]))
	}
	for _, a := range attrs {
		fmt.Fprintf(b, "%s%-*s = %s\n", indent, width, a[0], a[1])
	}
}

// quote writes an HCL string literal: JSON-like escapes, plus $${ and %%{ so that a description
// is never read as a template interpolation or directive (HCL native syntax specification,
// "Template Literals").
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case (c == '$' || c == '%') && i+1 < len(s) && s[i+1] == '{':
			b.WriteByte(c)
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
