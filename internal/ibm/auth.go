package ibm

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/IBM/go-sdk-core/v5/core"
)

// Authenticator is what every client needs: core's request authentication, and the bare token
// for the Key Protect client, which does not take a core.Authenticator.
type Authenticator interface {
	core.Authenticator
	GetToken() (string, error)
}

// Credentials say who the function runs as. Exactly one of APIKey and TrustedProfile is used;
// an API key wins when both are set.
type Credentials struct {
	APIKey         string
	TrustedProfile string
	// CRTokenFile is where the compute-resource token is read for a trusted profile; "" takes
	// go-sdk-core's default paths (Code Engine's among them).
	CRTokenFile string
	IAMURL      string
}

// NewAuthenticator builds the API-key authenticator (its token URL pointed at IAMURL, so the
// emulator can serve tokens) or the trusted-profile one that trades the compute resource token
// Code Engine mounts for an IAM token. There is no way to build one that skips authentication.
func NewAuthenticator(c Credentials, o Options) (Authenticator, error) {
	client := o.httpClient()
	switch {
	case c.APIKey != "":
		a := &core.IamAuthenticator{ApiKey: c.APIKey, URL: c.IAMURL, Client: client}
		if err := a.Validate(); err != nil {
			return nil, fmt.Errorf("API key authenticator: %w", err)
		}
		return opaque{a}, nil
	case c.TrustedProfile != "":
		a := &core.ContainerAuthenticator{URL: c.IAMURL, Client: client, CRTokenFilename: c.CRTokenFile}
		// Profile IDs look like Profile-<uuid>; anything else is a profile name.
		if strings.HasPrefix(c.TrustedProfile, "Profile-") {
			a.IAMProfileID = c.TrustedProfile
		} else {
			a.IAMProfileName = c.TrustedProfile
		}
		if err := a.Validate(); err != nil {
			return nil, fmt.Errorf("trusted profile authenticator: %w", err)
		}
		return opaque{a}, nil
	}
	return nil, fmt.Errorf("no credentials: set IBMCLOUD_API_KEY or IBMCLOUD_TRUSTED_PROFILE")
}

// opaque hides the authenticator's fields from the SDK constructors' struct validation, which
// otherwise walks by reflection into its HTTP client and transport and reads them while the
// transport's connections write them (a data race in the SDKs' option validation).
type opaque struct{ inner Authenticator }

func (o opaque) AuthenticationType() string         { return o.inner.AuthenticationType() }
func (o opaque) Authenticate(r *http.Request) error { return o.inner.Authenticate(r) }
func (o opaque) Validate() error                    { return o.inner.Validate() }
func (o opaque) GetToken() (string, error)          { return o.inner.GetToken() }

// bearer is the Authorization header value for clients that want it whole.
func bearer(a Authenticator) (string, error) {
	token, err := a.GetToken()
	if err != nil {
		return "", &APIError{Op: "get IAM token", Status: tokenStatus(err), Err: err}
	}
	return "Bearer " + token, nil
}

// tokenStatus digs the token endpoint's HTTP status out of core's authentication error, so that
// an unavailable IAM counts as transient and a refused key does not.
func tokenStatus(err error) int {
	var authErr *core.AuthenticationError
	if errors.As(err, &authErr) && authErr.HTTPProblem != nil && authErr.HTTPProblem.Response != nil {
		return authErr.HTTPProblem.Response.StatusCode
	}
	return 0
}
