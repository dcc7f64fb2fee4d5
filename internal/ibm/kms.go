package ibm

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/IBM/go-sdk-core/v5/core"
	kp "github.com/IBM/keyprotect-go-client"
	"github.com/IBM/platform-services-go-sdk/resourcecontrollerv2"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
)

// instancePageSize is the resource controller's largest page.
const instancePageSize = 100

// Instances reads Key Protect and Hyper Protect Crypto Services instances from the resource
// controller.
type Instances struct {
	service *resourcecontrollerv2.ResourceControllerV2
}

// NewInstances builds the resource controller client.
func NewInstances(url string, auth Authenticator, o Options) (*Instances, error) {
	service, err := resourcecontrollerv2.NewResourceControllerV2(&resourcecontrollerv2.ResourceControllerV2Options{URL: url, Authenticator: auth})
	if err != nil {
		return nil, fmt.Errorf("resource controller client: %w", err)
	}
	configure(service.Service, o)
	return &Instances{service: service}, nil
}

// Get reads one KMS instance by GUID or CRN; nil without error when it is gone or not active
// (removed, pending reclamation), since either way it keeps no authorization.
func (i *Instances) Get(ctx context.Context, id string) (*authz.KMSInstance, error) {
	got, resp, err := i.service.GetResourceInstanceWithContext(ctx, &resourcecontrollerv2.GetResourceInstanceOptions{ID: &id})
	if err != nil {
		err = wrap("get KMS instance "+id, resp, err)
		if apply.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return toInstance(got), nil
}

// List returns every active KMS instance of the account. The resource controller is asked for
// all instances and filtered here by the CRN's service name: its catalog IDs for the two KMS
// services are not part of the facts this project relies on.
func (i *Instances) List(ctx context.Context) ([]authz.KMSInstance, error) {
	pager, err := i.service.NewResourceInstancesPager(&resourcecontrollerv2.ListResourceInstancesOptions{
		Type:  core.StringPtr("service_instance"),
		State: core.StringPtr(resourcecontrollerv2.ListResourceInstancesOptionsStateActiveConst),
		Limit: core.Int64Ptr(instancePageSize),
	})
	if err != nil {
		return nil, fmt.Errorf("list KMS instances: %w", err)
	}
	var out []authz.KMSInstance
	for pager.HasNext() {
		page, err := pager.GetNextWithContext(ctx)
		if err != nil {
			return nil, wrap("list KMS instances", responseOf(err), err)
		}
		for j := range page {
			if inst := toInstance(&page[j]); inst != nil {
				out = append(out, *inst)
			}
		}
	}
	return out, nil
}

func toInstance(r *resourcecontrollerv2.ResourceInstance) *authz.KMSInstance {
	if r == nil || deref(r.State) != resourcecontrollerv2.ListResourceInstancesOptionsStateActiveConst {
		return nil
	}
	c, err := crn.Parse(deref(r.CRN))
	if err != nil || !authz.IsKMSService(c.Service) {
		return nil
	}
	return &authz.KMSInstance{CRN: c.String(), Service: c.Service, GUID: c.ServiceInstance}
}

// Keys reads keys through the Key Protect API, which Hyper Protect Crypto Services also serves.
type Keys struct {
	urlFor    func(service, region string) string
	auth      Authenticator
	transport http.RoundTripper
	timeout   float64
}

// NewKeys builds the reader; urlFor gives the key API URL of a KMS service in a region.
func NewKeys(urlFor func(service, region string) string, auth Authenticator, o Options) *Keys {
	return &Keys{urlFor: urlFor, auth: auth, transport: o.Transport, timeout: o.Timeout.Seconds()}
}

// client builds a Key Protect client for one instance. It is cheap (no I/O): the instance is a
// header, and the token comes from the shared authenticator through the context, so the
// client's own API-key token source is never used.
func (k *Keys) client(ctx context.Context, inst authz.KMSInstance) (*kp.Client, context.Context, error) {
	c, err := crn.Parse(inst.CRN)
	if err != nil {
		return nil, nil, fmt.Errorf("KMS instance %s: %w", inst.CRN, err)
	}
	client, err := kp.New(kp.ClientConfig{BaseURL: k.urlFor(inst.Service, c.Location), InstanceID: inst.GUID, Timeout: k.timeout}, k.transport)
	if err != nil {
		return nil, nil, fmt.Errorf("key client for %s: %w", inst.CRN, err)
	}
	token, err := bearer(k.auth)
	if err != nil {
		return nil, nil, err
	}
	return client, kp.NewContextWithAuth(ctx, token), nil
}

// Get reads one key; nil without error when the instance does not know it.
func (k *Keys) Get(ctx context.Context, inst authz.KMSInstance, keyID string) (*authz.Key, error) {
	client, kctx, err := k.client(ctx, inst)
	if err != nil {
		return nil, err
	}
	key, err := client.GetKey(kctx, keyID)
	if err != nil {
		err = kpError("get key "+keyID+" of "+inst.CRN, err)
		if apply.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	out := toKey(inst, key)
	return &out, nil
}

// keyPageSize is the Key Protect API's largest page.
const keyPageSize = 200

// RootKeys returns the active root keys of an instance.
func (k *Keys) RootKeys(ctx context.Context, inst authz.KMSInstance) ([]authz.RootKey, error) {
	client, kctx, err := k.client(ctx, inst)
	if err != nil {
		return nil, err
	}
	var out []authz.RootKey
	for offset := 0; ; offset += keyPageSize {
		page, err := client.GetKeys(kctx, keyPageSize, offset)
		if err != nil {
			return nil, kpError("list keys of "+inst.CRN, err)
		}
		for i := range page.Keys {
			if key := toKey(inst, &page.Keys[i]); key.Root && !key.Deleted {
				out = append(out, key.RootKey)
			}
		}
		if len(page.Keys) < keyPageSize {
			return out, nil
		}
	}
}

// keyStateDestroyed is Key Protect's state 5: deleted, restorable for a while, unusable.
const keyStateDestroyed = 5

func toKey(inst authz.KMSInstance, key *kp.Key) authz.Key {
	keyCRN := key.CRN
	if keyCRN == "" {
		c, _ := crn.Parse(inst.CRN)
		c.ResourceType, c.Resource = authz.KeyResourceType, key.ID
		keyCRN = c.String()
	}
	return authz.Key{
		RootKey: authz.RootKey{Instance: inst, ID: key.ID, CRN: keyCRN},
		Root:    !key.Extractable,
		Deleted: key.State == keyStateDestroyed || (key.Deleted != nil && *key.Deleted),
	}
}

// kpError gives the Key Protect client's errors the same shape as the other adapters'.
func kpError(op string, err error) error {
	var kpErr *kp.Error
	if errors.As(err, &kpErr) {
		status := kpErr.StatusCode
		if status == http.StatusNotFound {
			err = fmt.Errorf("%w: %w", apply.ErrNotFound, err)
		}
		return &APIError{Op: op, Status: status, Err: err}
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return err
	}
	return &APIError{Op: op, Err: err}
}

// LimitKeyProtectRetries makes the Key Protect client retry like the other clients. Its retry
// settings are package variables (4 retries, up to 30 s apart by default), so this is
// process-wide: call it once from main, before any client is used.
func LimitKeyProtectRetries(o Options) {
	kp.RetryMax = o.MaxRetries
	kp.RetryWaitMax = o.MaxRetryWait
}
