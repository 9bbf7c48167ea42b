// Package store is the database/sql store of Tandem: it implements the
// domain's storage interfaces on SQLite (modernc.org/sqlite, pure Go) now and
// is written so that PostgreSQL can use the same queries later. Queries use
// $N placeholders and portable SQL only; times are stored as Unix
// milliseconds and documents as JSON text. The schema is kept by goose
// migrations, one folder per dialect under migrations/.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/tandem-id/tandem"
)

// migrationFiles holds the schema migrations of every dialect, each in its
// own folder: migrations/sqlite, migrations/postgres. Both folders hold the
// same versions.
//
//go:embed migrations/*/*.sql
var migrationFiles embed.FS

// readerConns is the size of the SQLite read pool. Reads run in parallel with
// the one writer thanks to WAL.
const readerConns = 4

// DB is Tandem's database. It is safe for concurrent use.
//
// On SQLite every write goes through a single connection and begins with
// BEGIN IMMEDIATE, so writers never deadlock or fail to upgrade a read lock;
// reads use a separate pool of read-only connections.
type DB struct {
	// Now is the clock used for created_at and updated_at. Open sets it to
	// time.Now; tests may replace it before the DB is used.
	Now func() time.Time

	writer *sql.DB
	reader *sql.DB // the same handle as writer for an in-memory database
	// migrations checks for pending migrations on the reader, for Ready.
	migrations *goose.Provider
	logger     *slog.Logger

	// The group commit of writes, see groupcommit.go.
	writes     chan *writeReq // to the writer goroutine
	closed     chan struct{}  // closed by Close
	writerDone chan struct{}  // closed when the writer goroutine ends
	closeOnce  sync.Once
	committed  atomic.Uint64 // writes committed
	commits    atomic.Uint64 // COMMITs that succeeded
}

// Open opens the database named by dsn and migrates its schema up.
//
// The accepted form is sqlite:PATH, where PATH is a file that is created when
// missing, or :memory: for a private in-memory database that lives until
// Close (for tests). PATH cannot carry query parameters: the store sets the
// pragmas it needs itself. postgres:// and postgresql:// addresses are
// recognised but refused for now. Malformed or unsupported addresses return
// an EINVALID error whose message never repeats the address, as it may hold
// a password. A nil logger discards logs.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	path, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db := &DB{Now: time.Now, logger: logger, writes: make(chan *writeReq), closed: make(chan struct{}), writerDone: make(chan struct{})}
	if err := db.openSQLite(ctx, path); err != nil {
		close(db.writerDone)
		db.Close()
		return nil, err
	}
	go db.runWriter()
	return db, nil
}

// parseDSN returns the SQLite path of dsn, or an EINVALID error.
func parseDSN(dsn string) (string, error) {
	lower := strings.ToLower(dsn)
	switch {
	case strings.HasPrefix(lower, "sqlite:"):
		path := dsn[len("sqlite:"):]
		if path == "" {
			return "", tandem.Errorf(tandem.EINVALID, "the database address sqlite:PATH needs a PATH")
		}
		if strings.ContainsRune(path, '?') {
			return "", tandem.Errorf(tandem.EINVALID, "the database address sqlite:PATH takes no query parameters")
		}
		return path, nil
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return "", tandem.Errorf(tandem.EINVALID, "PostgreSQL support is not available yet; use sqlite:PATH")
	default:
		return "", tandem.Errorf(tandem.EINVALID, "unsupported database address; use sqlite:PATH (or :memory: as PATH), or postgres://... once PostgreSQL is supported")
	}
}

// openSQLite opens the writer and the readers of the SQLite database at path
// and migrates it.
func (db *DB) openSQLite(ctx context.Context, path string) error {
	common := url.Values{}
	common.Add("_pragma", "busy_timeout(10000)")
	common.Add("_pragma", "foreign_keys(ON)")
	common.Add("_pragma", "synchronous(FULL)")
	common.Set("_txlock", "immediate")

	memory := path == ":memory:"
	var writerDSN, readerDSN string
	if memory {
		// One private connection serves reads and writes; the database
		// lives as long as that connection, which the pool never retires.
		writerDSN = ":memory:?" + common.Encode()
	} else {
		w := url.Values{"_pragma": {"journal_mode(WAL)"}}
		r := url.Values{"_pragma": {"query_only(ON)"}}
		for k, vs := range common {
			w[k] = append(w[k], vs...)
			r[k] = append(r[k], vs...)
		}
		writerDSN = path + "?" + w.Encode()
		readerDSN = path + "?" + r.Encode()
	}

	var err error
	if db.writer, err = openCached(writerDSN); err != nil {
		return fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	db.writer.SetMaxOpenConns(1)
	db.writer.SetMaxIdleConns(1)
	db.writer.SetConnMaxLifetime(0)
	db.writer.SetConnMaxIdleTime(0)
	if err := db.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	if err := db.migrate(ctx, goose.DialectSQLite3, "sqlite"); err != nil {
		return fmt.Errorf("migrate sqlite database %s: %w", path, err)
	}

	if memory {
		db.reader = db.writer
	} else {
		if db.reader, err = openCached(readerDSN); err != nil {
			return fmt.Errorf("open sqlite database %s: %w", path, err)
		}
		db.reader.SetMaxOpenConns(readerConns)
		db.reader.SetMaxIdleConns(readerConns)
		if err := db.reader.PingContext(ctx); err != nil {
			return fmt.Errorf("open sqlite database %s: %w", path, err)
		}
	}
	if db.migrations, err = newProvider(goose.DialectSQLite3, db.reader, "sqlite"); err != nil {
		return err
	}
	return nil
}

// openCached returns a handle of the SQLite database dsn whose connections
// keep their prepared statements (see stmtcache.go).
func openCached(dsn string) (*sql.DB, error) {
	c, err := newStmtCacheConnector(dsn, stmtCacheSize)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// newProvider returns a goose provider for the migrations of one dialect.
// Goose's global registry of Go migrations is ignored: the schema is exactly
// the embedded files.
func newProvider(dialect goose.Dialect, db *sql.DB, folder string) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations/"+folder)
	if err != nil {
		return nil, fmt.Errorf("migrations of %s: %w", folder, err)
	}
	p, err := goose.NewProvider(dialect, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations of %s: %w", folder, err)
	}
	return p, nil
}

// migrate applies the pending migrations through the writer and logs each.
func (db *DB) migrate(ctx context.Context, dialect goose.Dialect, folder string) error {
	p, err := newProvider(dialect, db.writer, folder)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		if r.Error == nil {
			db.logger.InfoContext(ctx, "database migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
		}
	}
	return err
}

// Ready reports whether the database can serve requests: it answers a ping
// and no migration is pending. It returns an EUNAVAILABLE error with the
// message "database migrations pending" when the schema is behind the
// binary, and a wrapped driver error when the database cannot be reached.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	pending, err := db.migrations.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("check database migrations: %w", err)
	}
	if pending {
		return tandem.Errorf(tandem.EUNAVAILABLE, "database migrations pending")
	}
	return nil
}

// Close closes the database. A write batch that runs is finished first;
// writes that did not start fail. Calls after the first do nothing.
func (db *DB) Close() error {
	first := false
	db.closeOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	close(db.closed)
	<-db.writerDone
	var errs []error
	if db.reader != nil && db.reader != db.writer {
		errs = append(errs, db.reader.Close())
	}
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	return errors.Join(errs...)
}

// newID returns a random identifier: 16 bytes in hex.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// millis converts t to the stored form of times.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis converts a stored time back, in UTC.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
