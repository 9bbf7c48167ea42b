package store_test

import (
	"testing"

	"github.com/tandem-id/tandem/store"
	"github.com/tandem-id/tandem/store/storetest"
)

func TestSQLiteOutbox(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) storetest.OutboxStore {
		db, _ := openFile(t)
		return db
	})
}

func TestSQLiteMemoryOutbox(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) storetest.OutboxStore {
		db, err := store.Open(t.Context(), "sqlite::memory:", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
