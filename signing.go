package tandem

import (
	"context"
	"encoding/json"
	"time"
)

// AlgES256 is the JWS algorithm of workspace signing keys: ECDSA on P-256
// with SHA-256.
const AlgES256 = "ES256"

// SigningKey is one key a workspace signs its result tokens with. Its
// private half is stored only encrypted.
type SigningKey struct {
	// KID is the key id, unique across workspaces: the RFC 7638 SHA-256
	// thumbprint of the public key, base64url.
	KID       string
	Workspace string
	Alg       string // AlgES256
	// PublicJWK is the public key as a JSON Web Key (JSON text).
	PublicJWK json.RawMessage
	// PrivateEnc is the private key encrypted with the operator's secret;
	// only the keys package can open it.
	PrivateEnc []byte
	CreatedAt  time.Time
	// RetireAt is when the key leaves the published key set; zero for the
	// active key, the one that signs. A key that has a RetireAt no longer
	// signs.
	RetireAt time.Time
}

// Active reports whether k is the key that signs: it has no retire time.
func (k *SigningKey) Active() bool { return k.RetireAt.IsZero() }

// KeyStore persists workspace signing keys. A workspace has at most one
// active key at any time; the store enforces it.
type KeyStore interface {
	// ActiveKey returns the active key of a workspace, or ENOTFOUND when
	// the workspace has none (or does not exist).
	ActiveKey(ctx context.Context, workspace string) (*SigningKey, error)
	// ListKeys returns the keys of a workspace that are still published at
	// now: the active key and the keys whose RetireAt is after now, newest
	// first. It returns ENOTFOUND when the workspace does not exist.
	ListKeys(ctx context.Context, workspace string, now time.Time) ([]SigningKey, error)
	// PutKey stores a new key of k.Workspace. It returns ECONFLICT, and
	// stores nothing, when k is active (zero RetireAt) and the workspace
	// already has an active key, or when k.KID is taken; ENOTFOUND when the
	// workspace does not exist; EINVALID when a field is missing.
	PutKey(ctx context.Context, k SigningKey) error
	// RetireKeys sets the retire time of every key of a workspace other
	// than keepKID ("" keeps none) that is active or would retire later
	// than retireAt, to retireAt. A key already retiring earlier keeps its
	// time. It returns ENOTFOUND when the workspace does not exist.
	RetireKeys(ctx context.Context, workspace, keepKID string, retireAt time.Time) error
}
