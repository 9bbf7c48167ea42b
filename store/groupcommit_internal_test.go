package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"
)

// putSetting is a write that stores key in the settings table.
func putSetting(key string) func(ctx context.Context, tx *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2)`, key, []byte(key))
		return err
	}
}

// settingKeys returns the stored setting keys, sorted.
func settingKeys(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.reader.QueryContext(context.Background(), `SELECT key FROM settings ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := []string{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// openBubbled opens a file database inside a synctest bubble; the caller
// closes it before the bubble ends.
func openBubbled(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "tandem.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// blockWriter starts a write whose function holds the writer goroutine
// until the returned function is called, and waits until it holds it.
// The returned function waits for that write's outcome.
func blockWriter(t *testing.T, db *DB, key string) (release func() error) {
	t.Helper()
	hold := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- db.write(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			<-hold
			return putSetting(key)(ctx, tx)
		})
	}()
	synctest.Wait()
	return func() error {
		close(hold)
		return <-result
	}
}

// writeAsync starts db.write in a goroutine and returns its outcome's
// channel.
func writeAsync(ctx context.Context, db *DB, fn func(ctx context.Context, tx *sql.Tx) error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- db.write(ctx, fn) }()
	return ch
}

// TestGroupCommitBatch queues writes behind a held writer: they run as one
// batch with one COMMIT, and the one that fails (or panics) writes nothing
// and changes nothing for the others.
func TestGroupCommitBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openBubbled(t)
		defer db.Close()
		release := blockWriter(t, db, "first")
		before := db.WriteStats()

		errFail := errors.New("refused")
		var results []<-chan error
		results = append(results, writeAsync(t.Context(), db, putSetting("a")))
		synctest.Wait()
		results = append(results, writeAsync(t.Context(), db, func(ctx context.Context, tx *sql.Tx) error {
			if err := putSetting("failed")(ctx, tx); err != nil {
				return err
			}
			return errFail
		}))
		synctest.Wait()
		results = append(results, writeAsync(t.Context(), db, putSetting("b")))
		synctest.Wait()
		// A write that sees the earlier writes of its batch: "a" exists.
		results = append(results, writeAsync(t.Context(), db, putSetting("a")))
		synctest.Wait()
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			db.write(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
				if err := putSetting("panicked")(ctx, tx); err != nil {
					return err
				}
				panic("write panicked")
			})
		}()
		synctest.Wait()
		results = append(results, writeAsync(t.Context(), db, putSetting("c")))
		synctest.Wait()

		if err := release(); err != nil {
			t.Fatalf("held write: %v", err)
		}
		var got []string
		for _, ch := range results {
			err := <-ch
			switch {
			case err == nil:
				got = append(got, "ok")
			case errors.Is(err, errFail):
				got = append(got, "refused")
			default:
				got = append(got, "error")
			}
		}
		if diff := cmp.Diff([]string{"ok", "refused", "ok", "error", "ok"}, got); diff != "" {
			t.Errorf("outcomes (-want +got):\n%s", diff)
		}
		if p := <-panicked; p != "write panicked" {
			t.Errorf("panic = %v, want the write's panic", p)
		}
		if diff := cmp.Diff([]string{"a", "b", "c", "first"}, settingKeys(t, db)); diff != "" {
			t.Errorf("stored keys (-want +got):\n%s", diff)
		}
		st := db.WriteStats()
		if got, want := (WriteStats{Writes: st.Writes - before.Writes, Commits: st.Commits - before.Commits}), (WriteStats{Writes: 4, Commits: 2}); got != want {
			t.Errorf("stats since the held write = %+v, want %+v (the held write, then one batch of three)", got, want)
		}
	})
}

