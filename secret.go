package tandem

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// Prefixes of the secrets Tandem issues; they make a leaked secret easy to
// recognise in logs and by secret scanners.
const (
	PrefixAdminToken   = "tadm_"
	PrefixClientSecret = "tsec_"
)

// NewSecret returns prefix followed by 256 bits from crypto/rand, base64url.
func NewSecret(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b) // never fails; see crypto/rand
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// NewID returns 128 bits from crypto/rand as 32 lower-case hex characters.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// HashSecret returns the SHA-256 of a secret. The secrets Tandem issues carry
// 256 bits of entropy, so a fast hash is enough: nothing can be guessed.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// SecretMatches reports whether secret hashes to one of hashes. It compares
// every hash in constant time, so timing does not tell which one matched.
func SecretMatches(secret string, hashes ...[]byte) bool {
	h := HashSecret(secret)
	ok := 0
	for _, want := range hashes {
		ok |= subtle.ConstantTimeCompare(h, want)
	}
	return ok == 1
}
