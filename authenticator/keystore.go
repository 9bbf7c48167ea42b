package authenticator

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Entry describes one device credential in a Keystore: a P-256 key paired
// with one server under one credential id.
type Entry struct {
	// Server is the base URL of the server (scheme://host[:port][/path]).
	Server string `json:"server"`
	CredID string `json:"cred_id"`
	// Name is the device name given at pairing; several entries may share
	// it (one per server).
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Keystore keeps device keys in files under a directory that only its owner
// may read: per entry, FILE.key (the private key, PEM PKCS#8) and FILE.json
// (the Entry), both mode 0600. FILE names the server and the credential, so
// one server cannot overwrite another's entry.
type Keystore struct {
	dir string
}

// Open opens the keystore in home, creating the directory (mode 0700) when
// it does not exist. It refuses a directory other users may access (modes
// are not checked on Windows).
func Open(home string) (*Keystore, error) {
	if home == "" {
		return nil, errors.New("keystore: no directory given")
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	fi, err := os.Stat(home)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("keystore: %s is not a directory", home)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("keystore: %s may be read by other users (mode %#o); run chmod 700 %s", home, perm, home)
	}
	return &Keystore{dir: home}, nil
}

// Dir returns the keystore's directory.
func (k *Keystore) Dir() string { return k.dir }

// NewKey generates a new P-256 device key.
func NewKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// fileBase is the file name, without extension, of an entry.
func fileBase(server, credID string) string {
	h := sha256.Sum256([]byte(server))
	return hex.EncodeToString(h[:8]) + "-" + credID
}

// Save stores key under e (replacing an entry of the same server and
// credential). CreatedAt is set to now when it is zero.
func (k *Keystore) Save(e Entry, key *ecdsa.PrivateKey) error {
	if e.Server == "" || !validCredID(e.CredID) {
		return fmt.Errorf("keystore: entry needs a server and a valid credential id (server %q, cred_id %q)", e.Server, e.CredID)
	}
	if key == nil || key.Curve != elliptic.P256() {
		return errors.New("keystore: the key must be a P-256 key")
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC().Truncate(time.Second)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	meta, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	base := filepath.Join(k.dir, fileBase(e.Server, e.CredID))
	// The key first: an entry whose metadata exists always has its key.
	if err := writeFile(base+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return err
	}
	return writeFile(base+".json", append(meta, '\n'))
}

// writeFile writes data to path atomically, mode 0600.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("keystore: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("keystore: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("keystore: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keystore: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return nil
}

// List returns every entry, sorted by server, then name, then credential.
func (k *Keystore) List() ([]Entry, error) {
	des, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	var out []Entry
	for _, de := range des {
		name := de.Name()
		if de.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(k.dir, name))
		if err != nil {
			return nil, fmt.Errorf("keystore: %w", err)
		}
		var e Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("keystore: %s: %w", name, err)
		}
		if fileBase(e.Server, e.CredID)+".json" != name {
			return nil, fmt.Errorf("keystore: %s does not hold the entry its name says (server %q, cred_id %q)", name, e.Server, e.CredID)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(strings.Compare(a.Server, b.Server), strings.Compare(a.Name, b.Name), strings.Compare(a.CredID, b.CredID))
	})
	return out, nil
}

// Find returns the entries of a server (its base URL, as ParseQRURL
// returns it).
func (k *Keystore) Find(server string) ([]Entry, error) {
	all, err := k.List()
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range all {
		if e.Server == server {
			out = append(out, e)
		}
	}
	return out, nil
}

// Key loads the private key of an entry. It refuses a key file other users
// may read.
func (k *Keystore) Key(e Entry) (*ecdsa.PrivateKey, error) {
	path := filepath.Join(k.dir, fileBase(e.Server, e.CredID)+".key")
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("keystore: %s may be read by other users (mode %#o); run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("keystore: %s holds no PEM private key", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("keystore: %s: %w", path, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("keystore: %s is not a P-256 key", path)
	}
	return ec, nil
}

// Lookup returns the one entry called name, or whose credential id is name.
// It is an error when none or several match.
func (k *Keystore) Lookup(name string) (Entry, error) {
	all, err := k.List()
	if err != nil {
		return Entry{}, err
	}
	var match []Entry
	for _, e := range all {
		if e.Name == name || e.CredID == name {
			match = append(match, e)
		}
	}
	switch len(match) {
	case 0:
		return Entry{}, fmt.Errorf("keystore: no device called %q", name)
	case 1:
		return match[0], nil
	}
	servers := make([]string, len(match))
	for i, e := range match {
		servers[i] = e.CredID + " (" + e.Server + ")"
	}
	return Entry{}, fmt.Errorf("keystore: %d devices are called %q: name one by its credential id: %s", len(match), name, strings.Join(servers, ", "))
}

// Forget deletes the entry called name (or whose credential id is name)
// and its key, and returns it. The server still knows the device until an
// administrator revokes it.
func (k *Keystore) Forget(name string) (Entry, error) {
	e, err := k.Lookup(name)
	if err != nil {
		return Entry{}, err
	}
	base := filepath.Join(k.dir, fileBase(e.Server, e.CredID))
	// The metadata first: a key without metadata is invisible, never an
	// entry without its key.
	for _, ext := range []string{".json", ".key"} {
		if err := os.Remove(base + ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Entry{}, fmt.Errorf("keystore: %w", err)
		}
	}
	return e, nil
}
