package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Box encrypts webhook secrets at rest with AES-256-GCM under a key derived
// (HKDF-SHA256) from the operator's secret key. A nil *Box keeps them in
// clear. Either way Open reads secrets stored in clear, so that a server
// given a secret key later still signs with the secrets issued before.
type Box struct {
	aead cipher.AEAD
}

// MinKeyLen is the shortest operator secret key NewBox accepts, in bytes.
const MinKeyLen = 32

// boxInfo is the HKDF info of the secret-encryption key; it differs from
// that of any other use of the operator's secret key.
const boxInfo = "tandem webhook secrets v1"

// sealVersion starts a sealed secret; a secret in clear starts with
// SecretPrefix.
const sealVersion = 1

// NewBox returns a box keyed from the operator's secret key, which must be
// at least MinKeyLen bytes.
func NewBox(secretKey []byte) (*Box, error) {
	if len(secretKey) < MinKeyLen {
		return nil, fmt.Errorf("the secret key must be at least %d characters, not %d", MinKeyLen, len(secretKey))
	}
	key, err := hkdf.Key(sha256.New, secretKey, nil, boxInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive webhook secret key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// boxAD binds a sealed secret to its application: a sealed secret copied to
// another application's row does not open.
func boxAD(workspace, app string) []byte {
	ad := []byte("tandem-webhook-secret")
	for _, s := range []string{workspace, app} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(s)))
		ad = append(ad, s...)
	}
	return ad
}

// Seal returns the stored form of an application's secret: the version
// byte, a 12-byte nonce, then the ciphertext and tag; or the secret itself
// for a nil box.
func (b *Box) Seal(workspace, app, secret string) []byte {
	if b == nil {
		return []byte(secret)
	}
	n := b.aead.NonceSize()
	out := make([]byte, 1+n, 1+n+len(secret)+b.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:]) // never fails
	return b.aead.Seal(out, out[1:], []byte(secret), boxAD(workspace, app))
}

// Open returns the secret of a stored form made by Seal, or stored in
// clear. A sealed secret needs a box with the key it was sealed with.
func (b *Box) Open(workspace, app string, stored []byte) (string, error) {
	if strings.HasPrefix(string(stored), SecretPrefix) {
		return string(stored), nil
	}
	if b == nil {
		return "", errors.New("the webhook secret is encrypted and the server has no secret key to open it")
	}
	n := b.aead.NonceSize()
	if len(stored) < 1+n+b.aead.Overhead() || stored[0] != sealVersion {
		return "", errors.New("the stored webhook secret is not in a known format")
	}
	plain, err := b.aead.Open(nil, stored[1:1+n], stored[1+n:], boxAD(workspace, app))
	if err != nil {
		return "", errors.New("cannot decrypt the webhook secret: the secret key differs from the one it was stored with")
	}
	return string(plain), nil
}

// tokenAD binds a sealed token to its purpose and application.
func tokenAD(purpose, workspace, app string) []byte {
	ad := []byte("tandem-token")
	for _, s := range []string{purpose, workspace, app} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(s)))
		ad = append(ad, s...)
	}
	return ad
}

// clearVersion starts a token a nil box stores in clear.
const clearVersion = 0

// SealToken returns the stored form of a token of an application that the
// server must send later in clear, such as the bearer token of an OpenID
// CIBA notification (purpose names what it is, and binds the sealed form to
// it): the version byte, a 12-byte nonce, then the ciphertext and tag; for
// a nil box, a zero byte then the token.
func (b *Box) SealToken(purpose, workspace, app, token string) []byte {
	if b == nil {
		return append([]byte{clearVersion}, token...)
	}
	n := b.aead.NonceSize()
	out := make([]byte, 1+n, 1+n+len(token)+b.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:]) // never fails
	return b.aead.Seal(out, out[1:], []byte(token), tokenAD(purpose, workspace, app))
}

// OpenToken returns the token of a stored form made by SealToken with the
// same purpose, workspace and application. A sealed token needs a box with
// the key it was sealed with; one stored in clear opens with any box.
func (b *Box) OpenToken(purpose, workspace, app string, stored []byte) (string, error) {
	if len(stored) > 0 && stored[0] == clearVersion {
		return string(stored[1:]), nil
	}
	if b == nil {
		return "", errors.New("the " + purpose + " is encrypted and the server has no secret key to open it")
	}
	n := b.aead.NonceSize()
	if len(stored) < 1+n+b.aead.Overhead() || stored[0] != sealVersion {
		return "", errors.New("the stored " + purpose + " is not in a known format")
	}
	plain, err := b.aead.Open(nil, stored[1:1+n], stored[1+n:], tokenAD(purpose, workspace, app))
	if err != nil {
		return "", errors.New("cannot decrypt the " + purpose + ": the secret key differs from the one it was stored with")
	}
	return string(plain), nil
}
