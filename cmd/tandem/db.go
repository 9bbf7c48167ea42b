package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/store"
)

// openDB opens the database named by dsn for serve, demo and apply. Its
// error names the address without its password.
func openDB(ctx context.Context, dsn string, logger *slog.Logger) (*store.DB, error) {
	db, err := store.Open(ctx, dsn, logger)
	if err == nil {
		return db, nil
	}
	msg := tandem.ErrorMessageOr(err)
	// The store refuses PostgreSQL addresses for now; say so in the words
	// operators look for. Remove this once the store supports PostgreSQL.
	if isPostgres(dsn) && tandem.ErrorCode(err) == tandem.EINVALID {
		msg = "PostgreSQL is not supported yet; use -db sqlite:PATH"
	}
	return nil, fmt.Errorf("open database %s: %s", redactDSN(dsn), msg)
}

func isPostgres(dsn string) bool {
	lower := strings.ToLower(dsn)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}
