// Package sqlite is mnemo's embedded storage: a registry database for
// tenants and keys, and one database per tenant for its memories, relations
// and vectors. It uses modernc.org/sqlite, so the binary needs no cgo.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/mnemohq/mnemo"
)

// db is one SQLite database with a single writer connection and a small
// read pool: SQLite allows one writer at a time, and giving it its own
// connection turns lock contention into queueing inside database/sql.
// Both keep their statements prepared (see stmts).
type db struct {
	path   string
	writer *stmts
	reader *stmts

	wmu        sync.Mutex
	queue      []*pendingWrite // writes waiting for a transaction
	committing bool            // a write is committing the queue

	disk atomic.Pointer[Disk] // tells a full disk apart (see Disk.check); nil: none watched
}

// stmts is a connection pool that keeps the statements it runs prepared,
// by their SQL. Unprepared, SQLite parses every statement anew for each
// query: that was a third of a recall's CPU. The cache is bounded, since
// filters build SQL of many shapes; past the bound statements run
// unprepared.
type stmts struct {
	*sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
	// damaged, when set, hears of an error that says the file is damaged
	// (see isCorrupt), so that the pool takes the store out of service,
	// and returns the error to answer with instead.
	damaged func(error) error
}

// check passes err to c.damaged when it says the file is damaged, and
// returns what to answer with.
func (c *stmts) check(err error) error {
	if err != nil && c.damaged != nil && isCorrupt(err) {
		return c.damaged(err)
	}
	return err
}

const maxPrepared = 64

func newStmts(d *sql.DB) *stmts { return &stmts{DB: d, m: map[string]*sql.Stmt{}} }

// lookup returns the prepared statement of q, if there is one.
func (c *stmts) lookup(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

// prepared returns the prepared statement of q, preparing it on first use,
// or nil past the bound. It takes a connection of the pool, so it must not
// be called while this goroutine holds one that the pool needs.
func (c *stmts) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[q]
	full := len(c.m) >= maxPrepared
	c.mu.Unlock()
	if ok || full {
		return st, nil
	}
	// Not under the lock: preparing waits for a connection, and whoever
	// holds one may need the lock.
	st, err := c.DB.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.m[q]; ok {
		st.Close() // prepared meanwhile by another request
		return cur, nil
	}
	c.m[q] = st
	return st, nil
}

// QueryContext runs q prepared.
func (c *stmts) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := c.prepared(ctx, q)
	if err != nil || st == nil {
		rows, err := c.DB.QueryContext(ctx, q, args...)
		return rows, c.check(err)
	}
	rows, err := st.QueryContext(ctx, args...)
	return rows, c.check(err)
}

// QueryRowContext runs q prepared.
func (c *stmts) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := c.prepared(ctx, q)
	var row *sql.Row
	if err != nil || st == nil {
		row = c.DB.QueryRowContext(ctx, q, args...)
	} else {
		row = st.QueryRowContext(ctx, args...)
	}
	c.check(row.Err())
	return row
}

// Close closes the prepared statements, then the pool.
func (c *stmts) Close() error {
	c.mu.Lock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
	c.mu.Unlock()
	return c.DB.Close()
}

// txn is a write transaction that runs its statements prepared on the
// writer connection, under a context of its own (see db.write). The
// transaction holds the writer's only connection, so a statement not
// prepared yet runs unprepared this once, and is prepared when the
// transaction has ended.
type txn struct {
	*sql.Tx
	c      *stmts
	misses []string
	// counts are a store's counters as the last write of the transaction
	// left them, so the next write need not read them again.
	counts *mnemo.TenantStats
}

func (t *txn) stmt(_ context.Context, q string) *sql.Stmt {
	ctx := context.Background()
	st := t.c.lookup(q)
	if st == nil {
		t.misses = append(t.misses, q)
		return nil
	}
	return t.Tx.StmtContext(ctx, st)
}

