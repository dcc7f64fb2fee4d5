package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	kmsKeyType   = "application/vnd.ibm.kms.key+json"
	keyStateLive = 1 // Key Protect's "Active"
	// keyStateDestroyed is Key Protect's state of a deleted key.
	keyStateDestroyed = 5
	defaultKeyLimit   = 200
	maxKeyLimit       = 5000
	maxKeyNameLength  = 90
)

// kmsInstanceScoped resolves the bluemix-instance header every Key Protect call carries. Which
// status Key Protect gives an unknown or missing instance is the emulator's assumption (404 and
// 400), in Key Protect's error shape. HPCS instances are served by the same API.
func kmsInstanceScoped(h handlerFunc) handlerFunc {
	return func(s *Server, q *request) reply {
		guid := q.r.Header.Get("Bluemix-Instance")
		if guid == "" {
			return kmsErrorf(http.StatusBadRequest, "Request could not be processed", "BAD_HEADER_ERR", "The bluemix-instance header is required")
		}
		in := s.st.instance(guid)
		if in == nil || in.GUID != guid || !in.removedAt.IsZero() {
			return kmsErrorf(http.StatusNotFound, "Instance could not be found", "INSTANCE_NOT_FOUND_ERR", "No key management instance "+guid+" in this account")
		}
		q.kms = in
		return h(s, q)
	}
}

func keyNotFound() reply {
	return kmsErrorf(http.StatusNotFound, "Key could not be retrieved", "KEY_NOT_FOUND_ERR", "Key does not exist")
}

// handleListKeys is GET /api/v2/keys with limit/offset paging. Deleted keys (state 5) are only
// listed when the state filter asks for them, as in Key Protect.
func handleListKeys(s *Server, q *request) reply {
	limit, ok := parseLimit(q.query("limit"), defaultKeyLimit, maxKeyLimit)
	if !ok {
		return kmsErrorf(http.StatusBadRequest, "Keys could not be listed", "INVALID_QUERY_PARAM_ERR", "limit must be an integer from 1 to 5000")
	}
	offset := 0
	if o := q.query("offset"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 {
			return kmsErrorf(http.StatusBadRequest, "Keys could not be listed", "INVALID_QUERY_PARAM_ERR", "offset must be a non-negative integer")
		}
		offset = n
	}
	states := map[int]bool{0: true, 1: true, 2: true, 3: true}
	if st := q.query("state"); st != "" {
		states = map[int]bool{}
		for _, part := range strings.Split(st, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil || n < 0 || n > 5 || n == 4 {
				return kmsErrorf(http.StatusBadRequest, "Keys could not be listed", "INVALID_QUERY_PARAM_ERR", "state must be a comma-separated list of 0, 1, 2, 3 and 5")
			}
			states[n] = true
		}
	}
	extractable := q.query("extractable")
	if extractable != "" && extractable != "true" && extractable != "false" {
		return kmsErrorf(http.StatusBadRequest, "Keys could not be listed", "INVALID_QUERY_PARAM_ERR", "extractable must be true or false")
	}
	var matching []*keyState
	for _, k := range q.kms.keys {
		if !states[k.state()] {
			continue
		}
		if extractable != "" && strconv.FormatBool(k.Type == keyTypeStandard) != extractable {
			continue
		}
		matching = append(matching, k)
	}
	page := []kmsKeyJSON{}
	for i := offset; i < len(matching) && len(page) < limit; i++ {
		page = append(page, keyWire(s.st.account, q.kms, matching[i]))
	}
	return keysReply(http.StatusOK, page)
}

// handleGetKey is GET /api/v2/keys/{id} (and …/metadata): a deleted key still answers, with
// state 5 and deleted true.
func handleGetKey(s *Server, q *request) reply {
	k := q.kms.key(q.params["id"])
	if k == nil {
		return keyNotFound()
	}
	return keysReply(http.StatusOK, []kmsKeyJSON{keyWire(s.st.account, q.kms, k)})
}

