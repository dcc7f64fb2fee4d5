package emulator

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

func itoa(i int) string { return strconv.Itoa(i) }

// shortHash is a stable 32-hex-digit digest of its parts; used wherever IBM shows an opaque but
// stable value (ETags, derived ids) so that runs are reproducible.
func shortHash(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// derivedUUID formats a stable digest of parts as a version-4-looking UUID.
func derivedUUID(parts ...string) string {
	h := shortHash(parts...)
	return fmt.Sprintf("%s-%s-4%s-a%s-%s", h[0:8], h[8:12], h[13:16], h[17:20], h[20:32])
}

// randomToken is an unguessable opaque value (access tokens, refresh tokens).
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("emulator: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// randomHex is for trace ids, which only need to differ between answers.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return strings.Repeat("0", 2*n)
	}
	return hex.EncodeToString(b)
}

// encodeStart and decodeStart make paging cursors: the last id of the previous page, so that a
// cursor stays valid while items are added or removed between pages. Encoded so that clients
// treat it as opaque, as IBM's are.
func encodeStart(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("after:" + lastID))
}

func decodeStart(token string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", false
	}
	id, ok := strings.CutPrefix(string(b), "after:")
	return id, ok && id != ""
}

// mustJSON encodes the emulator's own structs, which always encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("emulator: encode %T: %v", v, err))
	}
	return b
}
