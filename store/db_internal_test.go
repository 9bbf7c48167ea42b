package store

import (
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
)

func openTest(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPragmas(t *testing.T) {
	file := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "tandem.db"))
	memory := openTest(t, "sqlite::memory:")
	for _, tc := range []struct {
		name string
		db   *DB
		want map[string]string
	}{
		{"FileWriter", file, map[string]string{"journal_mode": "wal", "synchronous": "2", "busy_timeout": "10000", "foreign_keys": "1", "query_only": "0"}},
		{"FileReader", file, map[string]string{"journal_mode": "wal", "busy_timeout": "10000", "foreign_keys": "1", "query_only": "1"}},
		{"Memory", memory, map[string]string{"journal_mode": "memory", "synchronous": "2", "busy_timeout": "10000", "foreign_keys": "1", "query_only": "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.db.writer
			if tc.name == "FileReader" {
				h = tc.db.reader
			}
			got := map[string]string{}
			for name := range tc.want {
				var v string
				if err := h.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
					t.Fatal(err)
				}
				got[name] = v
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pragmas (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReaderCannotWrite(t *testing.T) {
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "tandem.db"))
	if _, err := db.reader.ExecContext(t.Context(), `INSERT INTO settings (key, value) VALUES ('k', X'00')`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// TestMigrationDialects checks that every dialect folder holds the same
// migration files, so that the engines keep one schema history.
func TestMigrationDialects(t *testing.T) {
	names := func(dir string) []string {
		t.Helper()
		files, err := fs.Glob(migrationFiles, "migrations/"+dir+"/*.sql")
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range files {
			files[i] = filepath.Base(f)
		}
		return files
	}
	sqlite := names("sqlite")
	if len(sqlite) == 0 {
		t.Fatal("no SQLite migrations embedded")
	}
	if diff := cmp.Diff(sqlite, names("postgres")); diff != "" {
		t.Errorf("migration files (-sqlite +postgres):\n%s", diff)
	}
}

// TestDeleteRemovesRows checks the cascade at the table level: no row of a
// deleted workspace is left behind.
func TestDeleteRemovesRows(t *testing.T) {
	ctx := t.Context()
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "tandem.db"))
	doc := tandem.WorkspaceDoc{
		Name:         "acme",
		Applications: []tandem.Application{{Name: "app", VerificationWay: tandem.WayWeb, Workflow: "wf"}},
		Workflows:    []tandem.Workflow{{Name: "wf"}},
	}
	if _, err := db.ApplyWorkspace(ctx, doc, 0); err != nil {
		t.Fatal(err)
	}
	app, err := db.GetApplication(ctx, "acme", "app")
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_900_000_000_000)
	for _, h := range []string{"h1", "h2"} {
		if err := db.PutSecret(ctx, app.ID, "cid", []byte(h), now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteWorkspace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"workspaces", "applications", "workflows", "app_secrets"} {
		var n int
		if err := db.reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s has %d rows after the delete", table, n)
		}
	}
}

// TestPutSecretPrunesExpired checks that secrets expired at the time of a
// rotation are deleted rather than kept forever.
func TestPutSecretPrunesExpired(t *testing.T) {
	ctx := t.Context()
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "tandem.db"))
	doc := tandem.WorkspaceDoc{Name: "acme", Applications: []tandem.Application{{Name: "app", VerificationWay: tandem.WayWeb, Workflow: "wf"}}}
	if _, err := db.ApplyWorkspace(ctx, doc, 0); err != nil {
		t.Fatal(err)
	}
	app, err := db.GetApplication(ctx, "acme", "app")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(1_900_000_000_000)
	for i := range 5 {
		now := t0.Add(time.Duration(i) * time.Hour)
		if err := db.PutSecret(ctx, app.ID, "cid", []byte{byte(i + 1)}, now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM app_secrets").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 { // the newest and the one in its grace period
		t.Errorf("%d secrets stored, want 2", n)
	}
}
