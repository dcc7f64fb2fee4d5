package emulator

import (
	"mime"
	"net/http"
	"net/url"
	"time"
)

// Grant types of POST /identity/token.
const (
	grantAPIKey       = "urn:ibm:params:oauth:grant-type:apikey"
	grantCRToken      = "urn:ibm:params:oauth:grant-type:cr-token" // core.ContainerAuthenticator
	grantRefreshToken = "refresh_token"
	tokenLifetime     = time.Hour
)

// handleToken is IAM's token endpoint: any non-empty API key (or compute-resource token with a
// trusted profile) is accepted and acts in the world's account. Tokens are opaque random strings
// the emulator remembers, not JWTs: no SDK client of this project decodes them.
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
		holder = tokenInfo{iamID: serviceIDOf(s.st.account, key), apiKey: key}
	case grantCRToken:
		profile := form.Get("profile_id") + form.Get("profile_name")
		if form.Get("cr_token") == "" || profile == "" {
			return errorReply(kindToken, http.StatusBadRequest, "BXNIM0109E", "Property missing or empty: cr_token and profile_id or profile_name are required.")
		}
		holder = tokenInfo{iamID: "iam-Profile-" + derivedUUID("profile", s.st.account, profile)}
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
	access, err := randomToken()
	if err != nil {
		return errorReply(kindToken, http.StatusInternalServerError, "BXNIM0001E", err.Error())
	}
	refresh, err := randomToken()
	if err != nil {
		return errorReply(kindToken, http.StatusInternalServerError, "BXNIM0001E", err.Error())
	}
	holder.expires = q.now.Add(tokenLifetime)
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
