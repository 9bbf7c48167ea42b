package store_test

import (
	"testing"

	"github.com/tandem-id/tandem/store"
	"github.com/tandem-id/tandem/store/storetest"
)

func TestSQLiteKeys(t *testing.T) {
	storetest.RunKeys(t, func(t *testing.T) storetest.KeyStore {
		db, _ := openFile(t)
		return db
	})
}

func TestSQLiteMemoryKeys(t *testing.T) {
	storetest.RunKeys(t, func(t *testing.T) storetest.KeyStore {
		db, err := store.Open(t.Context(), "sqlite::memory:", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
