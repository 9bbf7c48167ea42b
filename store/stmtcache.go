package store

import (
	"container/list"
	"context"
	"database/sql/driver"
	"fmt"
	"reflect"

	"modernc.org/sqlite"
)

// stmtCacheSize is how many prepared statements each connection keeps.
// The store's queries are a few dozen texts (the multi-row inserts add one
// text per row count), so the hot ones stay prepared.
const stmtCacheSize = 256

// How statements are reused.
//
// modernc.org/sqlite prepares (parses and plans) the SQL text again for
// every ExecContext and QueryContext on a connection; preparing costs more
// than running most of the store's statements. database/sql's own *sql.Stmt
// would need every query to be prepared up front and rebound to each
// transaction with Tx.StmtContext. Instead every connection the store opens
// is wrapped (stmtCacheConn) with a cache of prepared statements keyed by
// SQL text: a text is prepared the first time the connection runs it and
// reset and run again afterwards (the driver resets a statement and unbinds
// its text and blob arguments after each use). Statements are per
// connection, as SQLite's are, so the cache needs no locking: database/sql
// uses a connection from one goroutine at a time. A statement whose rows are
// still open is busy; running the same text again meanwhile prepares a
// one-off statement. SQLite re-prepares a cached statement by itself when
// the schema changes (sqlite3_prepare_v2).

// stmtCacheConnector opens SQLite connections wrapped in a statement cache.
type stmtCacheConnector struct {
	base driver.Connector
	size int
}

// newStmtCacheConnector returns a connector of the modernc.org/sqlite driver
// for dsn whose connections keep up to size prepared statements each.
func newStmtCacheConnector(dsn string, size int) (driver.Connector, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return &stmtCacheConnector{base: base, size: size}, nil
}

// sqliteConn is what the store needs of a driver connection; the
// modernc.org/sqlite connection implements all of it.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// Connect implements driver.Connector.
func (c *stmtCacheConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("sqlite connection %T lacks a context method", conn)
	}
	return &stmtCacheConn{sqliteConn: sc, size: c.size, stmts: map[string]*list.Element{}, lru: list.New()}, nil
}

// Driver implements driver.Connector.
func (c *stmtCacheConnector) Driver() driver.Driver { return c.base.Driver() }

// stmtCacheConn is a connection with a cache of prepared statements. Its
// methods are called by one goroutine at a time (see database/sql's
// driver.Conn contract).
type stmtCacheConn struct {
	sqliteConn
	size  int
	stmts map[string]*list.Element // SQL text → element of lru holding a *cachedStmt
	lru   *list.List               // most recently used first
}

// cachedStmt is a prepared statement of a connection's cache.
type cachedStmt struct {
	query string
	stmt  interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	busy bool // rows of it are open
}

// stmt returns the cached statement of query, preparing it when missing,
// or nil when the cached one is busy or the driver's statement cannot be
// cached (the caller then runs the query uncached).
func (c *stmtCacheConn) stmt(ctx context.Context, query string) (*cachedStmt, error) {
	if el, ok := c.stmts[query]; ok {
		cs := el.Value.(*cachedStmt)
		if cs.busy {
			return nil, nil
		}
		c.lru.MoveToFront(el)
		return cs, nil
	}
	ds, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	cs := &cachedStmt{query: query}
	var ok bool
	if cs.stmt, ok = ds.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}); !ok {
		ds.Close()
		return nil, nil
	}
	c.evict()
	c.stmts[query] = c.lru.PushFront(cs)
	return cs, nil
}

// evict closes least recently used statements that are not busy until
// there is room for one more.
func (c *stmtCacheConn) evict() {
	for el := c.lru.Back(); el != nil && c.lru.Len() >= c.size; {
		prev := el.Prev()
		if cs := el.Value.(*cachedStmt); !cs.busy {
			c.lru.Remove(el)
			delete(c.stmts, cs.query)
			cs.stmt.Close()
		}
		el = prev
	}
}

// ExecContext implements driver.ExecerContext with a cached statement.
func (c *stmtCacheConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	return cs.stmt.ExecContext(ctx, args)
}

// QueryContext implements driver.QueryerContext with a cached statement,
// which stays busy until the rows are closed.
func (c *stmtCacheConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs}, nil
}

// Close closes the cached statements and the connection.
func (c *stmtCacheConn) Close() error {
	for el := c.lru.Front(); el != nil; el = el.Next() {
		el.Value.(*cachedStmt).stmt.Close()
	}
	c.lru.Init()
	clear(c.stmts)
	return c.sqliteConn.Close()
}

// cachedRows are the rows of a cached statement: closing them frees the
// statement for its next use. The column type methods are the driver's.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.cs.busy = false
	return err
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(index int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(index)
	}
	return ""
}

func (r *cachedRows) ColumnTypeLength(index int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(index)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypeNullable(index int) (bool, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(index)
	}
	return false, false
}

func (r *cachedRows) ColumnTypePrecisionScale(index int) (int64, int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(index)
	}
	return 0, 0, false
}

func (r *cachedRows) ColumnTypeScanType(index int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(index)
	}
	return reflect.TypeFor[any]()
}
