package authenticator_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem/authenticator"
)

func TestKeystore(t *testing.T) {
	home := filepath.Join(t.TempDir(), "config", "tandem", "device")
	ks, err := authenticator.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(home); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("home: %v, mode %v; want 0700", err, fi.Mode())
	}

	created := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	entries := []authenticator.Entry{
		{Server: "https://a.example", CredID: "0123456789abcdef0123456789abcdef", Name: "laptop", CreatedAt: created},
		{Server: "https://b.example", CredID: "fedcba9876543210fedcba9876543210", Name: "laptop", CreatedAt: created},
		{Server: "https://a.example", CredID: "00000000000000000000000000000001", Name: "ci", CreatedAt: created},
	}
	keys := map[string]string{}
	for _, e := range entries {
		key, err := authenticator.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.Save(e, key); err != nil {
			t.Fatal(err)
		}
		got, err := ks.Key(e)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(key) {
			t.Errorf("%s: the loaded key differs from the saved one", e.CredID)
		}
		keys[e.CredID] = e.Name
	}

	files, err := os.ReadDir(home)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Errorf("home holds %d files, want 6 (a .key and a .json per entry)", len(files))
	}
	for _, f := range files {
		fi, err := f.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f.Name(), fi.Mode())
		}
		if strings.HasSuffix(f.Name(), ".key") {
			b, _ := os.ReadFile(filepath.Join(home, f.Name()))
			if !strings.HasPrefix(string(b), "-----BEGIN PRIVATE KEY-----\n") {
				t.Errorf("%s is not a PEM PKCS#8 key:\n%s", f.Name(), b)
			}
		}
	}

	// Reopening sees the same entries, sorted by server then name.
	ks, err = authenticator.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ks.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []authenticator.Entry{entries[2], entries[0], entries[1]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if got, err := ks.Find("https://a.example"); err != nil || len(got) != 2 {
		t.Errorf("Find(a) = %v, %v; want 2 entries", got, err)
	}

	// "laptop" names two entries: Forget needs the credential id.
	if _, err := ks.Forget("laptop"); err == nil || !strings.Contains(err.Error(), "2 devices are called") {
		t.Errorf("Forget(laptop) = %v, want an ambiguity error", err)
	}
	if _, err := ks.Forget("nobody"); err == nil {
		t.Error("Forget(nobody) succeeded")
	}
	gone, err := ks.Forget(entries[1].CredID)
	if err != nil || gone != entries[1] {
		t.Fatalf("Forget = %+v, %v", gone, err)
	}
	if e, err := ks.Lookup("laptop"); err != nil || e != entries[0] {
		t.Errorf("Lookup(laptop) after Forget = %+v, %v", e, err)
	}
	if files, _ := os.ReadDir(home); len(files) != 4 {
		t.Errorf("after Forget home holds %d files, want 4", len(files))
	}
	if _, err := ks.Key(entries[1]); err == nil {
		t.Error("the forgotten key still loads")
	}
}

func TestKeystoreRefusesLooseModes(t *testing.T) {
	home := filepath.Join(t.TempDir(), "ks")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticator.Open(home); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("Open(0755 dir) = %v, want a refusal", err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	ks, err := authenticator.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	e := authenticator.Entry{Server: "https://a.example", CredID: "0123456789abcdef0123456789abcdef", Name: "x"}
	key, _ := authenticator.NewKey()
	if err := ks.Save(e, key); err != nil {
		t.Fatal(err)
	}
	list, _ := ks.List()
	if len(list) != 1 || list[0].CreatedAt.IsZero() {
		t.Fatalf("List = %+v, want one entry with a creation time", list)
	}
	matches, _ := filepath.Glob(filepath.Join(home, "*.key"))
	if len(matches) != 1 {
		t.Fatalf("key files: %v", matches)
	}
	if err := os.Chmod(matches[0], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Key(e); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("Key(0644 file) = %v, want a refusal", err)
	}
	if err := ks.Save(authenticator.Entry{Server: "https://a.example", CredID: "../../etc/x"}, key); err == nil {
		t.Error("Save accepted a credential id with a path in it")
	}
}
