package sqlite

import (
	"context"
	"database/sql"
	"os"

	"github.com/mnemohq/mnemo"
)

// Stats returns the counters and the bytes the tenant's files take on disk.
func (s *Store) Stats(ctx context.Context) (mnemo.TenantStats, error) {
	st, err := counters(ctx, s.db.reader)
	if err != nil {
		return st, err
	}
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(s.db.path + suffix); err == nil {
			st.StorageBytes += fi.Size()
		}
	}
	return st, nil
}

// counters reads the counters the store's triggers keep, in q's view (a
// write transaction sees its own changes).
func counters(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (mnemo.TenantStats, error) {
	var st mnemo.TenantStats
	rows, err := q.QueryContext(ctx, `SELECT name, value FROM counters`)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return st, err
		}
		switch name {
		case "memories":
			st.Memories = v
		case "relations":
			st.Relations = v
		case "vectors":
			st.Vectors = v
		case "bytes":
			st.StoredBytes = v
		}
	}
	return st, rows.Err()
}
