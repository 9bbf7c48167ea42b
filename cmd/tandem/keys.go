package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/keys"
)

// errSecretRequired is the refusal of serve (and keys rotate) without an
// operator secret.
const errSecretRequired = "-secret-key is required: it encrypts the workspace signing keys at rest; generate one with `openssl rand -base64 32` and keep it safe"

// maxRetireAfter caps -retire-after, as the admin API caps retire_after_s.
const maxRetireAfter = 365 * 24 * time.Hour

// checkSecretKey refuses a missing secret (except for the demo, which makes
// its own) and one shorter than keys.MinSecretLen.
func checkSecretKey(secret string, demo bool) error {
	if secret == "" {
		if demo {
			return nil
		}
		return &usageError{msg: errSecretRequired}
	}
	if keys.CheckSecret([]byte(secret)) != nil {
		return &usageError{msg: fmt.Sprintf("-secret-key must be at least %d characters", keys.MinSecretLen)}
	}
	return nil
}

// serveSecret returns the operator secret of serve or demo. A configured
// secret is used as it is. The demo without one keeps a generated secret in
// DB.secret next to its SQLite database (mode 0600), so that a restart can
// open the keys it stored; an in-memory demo database gets a secret that
// lives as long as the process.
func serveSecret(configured, dsn string, demo bool, logger *slog.Logger) ([]byte, error) {
	if configured != "" || !demo {
		return []byte(configured), nil
	}
	path, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok || path == ":memory:" {
		return newSecretKey(), nil
	}
	path += ".secret"
	secret, created, err := demoSecretFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		logger.Info("demo secret key generated; it encrypts the demo's signing keys", "file", path)
	}
	return secret, nil
}

// demoSecretFile reads the secret kept in path, or creates the file with a
// new secret when it does not exist.
func demoSecretFile(path string) (secret []byte, created bool, err error) {
	secret = []byte(base64.StdEncoding.EncodeToString(newSecretKey()))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, werr := f.Write(append(secret, '\n'))
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, false, fmt.Errorf("write demo secret key %s: %w", path, werr)
		}
		return secret, true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, false, fmt.Errorf("create demo secret key %s: %w", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("read demo secret key: %w", err)
	}
	secret = []byte(strings.TrimSpace(string(b)))
	if keys.CheckSecret(secret) != nil {
		return nil, false, fmt.Errorf("demo secret key %s is shorter than %d characters; delete it together with the demo database, or pass -secret-key", path, keys.MinSecretLen)
	}
	return secret, false, nil
}

// newSecretKey returns 256 bits from crypto/rand.
func newSecretKey() []byte {
	b := make([]byte, 32)
	rand.Read(b) // never fails
	return b
}

const keysUsage = `Usage:
  tandem keys rotate -workspace NAME [-retire-after 24h] [-db sqlite:PATH] [-secret-key SECRET] [-force]

rotate makes a new signing key the workspace's active key, straight on the
database. The keys it replaces stay in the workspace's JWKS for -retire-after,
so that tokens they signed keep verifying.
`

// runKeys runs "tandem keys SUBCOMMAND".
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprint(stderr, keysUsage)
		if len(args) == 0 {
			return &usageError{msg: "keys: a subcommand is required"}
		}
		return &usageError{msg: fmt.Sprintf("keys: unknown subcommand %q", args[0])}
	}
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workspace := fs.String("workspace", "", "the workspace whose key to rotate (required)")
	retireAfter := fs.Duration("retire-after", 24*time.Hour, "how long the replaced keys stay in the JWKS; 0 removes them at once")
	db := fs.String("db", "sqlite:tandem.db", "database: sqlite:PATH")
	secret := fs.String("secret-key", "", "the operator `secret` the server runs with (at least 32 characters)")
	force := fs.Bool("force", false, "rotate even when -secret-key cannot open the current key (to recover from a lost secret)")
	if err := parseFlags(fs, args[1:], getenv, "secret-key"); err != nil {
		return err
	}
	switch {
	case *workspace == "":
		return &usageError{msg: "keys rotate: -workspace NAME is required"}
	case *retireAfter < 0 || *retireAfter > maxRetireAfter:
		return &usageError{msg: "keys rotate: -retire-after must be between 0 and 8760h (one year)"}
	}
	if err := checkSecretKey(*secret, false); err != nil {
		return err
	}

	st, err := openDB(ctx, *db, discardLogger())
	if err != nil {
		return err
	}
	defer st.Close()
	m := &keys.Manager{Store: st, Secret: []byte(*secret), Now: time.Now}
	if err := m.Check(ctx, *workspace); err != nil {
		if tandem.ErrorCode(err) == tandem.ENOTFOUND || !*force {
			msg := tandem.ErrorMessageOr(err)
			if tandem.ErrorCode(err) != tandem.ENOTFOUND {
				msg += "; give the server's -secret-key, or pass -force to replace the key with one this secret opens"
			}
			return fmt.Errorf("keys rotate: %s", msg)
		}
	}
	k, retireAt, err := m.Rotate(ctx, *workspace, *retireAfter)
	if err != nil {
		return fmt.Errorf("keys rotate: %s", tandem.ErrorMessageOr(err))
	}
	detail := fmt.Sprintf(`{"kid":%q,"previous_keys_retire_at":%d}`, k.KID, retireAt.Unix())
	if err := st.AddAudit(ctx, tandem.AuditEvent{Workspace: *workspace, Actor: tandem.ActorAdmin, Action: "keys.rotated", Detail: []byte(detail), At: time.Now()}); err != nil {
		return fmt.Errorf("keys rotate: audit: %w", err)
	}
	list, err := m.Keys(ctx, *workspace)
	if err != nil {
		return fmt.Errorf("keys rotate: %s", tandem.ErrorMessageOr(err))
	}

	fmt.Fprintf(stdout, "Workspace %s: new signing key %s (%s) signs from now on.\n", *workspace, k.KID, k.Alg)
	var old []tandem.SigningKey
	for _, o := range list {
		if !o.Active() {
			old = append(old, o)
		}
	}
	if len(old) == 0 {
		fmt.Fprintln(stdout, "No previous key stays in the JWKS.")
		return nil
	}
	fmt.Fprintln(stdout, "Previous keys stay in the JWKS until:")
	for _, o := range old {
		fmt.Fprintf(stdout, "  %s  %s\n", o.KID, o.RetireAt.UTC().Format(time.RFC3339))
	}
	return nil
}
