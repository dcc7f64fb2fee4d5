package plan

// Filter applies the mode to a sync plan, as external-dns applies its policies to the change set:
// the one place where the mode decides anything. Upsert-only turns every delete into a retain,
// keeps an outdated policy of ours instead of replacing it (a replace deletes first), and forbids
// the replace a create might otherwise do when IAM names our own policy in a 409.
func (m Mode) Filter(p Plan) Plan {
	if m != ModeUpsertOnly {
		return p
	}
	out := Plan{Changes: make([]Change, 0, len(p.Changes))}
	for _, c := range p.Changes {
		switch c.Action {
		case Delete, Replace:
			c = Change{Action: Retain, Policy: c.Policy}
		case Create:
			c.MayReplace = false
		}
		out.Changes = append(out.Changes, c)
	}
	return out
}
