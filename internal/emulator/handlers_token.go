package emulator

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Grant types of POST /identity/token.
const (
	grantAPIKey       = "urn:ibm:params:oauth:grant-type:apikey"
	grantCRToken      = "urn:ibm:params:oauth:grant-type:cr-token" // core.ContainerAuthenticator
	grantRefreshToken = "refresh_token"
	tokenLifetime     = time.Hour
)

// Token error codes IBM's documents do not give (emulator's assumption): a trusted profile the
// account does not have, and a compute-resource token the world does not accept.
const (
	codeProfileNotFound = "profile_not_found"
	codeInvalidCRToken  = "invalid_cr_token"
)

// handleToken is IAM's token endpoint: any non-empty API key (or compute-resource token with a
// trusted profile) is accepted and acts in the world's account. The access token is a JWT
// whose claims carry the account (account.bss) and the caller (iam_id), as IAM's do (facts
// file, section 2); go-sdk-core only reads exp and iat from it, and the emulator remembers the
// tokens it issued, so the signature is random.
func handleToken(s *Server, q *request) reply {
	mt, _, _ := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return errorReply(kindToken, http.StatusBadRequest, "BXNIM0109E", "Unsupported content type: the request must be application/x-www-form-urlencoded")
	}
	form, err := url.ParseQuery(string(q.body))
	if err != nil {
		return errorReply(kindToken, http.StatusBadRequest, "BXNIM0109E", "Invalid form body: "+err.Error())
	}
	var holder tokenInfo
	switch grant := form.Get("grant_type"); grant {
	case grantAPIKey:
		key := form.Get("apikey")
		if key == "" {
			return errorReply(kindToken, http.StatusBadRequest, "BXNIM0415E", "Provided API key could not be found.")
		}
		holder = tokenInfo{iamID: s.st.apiKeyIAMID(key), apiKey: key}
	case grantCRToken:
		var problem *reply
		if holder, problem = s.st.profileHolder(form); problem != nil {
			return *problem
		}
	case grantRefreshToken:
		prev, ok := s.refresh[form.Get("refresh_token")]
		if !ok {
			return errorReply(kindToken, http.StatusBadRequest, "BXNIM0407E", "Provided refresh token is invalid.")
		}
		holder = prev
	case "":
		return errorReply(kindToken, http.StatusBadRequest, "BXNIM0109E", "Property missing or empty: grant_type.")
	default:
		return errorReply(kindToken, http.StatusBadRequest, "BXNIM0109E", "Unsupported grant_type "+grant+".")
	}
	if holder.account == "" {
		holder.account = s.st.account
	}
	holder.grant = form.Get("grant_type")
	holder.expires = q.now.Add(tokenLifetime)
	access, err := holder.jwt(q.base, q.now)
	if err != nil {
		return errorReply(kindToken, http.StatusInternalServerError, "BXNIM0001E", err.Error())
	}
	refresh, err := randomToken()
	if err != nil {
		return errorReply(kindToken, http.StatusInternalServerError, "BXNIM0001E", err.Error())
	}
	s.pruneTokens(q.now)
	s.tokens[access] = holder
	s.refresh[refresh] = holder
	return jsonReply(http.StatusOK, map[string]any{
		"access_token":  access,
		"refresh_token": refresh,
		"token_type":    "Bearer",
		"expires_in":    int64(tokenLifetime / time.Second),
		"expiration":    holder.expires.Unix(),
		"scope":         "ibm openid",
	})
}

// jwt is the access token of the holder: header.payload.signature, base64url without padding.
// The claims follow IAM's access tokens: iam_id, id, sub, sub_type, account.bss, iat, exp, iss,
// grant_type, scope; jti makes every token distinct.
func (h tokenInfo) jwt(base string, now time.Time) (string, error) {
	jti, err := randomToken()
	if err != nil {
		return "", err
	}
	sig, err := randomToken()
	if err != nil {
		return "", err
	}
	subType := "ServiceId"
	switch {
	case strings.HasPrefix(h.iamID, "iam-Profile-"):
		subType = "Profile"
	case strings.HasPrefix(h.iamID, "IBMid-"):
		subType = "user"
	}
	claims := map[string]any{
		"iam_id":     h.iamID,
		"id":         h.iamID,
		"realmid":    "iam",
		"jti":        jti,
		"identifier": strings.TrimPrefix(h.iamID, "iam-"),
		"sub":        strings.TrimPrefix(h.iamID, "iam-"),
		"sub_type":   subType,
		"account":    map[string]any{"valid": true, "bss": h.account},
		"iat":        now.Unix(),
		"exp":        h.expires.Unix(),
		"iss":        base + "/identity",
		"grant_type": h.grant,
		"scope":      "ibm openid",
		"client_id":  "default",
		"acr":        1,
		"amr":        []string{"pwd"},
	}
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "emulator"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "." + sig, nil
}

// profileHolder resolves the trusted profile of a cr-token grant (profile_id, profile_name or
// profile_crn, as core.ContainerAuthenticator sends them). A world without trusted_profiles
// accepts any profile and any non-empty compute-resource token.
func (st *state) profileHolder(form url.Values) (tokenInfo, *reply) {
	fail := func(code, msg string) (tokenInfo, *reply) {
		r := errorReply(kindToken, http.StatusBadRequest, code, msg)
		return tokenInfo{}, &r
	}
	id, name, crn := form.Get("profile_id"), form.Get("profile_name"), form.Get("profile_crn")
	crToken := form.Get("cr_token")
	if crToken == "" || id+name+crn == "" {
		return fail("BXNIM0109E", "Property missing or empty: cr_token and profile_id, profile_name or profile_crn are required.")
	}
	if len(st.profiles) == 0 {
		return tokenInfo{iamID: "iam-Profile-" + derivedUUID("profile", st.account, id+name+crn)}, nil
	}
	for _, p := range st.profiles {
		if (id == "" || id == p.ID) && (name == "" || name == p.Name) && (crn == "" || crn == p.crn(st.account)) {
			if len(p.CRTokens) > 0 && !slices.Contains(p.CRTokens, crToken) {
				return fail(codeInvalidCRToken, "The compute resource token is not valid for trusted profile "+p.ID+".")
			}
			return tokenInfo{iamID: "iam-" + p.ID}, nil
		}
	}
	return fail(codeProfileNotFound, "Trusted profile not found: "+strings.TrimSpace(id+" "+name+" "+crn)+".")
}

// pruneTokens forgets expired tokens so that a long-running emulator does not grow without
// bound; refresh tokens live as long as the access token they came with (the emulator's
// simplification).
func (s *Server) pruneTokens(now time.Time) {
	for t, info := range s.tokens {
		if !now.Before(info.expires) {
			delete(s.tokens, t)
		}
	}
	for t, info := range s.refresh {
		if !now.Before(info.expires) {
			delete(s.refresh, t)
		}
	}
}

// serviceIDOf is the IAM id of the service ID that owns an API key; stable per key.
func serviceIDOf(account, apiKey string) string {
	return "iam-ServiceId-" + derivedUUID("serviceid", account, apiKey)
}

// apiKeyIAMID is the owner of an API key: the world's api_key_iam_id when set, otherwise a
// service ID derived from the key.
func (st *state) apiKeyIAMID(apiKey string) string {
	if st.apiKeyOwner != "" {
		return st.apiKeyOwner
	}
	return serviceIDOf(st.account, apiKey)
}