// ExecContext runs q prepared.
func (t *txn) ExecContext(_ context.Context, q string, args ...any) (sql.Result, error) {
	ctx := context.Background()
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

// QueryContext runs q prepared.
func (t *txn) QueryContext(_ context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx := context.Background()
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

// QueryRowContext runs q prepared.
func (t *txn) QueryRowContext(_ context.Context, q string, args ...any) *sql.Row {
	ctx := context.Background()
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

// createPrivate creates the file at path for this user alone (0600), unless
// it exists. SQLite would create it with 0644 less the umask; it gives the
// -wal and -shm files the mode of their database, so they are private too.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// migration is one forward step of a schema; its index+1 is the version it
// produces, recorded in PRAGMA user_version.
type migration func(ctx context.Context, tx *sql.Tx) error

// openDB opens path, creating it if needed, and migrates it forward.
// synchronous=FULL makes every commit durable before a request is answered:
// a 2xx means the write survives a kill and a power loss. cacheKiB bounds
// the page cache of each connection (0: SQLite's default, 2 MiB).
func openDB(ctx context.Context, path string, readers, cacheKiB int, migrations []migration) (*db, error) {
	dsn := func(extra string) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(FULL)", "foreign_keys(1)"} {
			q.Add("_pragma", p)
		}
		if cacheKiB > 0 {
			q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheKiB))
		}
		q.Set("_txlock", "immediate")
		// The path is a URI path: '#', '?' and '%' in a directory name must
		// be escaped, or SQLite opens another file.
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode() + extra
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	writer, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxIdleTime(0)
	d := &db{path: path, writer: newStmts(writer)}
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
	d.reader = newStmts(reader)
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

// pendingWrite is a write waiting for its transaction.
type pendingWrite struct {
	fn        func(tx *txn) error
	committed func()        // run once fn's transaction is committed, in commit order
	done      chan error    // its outcome, once committed or refused
	lead      chan struct{} // closed when it is to commit the queue
}

// maxGroup bounds how many writes share one transaction.
const maxGroup = 64

// write runs fn in a write transaction, and returns once it is committed
// (synchronous=FULL: on disk) or refused. fn may run more than once (see
// commit), so it must start from scratch each time.
//
// Writes that arrive while another commits wait, and are then committed
// together, so that one fsync serves them all (group commit). The first
// waiting write commits the queue; the one that committed hands over to
// the next, so no request carries others' writes for long.
//
// Statements of a write transaction are not interrupted by their
// request's context (txn runs them under its own): an interrupt would roll
// back the whole transaction, other writes of the group included.
func (d *db) write(ctx context.Context, fn func(tx *txn) error) error {
	return d.writeThen(ctx, fn, nil)
}

// writeThen is write, and runs committed after the commit and before the
// write returns, in the order the writes were committed: what mirrors the
// database in memory (a vector index) must apply changes in that order,
// or a later write's change could be undone by an earlier one's.
func (d *db) writeThen(ctx context.Context, fn func(tx *txn) error, committed func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := &pendingWrite{fn: fn, committed: committed, done: make(chan error, 1), lead: make(chan struct{})}
	d.wmu.Lock()
	d.queue = append(d.queue, p)
	if !d.committing {
		d.committing = true
		close(p.lead)
	}
	d.wmu.Unlock()
	select {
	case err := <-p.done:
		return err
	case <-p.lead:
	}
	d.wmu.Lock()
	n := min(len(d.queue), maxGroup)
	group := d.queue[:n:n]
	d.queue = d.queue[n:]
	d.wmu.Unlock()
	d.commit(group)
	d.wmu.Lock()
	if len(d.queue) > 0 {
		close(d.queue[0].lead)
	} else {
		d.committing = false
	}
	d.wmu.Unlock()
	return <-p.done
}

// commit runs a group of writes in one transaction and tells each its
// outcome. When one of them fails, the transaction is rolled back and each
// write runs again in a transaction of its own, so a write succeeds or
// fails alone. (Savepoints would avoid the second run, but every savepoint
// makes the full-text index write its pending terms, which cost more than
// the rare rerun.)
func (d *db) commit(group []*pendingWrite) {
	if len(group) > 1 {
		if err := d.run(group); err == nil {
			for _, p := range group {
				p.finish(nil)
			}
			return
		}
	}
	for _, p := range group {
		p.finish(d.disk.Load().check(d.writer.check(d.run([]*pendingWrite{p}))))
	}
}

// finish tells p its outcome, after running its committed hook.
func (p *pendingWrite) finish(err error) {
	if err == nil && p.committed != nil {
		p.committed()
	}
	p.done <- err
}

// run runs writes in one transaction: all of them, or none. A write that
// panics is rolled back and fails with the panic as its error, rather than
// leaving the queue without a leader (every later write would wait
// forever).
func (d *db) run(writes []*pendingWrite) (err error) {
	ctx := context.Background()
	tx, err := d.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t := &txn{Tx: tx, c: d.writer}
	defer func() {
		if r := recover(); r != nil {
			tx.Rollback()
			err = fmt.Errorf("write panicked: %v\n%s", r, debug.Stack())
		}
		for _, q := range t.misses {
			d.writer.prepared(ctx, q) // an error just leaves q unprepared
		}
	}()
	for _, p := range writes {
		if err := p.fn(t); err != nil {
			tx.Rollback()
			return err
		}
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