// keyCreateBody is what keyprotect-go-client's createKeyResource sends.
type keyCreateBody struct {
	Metadata struct {
		CollectionType  string `json:"collectionType"`
		CollectionTotal int    `json:"collectionTotal"`
	} `json:"metadata"`
	Resources []struct {
		Type        string `json:"type"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Extractable bool   `json:"extractable"`
	} `json:"resources"`
}

// handleCreateKey is POST /api/v2/keys: extractable false makes a root key, true a standard
// key. Key material (payload), aliases, tags and expiry are accepted and not modelled.
func handleCreateKey(s *Server, q *request) reply {
	const what = "Key could not be created"
	var body keyCreateBody
	if err := json.NewDecoder(bytes.NewReader(q.body)).Decode(&body); err != nil {
		return kmsErrorf(http.StatusBadRequest, what, "BAD_BODY_ERR", "Invalid body data was passed: "+err.Error())
	}
	if body.Metadata.CollectionType == "" {
		return kmsErrorf(http.StatusBadRequest, what, "BAD_BODY_ERR", "Invalid body data was passed: CollectionMetadata is empty")
	}
	if body.Metadata.CollectionTotal != len(body.Resources) {
		return kmsErrorf(http.StatusBadRequest, what, "COLLECTION_TOTAL_MISMATCH_ERR", "Collection total does not match number of resources")
	}
	if len(body.Resources) != 1 {
		return kmsErrorf(http.StatusBadRequest, what, "BAD_BODY_ERR", "Invalid body data was passed: exactly one resource is required")
	}
	res := body.Resources[0]
	if n := len(res.Name); n < 2 || n > maxKeyNameLength || strings.TrimSpace(res.Name) != res.Name {
		return kmsErrorf(http.StatusBadRequest, what, "INVALID_FIELD_ERR", "The field `name` must be 2 to 90 characters without leading or trailing spaces")
	}
	typ := keyTypeRoot
	if res.Extractable {
		typ = keyTypeStandard
	}
	k := &keyState{
		Key:       Key{ID: s.st.newID("key", s.st.keyIDTaken), Name: res.Name, Type: typ},
		createdAt: q.now,
		createdBy: q.token.iamID,
	}
	q.kms.keys = append(q.kms.keys, k)
	return keysReply(http.StatusCreated, []kmsKeyJSON{keyWire(s.st.account, q.kms, k)})
}

// handleDeleteKey is DELETE /api/v2/keys/{id}. A key that encrypts a snapshot has a registration
// and needs force=true (409 PROTECTED_RESOURCE_ERR otherwise); a deleted key answers 410
// KEY_DELETED_ERR. "Prefer: return=representation" gets 200 with the key, otherwise 204.
func handleDeleteKey(s *Server, q *request) reply {
	const what = "Key could not be deleted"
	k := q.kms.key(q.params["id"])
	if k == nil {
		return keyNotFound()
	}
	if k.Deleted {
		return kmsErrorf(http.StatusGone, what, "KEY_DELETED_ERR", "Key has already been deleted: Please delete references to this key")
	}
	crn := KeyCRN(q.kms.Service, s.st.account, q.kms.Region, q.kms.GUID, k.ID)
	if s.st.keyInUse(crn) && q.query("force") != "true" {
		return kmsErrorf(http.StatusConflict, what, "PROTECTED_RESOURCE_ERR", "Key is protecting one or more cloud resources: delete them first or delete the key with force=true")
	}
	k.Deleted = true
	k.deletedAt, k.deletedBy = q.now, q.token.iamID
	if strings.Contains(q.r.Header.Get("Prefer"), "return=representation") {
		return keysReply(http.StatusOK, []kmsKeyJSON{keyWire(s.st.account, q.kms, k)})
	}
	return reply{status: http.StatusNoContent}
}

func (k *keyState) state() int {
	if k.Deleted {
		return keyStateDestroyed
	}
	return keyStateLive
}

func keysReply(status int, keys []kmsKeyJSON) reply {
	return jsonReply(status, map[string]any{
		"metadata":  map[string]any{"collectionType": kmsKeyType, "collectionTotal": len(keys)},
		"resources": keys,
	})
}

type kmsKeyJSON struct {
	Type           string          `json:"type"`
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	State          int             `json:"state"`
	Extractable    bool            `json:"extractable"`
	CRN            string          `json:"crn"`
	Imported       bool            `json:"imported"`
	CreationDate   string          `json:"creationDate"`
	CreatedBy      string          `json:"createdBy"`
	AlgorithmType  string          `json:"algorithmType"`
	LastUpdateDate string          `json:"lastUpdateDate"`
	KeyVersion     *kmsKeyVersion  `json:"keyVersion,omitempty"`
	DualAuthDelete map[string]bool `json:"dualAuthDelete"`
	Deleted        bool            `json:"deleted"`
	DeletionDate   string          `json:"deletionDate,omitempty"`
	DeletedBy      string          `json:"deletedBy,omitempty"`
	KeyRingID      string          `json:"keyRingID"`
}

type kmsKeyVersion struct {
	ID           string `json:"id"`
	CreationDate string `json:"creationDate"`
}

// keyWire renders a key as kp.Key decodes it. Root keys have a key version, standard keys do
// not (their material is returned as is).
func keyWire(account string, in *instanceState, k *keyState) kmsKeyJSON {
	created := k.createdAt.UTC().Format(time.RFC3339)
	out := kmsKeyJSON{
		Type: kmsKeyType, ID: k.ID, Name: k.Name, State: k.state(),
		Extractable:    k.Type == keyTypeStandard,
		CRN:            KeyCRN(in.Service, account, in.Region, in.GUID, k.ID),
		CreationDate:   created,
		CreatedBy:      k.createdBy,
		AlgorithmType:  "AES",
		LastUpdateDate: created,
		DualAuthDelete: map[string]bool{"enabled": false},
		Deleted:        k.Deleted,
		KeyRingID:      "default",
	}
	if k.Type == keyTypeRoot {
		out.KeyVersion = &kmsKeyVersion{ID: derivedUUID("key-version", k.ID), CreationDate: created}
	}
	if k.Deleted {
		out.DeletionDate = k.deletedAt.UTC().Format(time.RFC3339)
		out.DeletedBy = k.deletedBy
		out.LastUpdateDate = out.DeletionDate
	}
	return out
}
