package webpush

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/keys"
)

// SettingKey is the settings entry that keeps the server's VAPID private
// key, sealed with the operator's secret key.
const SettingKey = "vapid_private_key_enc"

// ErrKeyUnreadable is wrapped by LoadOrCreateKey's error when the stored
// VAPID key does not open: it was sealed with another secret key, or the
// entry is damaged.
var ErrKeyUnreadable = errors.New("the stored VAPID key cannot be decrypted")

// Settings is where the sealed key is kept; tandem.WorkspaceStore is one.
type Settings interface {
	Setting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, value []byte) error
}

// The sealed key is: the format version, a 12-byte nonce, then the
// AES-256-GCM ciphertext and tag of the key's PKCS #8 DER. The cipher key
// is derived from the secret key with HKDF-SHA256 and an info of its own,
// so it differs from the keys that seal signing keys and webhook secrets.
const (
	sealVersion = 1
	sealInfo    = "tandem vapid key v1"
	sealAD      = "tandem-vapid-key"
)

// LoadOrCreateKey returns the server's VAPID key: the one stored under
// SettingKey, opened with secret, or a new P-256 key stored sealed there on
// first use. Subscriptions are bound to the key, so it must not change:
// a stored key that does not open is an error wrapping ErrKeyUnreadable,
// never replaced. Two servers starting for the first time on one database
// at the same instant could each store a key; the last stored wins, and
// the other server uses it after a restart.
func LoadOrCreateKey(ctx context.Context, st Settings, secret []byte) (*ecdsa.PrivateKey, error) {
	aead, err := sealer(secret)
	if err != nil {
		return nil, err
	}
	stored, err := st.Setting(ctx, SettingKey)
	switch {
	case err == nil:
		return open(aead, stored)
	case tandem.ErrorCode(err) != tandem.ENOTFOUND:
		return nil, fmt.Errorf("load the VAPID key: %w", err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the VAPID key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode the VAPID key: %w", err)
	}
	n := aead.NonceSize()
	sealed := make([]byte, 1+n, 1+n+len(der)+aead.Overhead())
	sealed[0] = sealVersion
	rand.Read(sealed[1:]) // never fails
	sealed = aead.Seal(sealed, sealed[1:], der, []byte(sealAD))
	if err := st.PutSetting(ctx, SettingKey, sealed); err != nil {
		return nil, fmt.Errorf("store the VAPID key: %w", err)
	}
	return priv, nil
}

func sealer(secret []byte) (cipher.AEAD, error) {
	if err := keys.CheckSecret(secret); err != nil {
		return nil, err
	}
	k, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the VAPID key-encryption key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func open(aead cipher.AEAD, sealed []byte) (*ecdsa.PrivateKey, error) {
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: the setting %s is not in a known format", ErrKeyUnreadable, SettingKey)
	}
	der, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(sealAD))
	if err != nil {
		return nil, fmt.Errorf("%w: the -secret-key differs from the one it was stored with", ErrKeyUnreadable)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyUnreadable, err)
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: it is not a P-256 key", ErrKeyUnreadable)
	}
	return priv, nil
}
