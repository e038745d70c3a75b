package auth

import (
	"database/sql"

	"citywatch/internal/sqlitedb"
)

// OpenDB opens (creating if needed) the metadata database auth and audit keep their tables in. See
// sqlitedb.Open for its settings.
func OpenDB(path string) (*sql.DB, error) { return sqlitedb.Open(path) }
