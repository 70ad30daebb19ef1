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
	st.StorageBytes = s.fileBytes()
	return st, nil
}

// fileBytes is what the tenant's files take on disk.
func (s *Store) fileBytes() int64 {
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(s.db.path + suffix); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// counters reads the counters the store's triggers keep, in q's view (a
// write transaction sees its own changes), in one row.
func counters(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (mnemo.TenantStats, error) {
	var st mnemo.TenantStats
	err := q.QueryRowContext(ctx, `SELECT
		(SELECT value FROM counters WHERE name = 'memories'), (SELECT value FROM counters WHERE name = 'relations'),
		(SELECT value FROM counters WHERE name = 'vectors'), (SELECT value FROM counters WHERE name = 'bytes')`).
		Scan(&st.Memories, &st.Relations, &st.Vectors, &st.StoredBytes)
	return st, err
}
