package store_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/store"
	"github.com/tandem-id/tandem/store/storetest"
)

// openFile opens a new SQLite database in a temporary directory.
func openFile(t testing.TB) (*store.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tandem.db")
	db, err := store.Open(t.Context(), "sqlite:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db, path
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tandem.WorkspaceStore {
		db, _ := openFile(t)
		return db
	})
}

func TestSQLiteMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tandem.WorkspaceStore {
		db, err := store.Open(t.Context(), "sqlite::memory:", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestOpenRefusesAddress(t *testing.T) {
	const pgMessage = "PostgreSQL support is not available yet; use sqlite:PATH"
	for _, tc := range []struct {
		name, dsn, message string
	}{
		{"Postgres", "postgres://tandem:s3cret@db.example/tandem", pgMessage},
		{"PostgreSQL", "postgresql://tandem:s3cret@db.example/tandem?sslmode=require", pgMessage},
		{"PostgresUpperCase", "POSTGRES://tandem:s3cret@db.example/tandem", pgMessage},
		{"MySQL", "mysql://tandem:s3cret@db.example/tandem", ""},
		{"NoScheme", "/var/lib/tandem/s3cret.db", ""},
		{"Empty", "", ""},
		{"SQLiteNoPath", "sqlite:", ""},
		{"SQLiteQuery", "sqlite:s3cret.db?mode=ro", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open(t.Context(), tc.dsn, nil)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if got := tandem.ErrorCode(err); got != tandem.EINVALID {
				t.Errorf("code %q, want %q (%v)", got, tandem.EINVALID, err)
			}
			msg := tandem.ErrorMessage(err)
			if tc.message != "" && msg != tc.message {
				t.Errorf("message %q, want %q", msg, tc.message)
			}
			if !strings.Contains(msg, "sqlite:PATH") {
				t.Errorf("message %q does not name the accepted form sqlite:PATH", msg)
			}
			if strings.Contains(msg, "s3cret") {
				t.Errorf("message %q repeats the address", msg)
			}
		})
	}
}

func TestOpenUnwritablePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "tandem.db")
	db, err := store.Open(t.Context(), "sqlite:"+path, nil)
	if err == nil {
		db.Close()
		t.Fatal("Open of a file in a missing directory succeeded")
	}
	if got := tandem.ErrorCode(err); got != tandem.EINTERNAL {
		t.Errorf("code %q, want %q (%v)", got, tandem.EINTERNAL, err)
	}
}

func TestReady(t *testing.T) {
	db, path := openFile(t)
	ctx := t.Context()
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("Ready of a migrated database: %v", err)
	}

	// Forget the last migration behind the store's back.
	raw := rawOpen(t, path)
	if _, err := raw.ExecContext(ctx, `DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	err := db.Ready(ctx)
	if tandem.ErrorCode(err) != tandem.EUNAVAILABLE || tandem.ErrorMessage(err) != "database migrations pending" {
		t.Errorf("Ready with a pending migration = %v, want EUNAVAILABLE database migrations pending", err)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ready(ctx); err == nil {
		t.Error("Ready of a closed database succeeded")
	}
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tandem.db")
	open := func() (*store.DB, string) {
		t.Helper()
		var logs bytes.Buffer
		db, err := store.Open(ctx, "sqlite:"+path, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return db, logs.String()
	}
	migrations := func() int {
		t.Helper()
		var n int
		if err := rawOpen(t, path).QueryRowContext(ctx, `SELECT COUNT(*) FROM goose_db_version`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	db, logs := open()
	if !strings.Contains(logs, "database migration applied") {
		t.Errorf("first Open logged no migration:\n%s", logs)
	}
	if _, err := db.ApplyWorkspace(ctx, tandem.WorkspaceDoc{Name: "acme"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	applied := migrations()

	db, logs = open()
	defer db.Close()
	if strings.Contains(logs, "migration") {
		t.Errorf("second Open migrated again:\n%s", logs)
	}
	if n := migrations(); n != applied {
		t.Errorf("goose_db_version has %d rows after reopening, want %d", n, applied)
	}
	ws, err := db.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if ws.Version != 1 {
		t.Errorf("version after reopening = %d, want 1", ws.Version)
	}
	if err := db.Ready(ctx); err != nil {
		t.Error(err)
	}
}

// rawOpen opens the SQLite file at path directly, around the store.
func rawOpen(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// TestTwoHandlesShareFile runs writers of two DBs, as of two processes, on
// one file: write transactions must wait for each other (BEGIN IMMEDIATE and
// busy_timeout) rather than fail with SQLITE_BUSY.
func TestTwoHandlesShareFile(t *testing.T) {
	ctx := t.Context()
	first, path := openFile(t)
	second, err := store.Open(ctx, "sqlite:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()

	const perHandle, rounds = 4, 10
	var wg sync.WaitGroup
	for h, db := range []*store.DB{first, second} {
		for g := range perHandle {
			wg.Go(func() {
				for i := range rounds {
					doc := tandem.WorkspaceDoc{Name: "shared", Workflows: []tandem.Workflow{{Name: fmt.Sprintf("wf-%d-%d-%d", h, g, i)}}}
					if _, err := db.ApplyWorkspace(ctx, doc, tandem.AnyVersion); err != nil {
						t.Errorf("handle %d worker %d: %v", h, g, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	ws, err := first.GetWorkspace(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(2 * perHandle * rounds); ws.Version != want {
		t.Errorf("version %d, want %d", ws.Version, want)
	}
}
