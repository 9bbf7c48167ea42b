package store_test

import (
	"testing"

	"github.com/tandem-id/tandem/store"
	"github.com/tandem-id/tandem/store/storetest"
)

func TestSQLiteCIBA(t *testing.T) {
	storetest.RunCIBA(t, func(t *testing.T) storetest.CIBAStore {
		db, _ := openFile(t)
		return db
	})
}

func TestSQLiteMemoryCIBA(t *testing.T) {
	storetest.RunCIBA(t, func(t *testing.T) storetest.CIBAStore {
		db, err := store.Open(t.Context(), "sqlite::memory:", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
