package keys_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/keys"
	"github.com/tandem-id/tandem/store"
)

const (
	secret      = "an-operator-secret-of-32-chars-or-more"
	otherSecret = "another-operator-secret-of-32-chars-x"
)

// clock is a Now that tests move.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newManager returns a manager over a fresh database that holds the
// workspaces acme and globex.
func newManager(t *testing.T) (*keys.Manager, *store.DB, *clock) {
	t.Helper()
	db, err := store.Open(t.Context(), "sqlite::memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, ws := range []string{"acme", "globex"} {
		if _, err := db.ApplyWorkspace(t.Context(), tandem.WorkspaceDoc{Name: ws}, tandem.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	return &keys.Manager{Store: db, Secret: []byte(secret), Now: c.Now}, db, c
}

// verify checks token the way an integrator would: it parses it, finds the
// key named by its kid in jwks, verifies the signature and returns the
// registered and the other claims.
func verify(t *testing.T, token string, jwks jose.JSONWebKeySet) (jwt.Claims, map[string]any, error) {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	if len(tok.Headers) != 1 {
		t.Fatalf("%d headers", len(tok.Headers))
	}
	h := tok.Headers[0]
	if h.Algorithm != "ES256" || h.ExtraHeaders[jose.HeaderType] != "JWT" || h.KeyID == "" {
		t.Errorf("header alg=%q typ=%v kid=%q, want ES256, JWT and a kid", h.Algorithm, h.ExtraHeaders[jose.HeaderType], h.KeyID)
	}
	found := jwks.Key(h.KeyID)
	if len(found) != 1 {
		return jwt.Claims{}, nil, errors.New("no key " + h.KeyID + " in the JWKS")
	}
	var reg jwt.Claims
	var all map[string]any
	if err := tok.Claims(found[0].Key, &reg, &all); err != nil {
		return jwt.Claims{}, nil, err
	}
	return reg, all, nil
}

func jwksKIDs(set jose.JSONWebKeySet) []string {
	out := []string{}
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func TestSignJWTVerifiesWithJWKS(t *testing.T) {
	m, _, c := newManager(t)
	ctx := t.Context()
	now := c.Now()
	token, err := m.SignJWT(ctx, "acme", map[string]any{
		"iss": "https://verify.example/w/acme", "aud": "client-1", "sub": "mark",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": "req-1",
		"aadhaar_verified": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	set, err := m.JWKS(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	reg, all, err := verify(t, token, set)
	if err != nil {
		t.Fatal(err)
	}
	err = reg.ValidateWithLeeway(jwt.Expected{Issuer: "https://verify.example/w/acme", AnyAudience: jwt.Audience{"client-1"}, Subject: "mark", ID: "req-1", Time: now.Add(time.Minute)}, 0)
	if err != nil {
		t.Errorf("claims: %v", err)
	}
	if all["aadhaar_verified"] != "true" {
		t.Errorf("aadhaar_verified = %v", all["aadhaar_verified"])
	}
	if err := reg.ValidateWithLeeway(jwt.Expected{Time: now.Add(11 * time.Minute)}, 0); !errors.Is(err, jwt.ErrExpired) {
		t.Errorf("validation after exp = %v, want ErrExpired", err)
	}

	// The token does not verify with another workspace's keys.
	other, err := m.JWKS(ctx, "globex")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := verify(t, token, other); err == nil {
		t.Error("an acme token verifies with the globex JWKS")
	}
	// A signature does not survive a change of the payload.
	parts := strings.Split(token, ".")
	forged := parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]
	if _, _, err := verify(t, forged, set); err == nil {
		t.Error("a modified token verifies")
	}
}

func TestJWKSIsPublicOnly(t *testing.T) {
	m, _, _ := newManager(t)
	set, err := m.JWKS(t.Context(), "acme") // generates the first key
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS of a new workspace has %d keys, want the one generated", len(set.Keys))
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	k := doc.Keys[0]
	for name, want := range map[string]string{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256"} {
		if k[name] != want {
			t.Errorf("%s = %v, want %s", name, k[name], want)
		}
	}
	if _, ok := k["d"]; ok {
		t.Errorf("the JWKS holds private material: %s", b)
	}
	_, kid, err := m.Signer(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if k["kid"] != kid {
		t.Errorf("kid %v, want the signer's %s", k["kid"], kid)
	}
	// The kid is the RFC 7638 thumbprint of the key.
	tp, err := set.Keys[0].Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(tp); got != kid {
		t.Errorf("kid %s is not the thumbprint %s", kid, got)
	}
}

func TestRotation(t *testing.T) {
	m, _, c := newManager(t)
	ctx := t.Context()
	sign := func() string {
		t.Helper()
		tok, err := m.SignJWT(ctx, "acme", map[string]any{"sub": "mark", "exp": c.Now().Add(10 * time.Minute).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	jwks := func() jose.JSONWebKeySet {
		t.Helper()
		set, err := m.JWKS(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	before := sign()
	_, oldKID, err := m.Signer(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}

	c.Add(time.Minute)
	rotatedAt := c.Now()
	k, retireAt, err := m.Rotate(ctx, "acme", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if k.KID == oldKID || !retireAt.Equal(rotatedAt.Add(24*time.Hour)) {
		t.Fatalf("Rotate = %s retiring at %v; want a new key, the old one retiring at %v", k.KID, retireAt, rotatedAt.Add(24*time.Hour))
	}
	after := sign()
	if _, kid, _ := m.Signer(ctx, "acme"); kid != k.KID {
		t.Errorf("signing kid after rotation = %s, want the new %s", kid, k.KID)
	}
	if diff := cmp.Diff([]string{k.KID, oldKID}, jwksKIDs(jwks())); diff != "" {
		t.Errorf("JWKS after rotation (-want +got):\n%s", diff)
	}
	for name, tok := range map[string]string{"before": before, "after": after} {
		if _, _, err := verify(t, tok, jwks()); err != nil {
			t.Errorf("token signed %s the rotation does not verify: %v", name, err)
		}
	}

	c.Add(24*time.Hour - time.Millisecond) // just before retireAt
	if _, _, err := verify(t, before, jwks()); err != nil {
		t.Errorf("old token just before the retire time: %v", err)
	}
	c.Add(time.Millisecond)
	if diff := cmp.Diff([]string{k.KID}, jwksKIDs(jwks())); diff != "" {
		t.Errorf("JWKS at the retire time (-want +got):\n%s", diff)
	}
	if _, _, err := verify(t, before, jwks()); err == nil {
		t.Error("a token of the retired key still verifies with the JWKS")
	}
	if _, _, err := verify(t, after, jwks()); err != nil {
		t.Errorf("new token: %v", err)
	}

	if _, _, err := m.Rotate(ctx, "acme", -time.Second); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("Rotate with a negative retire time = %v, want EINVALID", err)
	}
}

// TestRotateZero retires the old key at once: it leaves the JWKS now.
func TestRotateZero(t *testing.T) {
	m, _, _ := newManager(t)
	ctx := t.Context()
	_, oldKID, err := m.Signer(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := m.Rotate(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	set, err := m.JWKS(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got := jwksKIDs(set); !cmp.Equal(got, []string{k.KID}) || got[0] == oldKID {
		t.Errorf("JWKS = %v, want only the new key", got)
	}
}

func TestEncryptedAtRest(t *testing.T) {
	m, db, c := newManager(t)
	ctx := t.Context()
	_, kid, err := m.Signer(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	k, err := db.ActiveKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if k.KID != kid {
		t.Fatalf("stored kid %s, want %s", k.KID, kid)
	}
	priv := privateKey(t, m, "acme")
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	d := priv.D.FillBytes(make([]byte, 32))
	if bytes.Contains(k.PrivateEnc, d) || bytes.Contains(k.PrivateEnc, der) {
		t.Error("the stored private_enc contains the private key in the clear")
	}
	if bytes.Contains(k.PublicJWK, []byte(`"d"`)) {
		t.Errorf("the stored public JWK holds private material: %s", k.PublicJWK)
	}

	t.Run("WrongSecret", func(t *testing.T) {
		wrong := &keys.Manager{Store: db, Secret: []byte(otherSecret), Now: m.Now}
		_, err := wrong.SignJWT(ctx, "acme", map[string]any{"sub": "x"})
		const want = "cannot decrypt the signing key of workspace acme: the -secret-key differs from the one it was stored with"
		if tandem.ErrorMessage(err) != want {
			t.Errorf("SignJWT with another secret: %v; want the message %q", err, want)
		}
		if err := wrong.Check(ctx, "acme"); tandem.ErrorMessage(err) != want {
			t.Errorf("Check with another secret: %v", err)
		}
		if err := m.Check(ctx, "acme"); err != nil {
			t.Errorf("Check with the right secret: %v", err)
		}
		// Rotating with the new secret recovers the workspace; the key it
		// replaces stays published.
		c.Add(time.Second)
		nk, _, err := wrong.Rotate(ctx, "acme", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wrong.SignJWT(ctx, "acme", map[string]any{"sub": "x"}); err != nil {
			t.Errorf("SignJWT after rotating with the new secret: %v", err)
		}
		set, err := wrong.JWKS(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if got := jwksKIDs(set); !cmp.Equal(got, []string{nk.KID, kid}) {
			t.Errorf("JWKS = %v, want [%s %s]", got, nk.KID, kid)
		}
	})

	t.Run("MovedToAnotherWorkspace", func(t *testing.T) {
		// The workspace and kid are the additional data: a sealed key
		// copied into another workspace's row does not open.
		moved := *k
		moved.Workspace = "globex"
		if err := db.PutKey(ctx, func() tandem.SigningKey { moved.KID = "copied"; return moved }()); err != nil {
			t.Fatal(err)
		}
		_, err := m.SignJWT(ctx, "globex", map[string]any{"sub": "x"})
		if !strings.Contains(tandem.ErrorMessage(err), "cannot decrypt the signing key of workspace globex") {
			t.Errorf("SignJWT with a moved key: %v", err)
		}
	})

	t.Run("ShortSecret", func(t *testing.T) {
		short := &keys.Manager{Store: db, Secret: []byte(strings.Repeat("x", keys.MinSecretLen-1))}
		if _, err := short.SignJWT(ctx, "globex", nil); err == nil || !strings.Contains(err.Error(), "at least 32") {
			t.Errorf("SignJWT with a 31-byte secret: %v", err)
		}
		if err := keys.CheckSecret([]byte(strings.Repeat("x", keys.MinSecretLen))); err != nil {
			t.Errorf("CheckSecret of 32 bytes: %v", err)
		}
	})
}

func TestConcurrentFirstUse(t *testing.T) {
	m, db, _ := newManager(t)
	const workers = 16
	var wg sync.WaitGroup
	kids := make([]string, workers)
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			var err error
			if i%2 == 0 {
				_, kids[i], err = m.Signer(t.Context(), "acme")
			} else {
				var set jose.JSONWebKeySet
				set, err = m.JWKS(t.Context(), "acme")
				if err == nil && len(set.Keys) == 1 {
					kids[i] = set.Keys[0].KeyID
				}
			}
			if err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for i, kid := range kids {
		if kid != kids[0] || kid == "" {
			t.Errorf("worker %d got key %q, worker 0 %q; want one key for all", i, kid, kids[0])
		}
	}
	list, err := db.ListKeys(t.Context(), "acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].Active() {
		var stored []string
		for _, k := range list {
			stored = append(stored, fmt.Sprintf("%s (active %v)", k.KID, k.Active()))
		}
		t.Errorf("stored keys %v, want one active key", stored)
	}
}

func TestUnknownWorkspace(t *testing.T) {
	m, _, _ := newManager(t)
	ctx := t.Context()
	if _, _, err := m.Signer(ctx, "nope"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("Signer: %v, want ENOTFOUND", err)
	}
	if _, err := m.JWKS(ctx, "nope"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("JWKS: %v, want ENOTFOUND", err)
	}
	if _, _, err := m.Rotate(ctx, "nope", time.Hour); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("Rotate: %v, want ENOTFOUND", err)
	}
	if err := m.Check(ctx, "nope"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("Check: %v, want ENOTFOUND", err)
	}
	if err := m.Check(ctx, "acme"); err != nil {
		t.Errorf("Check of a workspace without keys: %v", err)
	}
}

// privateKey returns the opened private key of a workspace's active key.
func privateKey(t *testing.T, m *keys.Manager, workspace string) *ecdsa.PrivateKey {
	t.Helper()
	priv, err := keys.OpenActive(t.Context(), m, workspace)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}
