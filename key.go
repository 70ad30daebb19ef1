package mnemo

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// TokenPrefix marks tokens mnemo generated, so they can be recognised in a
// leaked-secret scan.
const TokenPrefix = "mnemo_"

// MinClientTokenLength is the shortest token a client may bring.
const MinClientTokenLength = 8

// StrongTokenLength is the length from which a token cannot be guessed
// online, whatever its alphabet: a client token shorter than this is
// accepted with a warning, and is the only kind of valid credential that
// the failed-authentication throttle may refuse.
const StrongTokenLength = 24

// GenerateToken returns a new token: 256 random bits, base64url, prefixed.
func GenerateToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on a supported OS
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is how a token is stored and looked up: its SHA-256. Tokens are
// 256-bit random or client-chosen secrets, not passwords, so a fast hash
// suffices and keeps authentication at microseconds.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// DisplayPrefix is the part of a token safe to show in listings: at most 8
// characters of a generated token, at most 4 of a client-supplied one.
func DisplayPrefix(token string, generated bool) string {
	n := 4
	if generated {
		n = 8
	}
	r := []rune(token)
	if len(r) < n {
		n = len(r)
	}
	return string(r[:n])
}

// NewKeyID returns a random key id.
func NewKeyID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return "key_" + base64.RawURLEncoding.EncodeToString(b)
}
