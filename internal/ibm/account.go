package ibm

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
)

// Identity is who the credentials are, as IAM's access token says: an IAM access token is a JWT
// whose claims carry the account (account.bss) and the caller's iam_id (facts file, section 2;
// IAM's "Getting an IAM token" page), for an API key and a trusted profile alike. Reading it
// needs no call beyond the token the function needs anyway.
type Identity struct {
	AccountID string
	IAMID     string
}

// IdentityOf reads the identity from the authenticator's current access token.
func IdentityOf(a Authenticator) (Identity, error) {
	token, err := bearer(a)
	if err != nil {
		return Identity{}, err
	}
	return identityOfToken(strings.TrimPrefix(token, "Bearer "))
}

func identityOfToken(token string) (Identity, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Identity{}, errors.New("the IAM access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Identity{}, fmt.Errorf("the IAM access token's claims: %w", err)
	}
	var claims struct {
		IAMID   string `json:"iam_id"`
		Account struct {
			BSS string `json:"bss"`
		} `json:"account"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return Identity{}, fmt.Errorf("the IAM access token's claims: %w", err)
	}
	if !crn.IsAccountID(claims.Account.BSS) {
		return Identity{}, fmt.Errorf("the IAM access token's account.bss is %q, not an account ID of 32 hex characters", claims.Account.BSS)
	}
	return Identity{AccountID: claims.Account.BSS, IAMID: claims.IAMID}, nil
}

// AccountMismatchError is a configured account that is not the credentials' own: a
// configuration error, since the function can only act in the account it authenticates to.
type AccountMismatchError struct {
	Configured, Token string
}

func (e *AccountMismatchError) Error() string {
	return fmt.Sprintf("IBMCLOUD_ACCOUNT_ID is %s, but the credentials belong to account %s: unset it or use credentials of that account", e.Configured, e.Token)
}
