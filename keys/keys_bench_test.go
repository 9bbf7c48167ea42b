package keys_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/keys"
	"github.com/tandem-id/tandem/store"
)

// BenchmarkSignJWT measures issuing a result token (GET
// /v1/verifications/{id}/token): load the workspace's active key, open it
// with the operator secret, and sign the claims of a finished demo
// verification (ES256).
func BenchmarkSignJWT(b *testing.B) {
	db, err := store.Open(b.Context(), "sqlite:"+filepath.Join(b.TempDir(), "keys.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.ApplyWorkspace(b.Context(), tandem.WorkspaceDoc{Name: "acme"}, tandem.AnyVersion); err != nil {
		b.Fatal(err)
	}
	m := &keys.Manager{Store: db, Secret: []byte(secret)}
	now := time.Now()
	claims := map[string]any{
		"iss": "https://verify.example/w/acme", "aud": "0123456789abcdef0123456789abcdef", "sub": "mark@example.com",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": "6f1c1d8e-3b0a-4c55-9a8e-2f1d3c4b5a69",
		"workflow": "login", "user_id": "mark@example.com", "request_id": "6f1c1d8e-3b0a-4c55-9a8e-2f1d3c4b5a69", "status": "completed",
		"aadhaar_number": "234123412346", "aadhaar_verified": "true", "aadhaar_verified_at": "1733729102",
		"web_to_device": "true", "allow_new_device": "true", "web_2_device_cred_id": "8a44858f34bd24ab21dc9d8d2fe05c76",
		"prompt_success": "true", "prompt_completed_at": "1733729110", "proximity_verified": "true", "proximity_verified_at": "1733729118",
		"web_lat": "12.94739", "web_long": "80.24207", "web_geo_acc": "18.082", "mob_lat": "12.9478", "mob_long": "80.24207",
		"web_mob_dist": "45.2", "prx_read_at": "1733729117", "web_ip": "198.51.100.7",
	}
	if _, err := m.SignJWT(b.Context(), "acme", claims); err != nil { // makes the first key
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := m.SignJWT(b.Context(), "acme", claims); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWKS measures serving a workspace's JWKS (public, cacheable).
func BenchmarkJWKS(b *testing.B) {
	db, err := store.Open(b.Context(), "sqlite:"+filepath.Join(b.TempDir(), "keys.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.ApplyWorkspace(b.Context(), tandem.WorkspaceDoc{Name: "acme"}, tandem.AnyVersion); err != nil {
		b.Fatal(err)
	}
	m := &keys.Manager{Store: db, Secret: []byte(secret)}
	if _, err := m.JWKS(b.Context(), "acme"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if set, err := m.JWKS(b.Context(), "acme"); err != nil || len(set.Keys) != 1 {
			b.Fatalf("JWKS: %d keys, %v", len(set.Keys), err)
		}
	}
}
