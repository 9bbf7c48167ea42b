// Package keys manages the ES256 keys each workspace signs its result tokens
// with: it generates a workspace's key on first use, keeps the private half
// encrypted at rest with a key derived from the operator's secret, rotates
// keys, publishes the public halves as a JWK set, and signs JWTs.
package keys

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tandem-id/tandem"
)

// MinSecretLen is the shortest operator secret Manager accepts, in bytes.
const MinSecretLen = 32

// CheckSecret returns an error when secret is too short to protect keys.
func CheckSecret(secret []byte) error {
	if len(secret) < MinSecretLen {
		return fmt.Errorf("the secret key must be at least %d characters, not %d", MinSecretLen, len(secret))
	}
	return nil
}

// Manager manages the signing keys of every workspace. Its zero value is
// not usable: Store and Secret are required. It is safe for concurrent use.
type Manager struct {
	Store tandem.KeyStore
	// Secret is the operator's secret (at least MinSecretLen bytes). The
	// AES-256-GCM key that seals private keys is derived from it with
	// HKDF-SHA256; a different secret cannot open keys stored with this one.
	Secret []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// attempts bounds the retries of a first use or a rotation that lost a race
// with another one.
const attempts = 5

func (m *Manager) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

// Signer returns a signer with the active key of a workspace, generating the
// workspace's first key when it has none, and the key's id. Two first uses
// at the same time end with one key: the store refuses a second active key,
// and the loser uses the winner's. Errors: ENOTFOUND for an unknown
// workspace; an EINTERNAL *tandem.Error that says so when the stored key
// cannot be opened with Secret.
func (m *Manager) Signer(ctx context.Context, workspace string) (jose.Signer, string, error) {
	k, err := m.active(ctx, workspace)
	if err != nil {
		return nil, "", err
	}
	priv, err := m.open(k)
	if err != nil {
		return nil, "", err
	}
	s, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.ES256,
		Key:       jose.JSONWebKey{Key: priv, KeyID: k.KID, Algorithm: string(jose.ES256), Use: "sig"},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, "", fmt.Errorf("signer of workspace %s: %w", workspace, err)
	}
	return s, k.KID, nil
}

// SignJWT signs claims as a compact JWT with the workspace's active key; its
// header carries alg ES256, typ JWT and the key's kid. The claims are
// serialized as given. Errors are those of Signer.
func (m *Manager) SignJWT(ctx context.Context, workspace string, claims map[string]any) (string, error) {
	s, _, err := m.Signer(ctx, workspace)
	if err != nil {
		return "", err
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign token of workspace %s: %w", workspace, err)
	}
	return tok, nil
}

// JWKS returns the public keys of a workspace that verify its tokens: the
// active key (generated now if the workspace has none yet, so that a client
// that fetches the set before the first token finds the key) and the keys
// that have not reached their retire time. Each has use "sig", alg ES256 and
// its kid. Errors: ENOTFOUND for an unknown workspace.
func (m *Manager) JWKS(ctx context.Context, workspace string) (jose.JSONWebKeySet, error) {
	list, err := m.ensureListed(ctx, workspace)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(list))}
	for _, k := range list {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(k.PublicJWK); err != nil {
			return jose.JSONWebKeySet{}, fmt.Errorf("public key %s of workspace %s: %w", k.KID, workspace, err)
		}
		pub := jwk.Public() // never publish private material, whatever is stored
		if !pub.IsPublic() || !pub.Valid() {
			return jose.JSONWebKeySet{}, fmt.Errorf("public key %s of workspace %s is not a public key", k.KID, workspace)
		}
		pub.KeyID, pub.Algorithm, pub.Use = k.KID, k.Alg, "sig"
		set.Keys = append(set.Keys, pub)
	}
	return set, nil
}

// ensureListed returns the published keys of a workspace, generating its
// first key when it has no active one.
func (m *Manager) ensureListed(ctx context.Context, workspace string) ([]tandem.SigningKey, error) {
	list, err := m.Store.ListKeys(ctx, workspace, m.now())
	if err != nil {
		return nil, err
	}
	for _, k := range list {
		if k.Active() {
			return list, nil
		}
	}
	if _, err := m.active(ctx, workspace); err != nil {
		return nil, err
	}
	return m.Store.ListKeys(ctx, workspace, m.now())
}

// Keys returns the published keys of a workspace, newest first, without
// generating any. Errors: ENOTFOUND for an unknown workspace.
func (m *Manager) Keys(ctx context.Context, workspace string) ([]tandem.SigningKey, error) {
	return m.Store.ListKeys(ctx, workspace, m.now())
}

// Check opens the active key of a workspace with Secret. It returns nil
// when the key opens or the workspace has none yet, and the error of
// Signer otherwise; a command can call it to refuse a wrong secret before
// it seals a new key with it.
func (m *Manager) Check(ctx context.Context, workspace string) error {
	k, err := m.Store.ActiveKey(ctx, workspace)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		if _, err := m.Store.ListKeys(ctx, workspace, m.now()); err != nil {
			return err // the workspace does not exist
		}
		return nil
	} else if err != nil {
		return err
	}
	_, err = m.open(k)
	return err
}

