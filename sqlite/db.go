// Package sqlite is mnemo's embedded storage: a registry database for
// tenants and keys, and one database per tenant for its memories, relations
// and vectors. It uses modernc.org/sqlite, so the binary needs no cgo.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// db is one SQLite database with a single writer connection and a small
// read pool: SQLite allows one writer at a time, and giving it its own
// connection turns lock contention into queueing inside database/sql.
type db struct {
	path   string
	writer *sql.DB
	reader *sql.DB
}

// migration is one forward step of a schema; its index+1 is the version it
// produces, recorded in PRAGMA user_version.
type migration func(ctx context.Context, tx *sql.Tx) error

// openDB opens path, creating it if needed, and migrates it forward.
// synchronous=FULL makes every commit durable before a request is answered:
// a 2xx means the write survives a kill and a power loss.
func openDB(ctx context.Context, path string, readers int, migrations []migration) (*db, error) {
	dsn := func(extra string) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(FULL)", "foreign_keys(1)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		// The path is a URI path: '#', '?' and '%' in a directory name must
		// be escaped, or SQLite opens another file.
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode() + extra
	}
	writer, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxIdleTime(0)
	d := &db{path: path, writer: writer}
	if err := d.migrate(ctx, migrations); err != nil {
		writer.Close()
		return nil, err
	}
	reader, err := sql.Open("sqlite", dsn("&_pragma=query_only(1)"))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	d.reader = reader
	return d, nil
}

func (d *db) migrate(ctx context.Context, migrations []migration) error {
	tx, err := d.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", d.path, err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("migrate %s: read version: %w", d.path, err)
	}
	if version > len(migrations) {
		return fmt.Errorf("migrate %s: schema version %d is newer than this binary knows (%d)", d.path, version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if err := migrations[i](ctx, tx); err != nil {
			return fmt.Errorf("migrate %s to version %d: %w", d.path, i+1, err)
		}
	}
	if version < len(migrations) {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
			return fmt.Errorf("migrate %s: %w", d.path, err)
		}
	}
	return tx.Commit()
}

// execAll runs statements in order; a migration is usually just that.
func execAll(stmts ...string) migration {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%w in %q", err, s)
			}
		}
		return nil
	}
}

// write runs fn in a write transaction.
func (d *db) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func (d *db) close() error {
	var err error
	if d.reader != nil {
		err = d.reader.Close()
	}
	if e := d.writer.Close(); e != nil && err == nil {
		err = e
	}
	return err
}
