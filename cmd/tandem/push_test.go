package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func vapidKey(t *testing.T, s *server) (int, string) {
	t.Helper()
	r := get(t, s.url+"/device/v1/push/vapid-public-key", "")
	var out struct {
		PublicKey string `json:"public_key"`
	}
	json.Unmarshal([]byte(r.body), &out)
	return r.status, out.PublicKey
}

func TestServeVAPIDKey(t *testing.T) {
	dsn := sqliteDSN(t)
	args := []string{"serve", "-addr", "127.0.0.1:0", "-db", dsn, "-vapid-subject", "https://verify.example/contact"}
	s := start(t, args, env(nil))
	st, key := vapidKey(t, s)
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if st != 200 || err != nil || len(raw) != 65 || raw[0] != 4 {
		t.Fatalf("VAPID public key: %d %q; want 200 with an uncompressed P-256 point", st, key)
	}
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}

	// The key is generated once: a restart serves the same.
	s = start(t, args, env(nil))
	if st, again := vapidKey(t, s); st != 200 || again != key {
		t.Errorf("after a restart: %d %q; want the same key %q", st, again, key)
	}
	s.stop(t)

	// Another secret key does not open it: Web Push is off, the key is kept.
	s = start(t, args, env(map[string]string{"TANDEM_SECRET_KEY": "another-secret-key-0123456789-abcdefgh"}))
	if st, _ := vapidKey(t, s); st != 404 {
		t.Errorf("with another secret key: %d; want 404 (Web Push off)", st)
	}
	if !strings.Contains(s.stderr.String(), "Web Push is off") {
		t.Errorf("the log does not say Web Push is off:\n%s", s.stderr)
	}
	s.stop(t)
	s = start(t, args, env(nil))
	if st, again := vapidKey(t, s); st != 200 || again != key {
		t.Errorf("back with the first secret key: %d %q; want the key %q", st, again, key)
	}
}

func TestServeRefusesABadVAPIDSubject(t *testing.T) {
	getenv := withSecretKey(env(nil))
	err := Run(t.Context(), []string{"serve", "-addr", "127.0.0.1:0", "-db", sqliteDSN(t), "-vapid-subject", "admin@example.com"}, io.Discard, io.Discard, getenv)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "-vapid-subject") {
		t.Errorf("Run with -vapid-subject admin@example.com: %v; want a usage error about -vapid-subject", err)
	}
}
