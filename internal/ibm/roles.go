package ibm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// Roles is the RoleBook of the templates: the role CRNs IAM offers for authorizations, read with
// GET /v2/roles?service_name=<target>&source_service_name=<subject>&policy_type=authorization
// (IAM Policy Management API, "List roles"; the facts file, section 1, on why the restore role's
// CRN cannot be trusted from the documentation). It is loaded once per process, since roles do
// not change by the minute, and loaded again when IAM refuses a role. Roles are kept per
// (target, source) pair, because IAM lists them per pair: on target is, restore grants go to
// server-protect and backup grants to is.
type Roles struct {
	service *iampolicymanagementv1.IamPolicyManagementV1
	needs   []authz.RoleNeed

	mu     sync.RWMutex
	crns   map[string]string // "target/source/Name" → CRN
	loaded bool
	err    error
}

// NewRoles reads the roles of needs.
func NewRoles(service *iampolicymanagementv1.IamPolicyManagementV1, needs []authz.RoleNeed) *Roles {
	return &Roles{service: service, needs: needs}
}

func roleKey(target, source, name string) string { return target + "/" + source + "/" + name }

// RoleCRN implements authz.RoleBook.
func (r *Roles) RoleCRN(target, source, name string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.crns[roleKey(target, source, name)]
	return c, ok
}

// Ready loads the roles unless they were loaded already: the readiness check. Its error names
// each role IAM does not offer, the service and what IAM offered instead.
func (r *Roles) Ready(ctx context.Context) error {
	r.mu.RLock()
	loaded, err := r.loaded, r.err
	r.mu.RUnlock()
	if loaded && err == nil {
		return nil
	}
	return r.Load(ctx)
}

// Load reads the roles from IAM now, one call per target and source service. The calls are
// independent and made at once: they stand between a process's start and its readiness, which
// is what a scale-from-zero event waits for.
func (r *Roles) Load(ctx context.Context) error {
	ps := pairs(r.needs)
	lists := make([]*iampolicymanagementv1.RoleCollection, len(ps))
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, pair := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := r.service.ListRolesWithContext(ctx, &iampolicymanagementv1.ListRolesOptions{
				ServiceName: core.StringPtr(pair.Service), SourceServiceName: core.StringPtr(pair.Source), PolicyType: core.StringPtr(authz.PolicyType),
			})
			if err != nil {
				err = wrap(fmt.Sprintf("list the roles IAM offers on %s to %s", pair.Service, pair.Source), responseOf(err), err)
			}
			lists[i], errs[i] = got, err
		}()
	}
	wg.Wait()
	// The first failure in the pairs' order, so that the answer does not depend on timing.
	for _, err := range errs {
		if err != nil {
			r.set(nil, err)
			return err
		}
	}
	crns := map[string]string{}
	var missing []string
	offeredBy := map[string][]string{}
	for i, pair := range ps {
		target, source := pair.Service, pair.Source
		if lists[i] == nil {
			continue // an answer without a body offers nothing: each need is reported missing below
		}
		for _, role := range append(slices.Clone(lists[i].ServiceRoles), lists[i].SystemRoles...) {
			c := deref(role.CRN)
			name := c[strings.LastIndex(c, ":")+1:]
			if c == "" {
				continue
			}
			offeredBy[target+"/"+source] = append(offeredBy[target+"/"+source], name)
			crns[roleKey(target, source, name)] = c
		}
	}
	for _, n := range r.needs {
		if _, ok := crns[roleKey(n.Service, n.Source, n.Name)]; !ok {
			offered := "none"
			if o := offeredBy[n.Service+"/"+n.Source]; len(o) > 0 {
				offered = strings.Join(o, ", ")
			}
			missing = append(missing, fmt.Sprintf("IAM does not offer the role %s on %s to %s for authorizations (it offers: %s)", n.Name, n.Service, n.Source, offered))
		}
	}
	var err error
	if len(missing) > 0 {
		err = fmt.Errorf("%s", strings.Join(missing, "; "))
	}
	r.set(crns, err)
	return err
}

func (r *Roles) set(crns map[string]string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loaded, r.err = true, err
	if crns != nil {
		r.crns = crns
	}
}

// pairs are the (target, source) pairs of needs, once each, in order; Name is left empty.
func pairs(needs []authz.RoleNeed) []authz.RoleNeed {
	var out []authz.RoleNeed
	for _, n := range needs {
		p := authz.RoleNeed{Service: n.Service, Source: n.Source}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
