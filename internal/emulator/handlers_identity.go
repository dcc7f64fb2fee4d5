package emulator

import "net/http"

// handleAPIKeyDetails is GET /v1/apikeys/details: the key named by the IAM-ApiKey header, or
// the key the bearer token was made from (as IAM does when the header is absent). Every key
// belongs to a service ID of the world's account.
func handleAPIKeyDetails(s *Server, q *request) reply {
	key := q.r.Header.Get("IAM-ApiKey")
	if key == "" {
		key = q.token.apiKey
	}
	if key == "" {
		return errorReply(kindIAM, http.StatusBadRequest, "BXNIM0109E", "Property missing or empty: the IAM-ApiKey header is required when the token was not made from an API key.")
	}
	account := s.st.account
	id := "ApiKey-" + derivedUUID("apikey", account, key)
	created := iamTime(worldEpoch())
	iamID := s.st.apiKeyIAMID(key)
	return jsonReply(http.StatusOK, map[string]any{
		"id":                 id,
		"entity_tag":         "1-" + shortHash("apikey", id),
		"crn":                "crn:v1:bluemix:public:iam-identity::a/" + account + "::apikey:" + id,
		"locked":             false,
		"disabled":           false,
		"created_at":         created,
		"created_by":         iamID,
		"modified_at":        created,
		"name":               "s2s-authorizer-emulator",
		"description":        "API key of the emulated account",
		"iam_id":             iamID,
		"account_id":         account,
		"support_sessions":   false,
		"action_when_leaked": "disable",
	})
}