// TestGroupCommitCommitError makes the batch's COMMIT fail (a deferred
// foreign key left dangling): every write of the batch gets the COMMIT's
// error and nothing of it is stored, while a write that failed by itself
// keeps its own error.
func TestGroupCommitCommitError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openBubbled(t)
		defer db.Close()
		for _, q := range []string{
			`CREATE TABLE test_parent (id INTEGER PRIMARY KEY)`,
			`CREATE TABLE test_child (parent INTEGER REFERENCES test_parent (id) DEFERRABLE INITIALLY DEFERRED)`,
		} {
			if _, err := db.writer.ExecContext(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
		release := blockWriter(t, db, "first")
		ok := writeAsync(t.Context(), db, putSetting("a"))
		synctest.Wait()
		errFail := errors.New("refused")
		failed := writeAsync(t.Context(), db, func(context.Context, *sql.Tx) error { return errFail })
		synctest.Wait()
		dangling := writeAsync(t.Context(), db, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO test_child (parent) VALUES (42)`)
			return err
		})
		synctest.Wait()
		if err := release(); err != nil {
			t.Fatal(err)
		}
		errOK, errDangling := <-ok, <-dangling
		if errOK == nil || errDangling == nil || errOK.Error() != errDangling.Error() {
			t.Errorf("errors = %v and %v, want the same COMMIT error", errOK, errDangling)
		}
		if err := <-failed; !errors.Is(err, errFail) {
			t.Errorf("failed write: %v, want its own error", err)
		}
		if diff := cmp.Diff([]string{"first"}, settingKeys(t, db)); diff != "" {
			t.Errorf("stored keys (-want +got):\n%s", diff)
		}
		// The writer goes on with the next writes.
		if err := db.write(t.Context(), putSetting("after")); err != nil {
			t.Fatalf("write after the failed commit: %v", err)
		}
		if diff := cmp.Diff([]string{"after", "first"}, settingKeys(t, db)); diff != "" {
			t.Errorf("stored keys (-want +got):\n%s", diff)
		}
	})
}

// TestGroupCommitCancel checks that a caller whose context ends before its
// write starts gets the context's error at once and that its write never
// runs, whether it waits to be taken by the writer or waits in a batch
// behind another write; and that a write that started runs to its end
// even when its caller's context ends meanwhile.
func TestGroupCommitCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openBubbled(t)
		defer db.Close()
		release := blockWriter(t, db, "first")

		// Waiting to be taken by the writer.
		ctx1, cancel1 := context.WithCancel(t.Context())
		waiting := writeAsync(ctx1, db, putSetting("waiting"))
		synctest.Wait()
		cancel1()
		if err := <-waiting; !errors.Is(err, context.Canceled) {
			t.Errorf("write cancelled while waiting: %v", err)
		}

		// In a batch, behind a write that holds the writer.
		hold := make(chan struct{})
		holder := writeAsync(t.Context(), db, func(ctx context.Context, tx *sql.Tx) error {
			<-hold
			return putSetting("holder")(ctx, tx)
		})
		synctest.Wait()
		ctx2, cancel2 := context.WithCancel(t.Context())
		queued := writeAsync(ctx2, db, putSetting("queued"))
		synctest.Wait()
		// A started write whose caller's context ends in the middle.
		ctx3, cancel3 := context.WithCancel(t.Context())
		started := writeAsync(ctx3, db, func(ctx context.Context, tx *sql.Tx) error {
			if err := putSetting("started-1")(ctx, tx); err != nil {
				return err
			}
			cancel3()
			return putSetting("started-2")(ctx, tx)
		})
		synctest.Wait()
		if err := release(); err != nil { // the batch [holder, queued, started] begins
			t.Fatal(err)
		}
		synctest.Wait() // holder holds the writer
		cancel2()
		if err := <-queued; !errors.Is(err, context.Canceled) {
			t.Errorf("write cancelled in its batch: %v", err)
		}
		close(hold)
		if err := <-holder; err != nil {
			t.Errorf("holder: %v", err)
		}
		if err := <-started; err != nil {
			t.Errorf("started write whose caller's context ended: %v, want it committed", err)
		}
		if diff := cmp.Diff([]string{"first", "holder", "started-1", "started-2"}, settingKeys(t, db)); diff != "" {
			t.Errorf("stored keys (-want +got):\n%s", diff)
		}
	})
}

// TestGroupCommitConcurrent runs many writes from many goroutines, a third
// of them failing, on a file and in memory: every write that succeeded is
// stored, no write that failed is, and the counts add up.
func TestGroupCommitConcurrent(t *testing.T) {
	for _, tc := range []struct{ name, dsn string }{
		{"File", "sqlite:" + filepath.Join(t.TempDir(), "tandem.db")},
		{"Memory", "sqlite::memory:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, tc.dsn)
			before := db.WriteStats()
			const workers, each = 8, 25
			var mu sync.Mutex
			want := []string{}
			var wg sync.WaitGroup
			errs := make(chan error, workers*each)
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						key := fmt.Sprintf("k-%d-%03d", w, i)
						fail := (w+i)%3 == 0
						err := db.write(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
							if err := putSetting(key)(ctx, tx); err != nil {
								return err
							}
							if fail {
								return errors.New("refused")
							}
							return nil
						})
						switch {
						case fail && err == nil:
							errs <- fmt.Errorf("%s: failing write succeeded", key)
						case !fail && err != nil:
							errs <- fmt.Errorf("%s: %v", key, err)
						case !fail:
							mu.Lock()
							want = append(want, key)
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			sort.Strings(want)
			if diff := cmp.Diff(want, settingKeys(t, db)); diff != "" {
				t.Errorf("stored keys (-want +got):\n%s", diff)
			}
			st := db.WriteStats()
			if got := st.Writes - before.Writes; got != uint64(len(want)) {
				t.Errorf("committed writes = %d, want %d", got, len(want))
			}
			if c := st.Commits - before.Commits; c == 0 || c > st.Writes-before.Writes {
				t.Errorf("commits = %d for %d writes", c, st.Writes-before.Writes)
			}
		})
	}
}

// TestWriteNestedAndClosed checks the refusals: a read or write from
// inside a write, and a write after Close.
func TestWriteNestedAndClosed(t *testing.T) {
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "tandem.db"))
	var nestedWrite, nestedRead error
	err := db.write(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
		nestedWrite = db.write(ctx, putSetting("inner"))
		nestedRead = db.read(ctx, func(*sql.Tx) error { return nil })
		return putSetting("outer")(ctx, tx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(nestedWrite, errNested) || !errors.Is(nestedRead, errNested) {
		t.Errorf("nested write: %v, nested read: %v; want both refused", nestedWrite, nestedRead)
	}
	if diff := cmp.Diff([]string{"outer"}, settingKeys(t, db)); diff != "" {
		t.Errorf("stored keys (-want +got):\n%s", diff)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.write(t.Context(), putSetting("late")); !errors.Is(err, errClosed) {
		t.Errorf("write after Close: %v, want errClosed", err)
	}
}