// Rotate makes a new key the workspace's active key. The keys it replaces
// stop signing now and stay in the JWK set until now+retireAfter (a key
// already due to retire earlier keeps its time), so that tokens they
// signed keep verifying. It returns the new key and that retire time.
// Rotating is also how a workspace whose key was sealed with a lost secret
// gets a key the current secret opens. Errors: ENOTFOUND for an unknown
// workspace; EINVALID for a negative retireAfter.
func (m *Manager) Rotate(ctx context.Context, workspace string, retireAfter time.Duration) (*tandem.SigningKey, time.Time, error) {
	if retireAfter < 0 {
		return nil, time.Time{}, tandem.Errorf(tandem.EINVALID, "the retire time must not be negative")
	}
	for i := 0; ; i++ {
		now := m.now()
		retireAt := now.Add(retireAfter)
		k, err := m.generate(workspace, now)
		if err != nil {
			return nil, time.Time{}, err
		}
		// Retire first, then put: the store holds one active key, so a
		// first use that slips in between makes the put conflict, and the
		// next round retires that key too (it stays published until
		// retireAt, like the others).
		if err := m.Store.RetireKeys(ctx, workspace, "", retireAt); err != nil {
			return nil, time.Time{}, err
		}
		err = m.Store.PutKey(ctx, *k)
		if tandem.ErrorCode(err) == tandem.ECONFLICT && i < attempts {
			continue
		}
		if err != nil {
			return nil, time.Time{}, err
		}
		return k, retireAt, nil
	}
}

// active returns the active key of a workspace, generating and storing one
// when there is none.
func (m *Manager) active(ctx context.Context, workspace string) (*tandem.SigningKey, error) {
	for i := 0; ; i++ {
		k, err := m.Store.ActiveKey(ctx, workspace)
		if err == nil {
			return k, nil
		}
		if tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return nil, err
		}
		k, err = m.generate(workspace, m.now())
		if err != nil {
			return nil, err
		}
		err = m.Store.PutKey(ctx, *k)
		if err == nil {
			return k, nil
		}
		// ECONFLICT: another first use won; take its key. ENOTFOUND: the
		// workspace does not exist.
		if tandem.ErrorCode(err) != tandem.ECONFLICT || i >= attempts {
			return nil, err
		}
	}
}

// generate returns a new active ES256 key of workspace, sealed.
func (m *Manager) generate(workspace string, now time.Time) (*tandem.SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: string(jose.ES256), Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("thumbprint of signing key: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	jwk, err := pub.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	sealed, err := m.seal(workspace, pub.KeyID, der)
	if err != nil {
		return nil, err
	}
	return &tandem.SigningKey{
		KID: pub.KeyID, Workspace: workspace, Alg: tandem.AlgES256,
		PublicJWK: json.RawMessage(jwk), PrivateEnc: sealed, CreatedAt: now,
	}, nil
}

// Sealed private keys are: the format version, a 12-byte nonce, then the
// AES-256-GCM ciphertext and tag of the PKCS #8 DER of the key. The
// additional data binds the ciphertext to its workspace and kid, so that a
// sealed key moved to another row does not open.
const (
	sealVersion = 1
	hkdfInfo    = "tandem workspace signing keys v1"
)

// aead returns the AES-256-GCM cipher keyed from Secret.
func (m *Manager) aead() (cipher.AEAD, error) {
	if err := CheckSecret(m.Secret); err != nil {
		return nil, err
	}
	key, err := hkdf.Key(sha256.New, m.Secret, nil, hkdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key-encryption key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// additionalData returns the GCM additional data of a key: both strings,
// each preceded by its length, so that no two pairs give the same bytes.
func additionalData(workspace, kid string) []byte {
	ad := []byte("tandem-signing-key")
	for _, s := range []string{workspace, kid} {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(s)))
		ad = append(ad, s...)
	}
	return ad
}

func (m *Manager) seal(workspace, kid string, plain []byte) ([]byte, error) {
	aead, err := m.aead()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:]) // never fails
	return aead.Seal(out, out[1:], plain, additionalData(workspace, kid)), nil
}

// errWrongSecret is the message of a key that does not open.
const errWrongSecret = "cannot decrypt the signing key of workspace %s: the -secret-key differs from the one it was stored with"

// open decrypts and parses the private key of k. A key that does not open
// (a different secret, or a sealed key that was tampered with or moved) is
// an EINTERNAL *tandem.Error whose message says so.
func (m *Manager) open(k *tandem.SigningKey) (*ecdsa.PrivateKey, error) {
	aead, err := m.aead()
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(k.PrivateEnc) < 1+n+aead.Overhead() || k.PrivateEnc[0] != sealVersion {
		return nil, tandem.Errorf(tandem.EINTERNAL, "cannot decrypt the signing key of workspace %s: the stored key %s is not in a known format", k.Workspace, k.KID)
	}
	der, err := aead.Open(nil, k.PrivateEnc[1:1+n], k.PrivateEnc[1+n:], additionalData(k.Workspace, k.KID))
	if err != nil {
		return nil, tandem.Errorf(tandem.EINTERNAL, errWrongSecret, k.Workspace)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse signing key %s of workspace %s: %w", k.KID, k.Workspace, err)
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, errors.New("signing key " + k.KID + " of workspace " + k.Workspace + " is not a P-256 key")
	}
	return priv, nil
}
