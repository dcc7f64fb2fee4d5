package bench

import (
	"fmt"
	"strings"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// Defaults of the settings the cap note is about (config: POLICY_CAP_HEADROOM,
// MAX_WRITES_PER_SECOND).
const (
	defaultHeadroom = 100
	defaultPace     = 5.0
)

// capSection is what an account at IAM's policy cap costs, from the page size, the latency of
// the real-latency section and the default settings; the measured rows it leans on are named.
func capSection() Section {
	policyPages := pages(authz.AccountPolicyCap)
	readList := time.Duration(policyPages) * realLatency
	stop := authz.AccountPolicyCap - defaultHeadroom
	writeAll := time.Duration(float64(stop) / defaultPace * float64(time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "IAM allows %s policies per account. At that cap, with %s per IBM call:\n\n", count(authz.AccountPolicyCap), ms(realLatency))
	fmt.Fprintf(&b, "- **Read phase** (the full reconcile): the policy list is %d pages of %d, one after another: %d × %s ≈ %.1f s. "+
		"It runs at the same time as each region's snapshot list, the KMS list and the backup policy probe, so the read phase lasts as long "+
		"as the longest of them (the row \"150 ms per call: full reconcile\" measures that ratio): with 10,000 snapshots in 2 regions, "+
		"each region's 50 pages (7.5 s) are the longest, not the policies. An event never waits for that listing: the index serves "+
		"its last listing while one background refresh runs, and a cold process answers from IAM's 409.\n",
		policyPages, listPageSize, policyPages, ms(realLatency), readList.Seconds())
	fmt.Fprintf(&b, "- **Write phase** at the default pace (`MAX_WRITES_PER_SECOND` %g, shared by the events and the reconcile of a "+
		"process): each write waits its turn, so 1,000 creates take %s s, and filling an empty account up to where the cap stops it "+
		"(%s creates) takes %s s ≈ %.0f min; each object written is also read again before the write and after it (the reads are not paced). "+
		"Each process has its own limiter: N app instances and the job together may write N + 1 times that pace.\n",
		defaultPace, fmt.Sprint(1000/defaultPace), count(stop), fmt.Sprint(int(writeAll.Seconds())), writeAll.Minutes())
	fmt.Fprintf(&b, "- **Where the cap stops it**: with `POLICY_CAP_HEADROOM` %d (the default) a create is refused without a call once the "+
		"policy index counts %s − %d = %s authorization policies (answered `refused`, 2xx: retrying cannot help; keeps and removals go on). "+
		"The index counts only authorization policies, while access policies count towards IAM's cap too, so IAM's own 400 "+
		"`policy_limit_exceeded` may come first; it is answered the same way.\n",
		defaultHeadroom, count(authz.AccountPolicyCap), defaultHeadroom, count(stop))
	return Section{Title: "An account at IAM's 4,020-policy cap", Body: b.String()}
}
