package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
)

// reply is a complete answer; handlers return one instead of writing, so that the dispatcher can
// still replace it (PCommitThenFail) after the state has changed.
type reply struct {
	status int
	header http.Header
	body   []byte // nil: no body
}

func jsonReply(status int, v any) reply {
	body, err := json.Marshal(v)
	if err != nil {
		// Only the emulator's own types are marshalled here; failing is a bug worth a 500.
		return reply{status: http.StatusInternalServerError, body: []byte(`{"error":"emulator: cannot encode answer"}`)}
	}
	return reply{status: status, body: body}
}

func (r reply) withHeader(name, value string) reply {
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set(name, value)
	return r
}

// Error codes used in more than one place.
const (
	codeNotFound      = "not_found"
	codeInvalidToken  = "invalid_token"
	codeTooMany       = "too_many_requests"
	codeInternalError = "internal_error"
	codeUnavailable   = "service_unavailable"
)

// errorReply answers an error in the body shape of the service kind:
//   - IAM, VPC and Global Tagging: {"trace","errors":[{"code","message"}],"status_code"}
//     (go-sdk-core takes the message from errors[0].message; errors is never empty because
//     core's getErrorCode indexes errors[0]);
//   - Resource Controller: {"message","status_code","error_code","transaction_id"};
//   - Key Protect: {"metadata":{…error+json…},"resources":[{"errorMsg","reasons":[…]}]};
//   - the token endpoint: {"errorCode","errorMessage","context"} (what core's IamAuthenticator
//     and Key Protect's iam package read).
func errorReply(kind serviceKind, status int, code, message string) reply {
	trace := randomHex(16)
	switch kind {
	case kindToken:
		return jsonReply(status, map[string]any{
			"errorCode":    code,
			"errorMessage": message,
			"context": map[string]string{
				"requestId":   trace,
				"requestType": "incoming.OIDC_Token",
				"clusterName": "emulator",
				"instanceId":  "emulator",
			},
		})
	case kindRC:
		return jsonReply(status, map[string]any{
			"message":        message,
			"status_code":    status,
			"error_code":     code,
			"transaction_id": trace,
		})
	case kindKMS:
		return kmsError(status, message, code, message)
	default:
		return jsonReply(status, map[string]any{
			"trace":       trace,
			"errors":      []map[string]any{{"code": code, "message": message}},
			"status_code": status,
		})
	}
}

// vpcParamError is VPC's answer to a bad query parameter: the error names its target.
func vpcParamError(code, message, param string) reply {
	return jsonReply(http.StatusBadRequest, map[string]any{
		"trace": randomHex(16),
		"errors": []map[string]any{{
			"code":    code,
			"message": message,
			"target":  map[string]string{"name": param, "type": "parameter"},
		}},
		"status_code": http.StatusBadRequest,
	})
}

// kmsError is Key Protect's error collection. An empty reason code leaves out "reasons", as Key
// Protect does for 401.
func kmsError(status int, errorMsg, reasonCode, reasonMessage string) reply {
	res := map[string]any{"errorMsg": errorMsg}
	if reasonCode != "" {
		res["reasons"] = []map[string]any{{
			"code":     reasonCode,
			"message":  reasonMessage,
			"status":   status,
			"moreInfo": "https://cloud.ibm.com/apidocs/key-protect",
		}}
	}
	return jsonReply(status, map[string]any{
		"metadata":  map[string]any{"collectionType": "application/vnd.ibm.kms.error+json", "collectionTotal": 1},
		"resources": []any{res},
	})
}

// kmsErrorf builds Key Protect's usual errorMsg: "<Status text>: <what> could not be <done>:
// Please see `reasons` for more details (<CODE>)".
func kmsErrorf(status int, what, code, reason string) reply {
	msg := http.StatusText(status) + ": " + what + ": Please see `reasons` for more details (" + code + ")"
	return kmsError(status, msg, code, reason)
}

// unauthorized is the 401 of each service.
func unauthorized(kind serviceKind) reply {
	switch kind {
	case kindKMS:
		// Key Protect's documented 401 body has no reasons.
		return kmsError(http.StatusUnauthorized, "Unauthorized: The user does not have access to the specified resource", "", "")
	case kindRC:
		return errorReply(kind, http.StatusUnauthorized, "RC-Unauthorized", "Unauthorized: the IAM token is missing, invalid or expired")
	}
	return errorReply(kind, http.StatusUnauthorized, codeInvalidToken, "The provided IAM token is invalid or expired.")
}

// injectedReply is the answer of an injected 429, 500 or 503.
func injectedReply(kind serviceKind, status int, f *Faults) reply {
	var r reply
	switch status {
	case http.StatusTooManyRequests:
		r = errorReply(kind, status, codeTooMany, "Too many requests: rate limit exceeded (injected by the emulator)")
		if f.RetryAfter > 0 {
			r = r.withHeader("Retry-After", itoa(retryAfterSeconds(f.RetryAfter)))
		}
	case http.StatusServiceUnavailable:
		r = errorReply(kind, status, codeUnavailable, "Service unavailable (injected by the emulator)")
	default:
		r = errorReply(kind, status, codeInternalError, "Internal server error (injected by the emulator)")
	}
	return r
}

// lostReply is the 500 sent after a write was committed (PCommitThenFail).
func lostReply(kind serviceKind) reply {
	return errorReply(kind, http.StatusInternalServerError, codeInternalError,
		"Internal server error after the change was applied (injected by the emulator)")
}

func routeNotFound(method, path string) reply {
	return errorReply(kindIAM, http.StatusNotFound, codeNotFound, "no route for "+method+" "+path)
}

func methodNotAllowed(method, path string, allowed []string) reply {
	return errorReply(kindIAM, http.StatusMethodNotAllowed, "method_not_allowed",
		method+" is not allowed on "+path).withHeader("Allow", strings.Join(allowed, ", "))
}
