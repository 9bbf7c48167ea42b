package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// Group commit.
//
// SQLite has one writer, and with synchronous=FULL every COMMIT waits for
// an fsync. Writes therefore go through one goroutine (runWriter), which
// takes every write that is waiting when it becomes free (at most
// maxBatch) and runs them in one transaction: BEGIN IMMEDIATE, then each
// write's function inside its own SAVEPOINT, then one COMMIT, one fsync
// for the whole batch. It never waits for more writes to come: a write
// alone runs at once, and writes that arrive while a batch commits form
// the next batch.
//
// Each write keeps the contract of a transaction of its own:
//   - its function sees the effects of the writes before it in the batch,
//     as it would have had they committed before it;
//   - its function's error (or panic) rolls back to its savepoint, so it
//     writes nothing and the other writes of the batch are unaffected; the
//     caller gets that error (or the panic, raised again in its goroutine);
//   - it returns only once the batch's COMMIT is durable, and it returns
//     the COMMIT's error if the COMMIT fails (then nothing of the batch is
//     written);
//   - a caller whose context ends before its function starts is dropped
//     and gets the context's error; once its function started, the write
//     runs to its end and the caller waits for its outcome, so an error
//     never hides a committed write. Statements run with a context that is
//     not cancelled (context.WithoutCancel of the caller's): interrupting a
//     statement would make SQLite roll back the whole batch.
//
// One difference with separate transactions: a write that conflicts with
// an earlier write of the same batch (a stale version, a used token) fails
// even when that earlier write is then lost with a failed COMMIT. Failing
// closed is what those checks are for.
//
// A function must not call db.write or db.read: the writer goroutine would
// wait for itself. write detects a call from inside a write by its context
// and refuses it.

// WriteStats counts the writes of a DB since it was opened.
type WriteStats struct {
	// Writes is the number of write transactions that committed.
	Writes uint64
	// Commits is the number of COMMITs that succeeded: durable
	// transactions, each one fsync with synchronous=FULL. Writes/Commits
	// is the mean size of a batch.
	Commits uint64
}

// WriteStats returns the counts of committed writes and COMMITs so far.
func (db *DB) WriteStats() WriteStats {
	return WriteStats{Writes: db.committed.Load(), Commits: db.commits.Load()}
}

// maxBatch is the most writes one transaction (one COMMIT) holds.
const maxBatch = 64

// savepoint is the name of the savepoint around each write of a batch.
const savepoint = "tandem_write"

// errClosed is returned by writes after Close.
var errClosed = errors.New("store: the database is closed")

// errNested is returned by a write called from inside a write's function.
var errNested = errors.New("store: a write transaction cannot start another read or write")

// inWrite is the context key that marks the context of a write's function.
type inWrite struct{}

// States of a writeReq.
const (
	reqQueued    int32 = iota // sent to the writer, not started
	reqStarted                // its function runs or ran
	reqAbandoned              // its caller's context ended before it started
)

// writeReq is one caller's write.
type writeReq struct {
	ctx   context.Context
	fn    func(ctx context.Context, tx *sql.Tx) error
	state atomic.Int32
	done  chan writeResult // buffered: the writer never waits for the caller
}

// writeResult is the outcome of a write.
type writeResult struct {
	err      error
	panicked bool
	panicVal any
}

// write runs fn in a write transaction and returns once the transaction is
// committed (nil) or rolled back (fn's error, or the error that prevented
// the commit). fn gets the context to use for its statements. On SQLite the
// transaction is part of a batch of writes (see above); fn must not use
// db.writer or db.reader itself.
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if ctx.Value(inWrite{}) != nil {
		return errNested
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan writeResult, 1)}
	select {
	case db.writes <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.closed:
		return errClosed
	}
	var res writeResult
	select {
	case res = <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err()
		}
		res = <-r.done
	}
	if res.panicked {
		panic(res.panicVal)
	}
	return res.err
}

