package store_test

import (
	"testing"

	"github.com/tandem-id/tandem/store"
	"github.com/tandem-id/tandem/store/storetest"
)

func TestSQLiteVerifications(t *testing.T) {
	storetest.RunVerifications(t, func(t *testing.T) storetest.Store {
		db, _ := openFile(t)
		return db
	})
}

func TestSQLiteMemoryVerifications(t *testing.T) {
	storetest.RunVerifications(t, func(t *testing.T) storetest.Store {
		db, err := store.Open(t.Context(), "sqlite::memory:", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
