package store_test

import (
	"testing"

	"github.com/tandem-id/tandem/store"
	"github.com/tandem-id/tandem/store/storetest"
)

func TestSQLiteDevices(t *testing.T) {
	storetest.RunDevices(t, func(t *testing.T) storetest.DeviceStore {
		db, _ := openFile(t)
		return db
	})
}

func TestSQLiteMemoryDevices(t *testing.T) {
	storetest.RunDevices(t, func(t *testing.T) storetest.DeviceStore {
		db, err := store.Open(t.Context(), "sqlite::memory:", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