// read runs fn in a read-only transaction, so that it sees one snapshot.
func (db *DB) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if ctx.Value(inWrite{}) != nil {
		return errNested
	}
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// runWriter runs the batches of writes until Close.
func (db *DB) runWriter() {
	defer close(db.writerDone)
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case r := <-db.writes:
			batch = append(batch[:0], r)
		case <-db.closed:
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-db.writes:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		db.runBatch(batch)
		clear(batch)
	}
}

// runBatch runs the writes of batch in one transaction and reports to each
// its outcome.
func (db *DB) runBatch(batch []*writeReq) {
	// The batch's own context: no caller's end may interrupt it.
	bg := context.Background()
	tx, err := db.writer.BeginTx(bg, nil)
	if err != nil {
		for _, r := range batch {
			if r.state.CompareAndSwap(reqQueued, reqStarted) {
				r.done <- writeResult{err: err}
			}
		}
		return
	}
	alone := len(batch) == 1
	var ran []*writeReq // written, to commit
	for i, r := range batch {
		if !r.state.CompareAndSwap(reqQueued, reqStarted) {
			continue // its caller left
		}
		if err := r.ctx.Err(); err != nil {
			r.done <- writeResult{err: err}
			continue
		}
		if !alone {
			if _, err := tx.ExecContext(bg, "SAVEPOINT "+savepoint); err != nil {
				db.abortBatch(tx, ran, r, writeResult{err: err}, batch[i+1:])
				return
			}
		}
		res := db.runWrite(r, tx)
		switch {
		case res.err == nil && !res.panicked && alone:
			ran = append(ran, r)
		case res.err == nil && !res.panicked:
			if _, err := tx.ExecContext(bg, "RELEASE "+savepoint); err != nil {
				db.abortBatch(tx, ran, r, writeResult{err: err}, batch[i+1:])
				return
			}
			ran = append(ran, r)
		case alone:
			tx.Rollback()
			r.done <- res
			return
		default:
			// ROLLBACK TO keeps the savepoint open; RELEASE ends it. Both
			// fail when SQLite rolled back the whole transaction after a
			// grave error (disk full, I/O error).
			if _, err := tx.ExecContext(bg, "ROLLBACK TO "+savepoint); err != nil {
				db.abortBatch(tx, ran, r, res, batch[i+1:])
				return
			}
			if _, err := tx.ExecContext(bg, "RELEASE "+savepoint); err != nil {
				db.abortBatch(tx, ran, r, res, batch[i+1:])
				return
			}
			r.done <- res
		}
	}
	if len(ran) == 0 {
		tx.Rollback()
		return
	}
	err = tx.Commit()
	if err == nil {
		db.commits.Add(1)
		db.committed.Add(uint64(len(ran)))
	}
	for _, r := range ran {
		r.done <- writeResult{err: err}
	}
}

// abortBatch rolls back tx after the write failed gives failed with res and
// the savepoints cannot be trusted: the writes of ran are lost with it and
// fail, and the writes of rest, which did not start, run in a new batch.
func (db *DB) abortBatch(tx *sql.Tx, ran []*writeReq, failed *writeReq, res writeResult, rest []*writeReq) {
	tx.Rollback()
	cause := res.err
	if res.panicked {
		cause = fmt.Errorf("panic: %v", res.panicVal)
	}
	for _, r := range ran {
		r.done <- writeResult{err: fmt.Errorf("store: write rolled back with its batch after another write failed: %w", cause)}
	}
	failed.done <- res
	if len(rest) > 0 {
		db.runBatch(rest)
	}
}

// runWrite runs r's function in tx with a context that marks it as inside
// a write and that the caller's end does not cancel; a panic is logged with
// its stack and recovered into the result, to be raised again by the
// caller.
func (db *DB) runWrite(r *writeReq, tx *sql.Tx) (res writeResult) {
	defer func() {
		if v := recover(); v != nil {
			db.logger.Error("store: a write transaction panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			res = writeResult{panicked: true, panicVal: v}
		}
	}()
	ctx := context.WithValue(context.WithoutCancel(r.ctx), inWrite{}, true)
	return writeResult{err: r.fn(ctx, tx)}
}
