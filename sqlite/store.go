package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mnemohq/mnemo"
)

// Store is one tenant's memories.db. It is bound to its tenant when opened
// and holds no way to reach another tenant's file.
type Store struct {
	db       *db
	model    string // vectors of other models are neither searched nor counted as current
	index    *vectorIndex
	onChange func(ctx context.Context, s mnemo.TenantStats)
	// seq numbers the writes; reportMu orders their reports, so a late
	// report never overwrites a newer one with older numbers.
	seq      uint64
	reportMu sync.Mutex
	reported uint64

	touchMu      sync.Mutex
	touched      map[string]time.Time // access times not yet written
	touchTimer   *time.Timer
	touchFlushes sync.WaitGroup // timer flushes scheduled or running
	closed       bool
	logger       *slog.Logger
}

var _ mnemo.MemoryStore = (*Store)(nil)

// storeCacheKiB bounds each connection's page cache of a tenant database:
// many tenants are open at once, each with a writer and a few readers,
// and SQLite's default of 2 MiB each made a busy server's memory grow by
// hundreds of MiB; the operating system caches the files anyway.
const storeCacheKiB = 512

// OpenStore opens (creating and migrating) one tenant database. model is
// the embedder's model id and dim its dimension. A migration that trims
// data to the input limits trims to mnemo.DefaultLimits.
func OpenStore(ctx context.Context, path, model string, dim int) (*Store, error) {
	return openStore(ctx, path, model, dim, mnemo.DefaultLimits, nil)
}

// openStore is OpenStore with the limits a migration trims to, and the
// logger it reports to (nil: none).
func openStore(ctx context.Context, path, model string, dim int, lim mnemo.Limits, logger *slog.Logger) (*Store, error) {
	env := storeEnv{limits: lim}
	if logger != nil {
		env.logger = logger.With("db", path)
	}
	d, err := openDB(withStoreEnv(ctx, env), path, 4, storeCacheKiB, storeMigrations)
	if err != nil {
		return nil, err
	}
	return &Store{db: d, model: model, index: &vectorIndex{dim: dim}, logger: logger}, nil
}

// Close writes pending access times and closes the database.
func (s *Store) Close() error {
	s.touchMu.Lock()
	s.closed = true
	if s.touchTimer != nil && s.touchTimer.Stop() {
		s.touchFlushes.Done() // it will not run
	}
	s.touchMu.Unlock()
	s.touchFlushes.Wait() // a flush that has taken its batch writes it first
	err := s.flushTouches(context.Background())
	if e := s.db.close(); e != nil {
		err = e
	}
	return err
}

const memoryColumns = `m.rid, m.id, m.content, m.tags, m.importance, m.type, m.confidence, m.ts, m.t_valid, m.t_invalid, m.updated_at, m.last_accessed, m.metadata, m.archived`

func (s *Store) scanMemory(row interface{ Scan(...any) error }, extra ...any) (*mnemo.Memory, int64, error) {
	var m mnemo.Memory
	var rid, ts, tValid, updated, accessed int64
	var tInvalid sql.NullInt64
	var tags, meta string
	dest := append([]any{&rid, &m.ID, &m.Content, &tags, &m.Importance, &m.Type, &m.Confidence,
		&ts, &tValid, &tInvalid, &updated, &accessed, &meta, &m.Archived}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, 0, err
	}
	if err := json.Unmarshal([]byte(tags), &m.Tags); err != nil {
		return nil, 0, fmt.Errorf("memory %s tags: %w", m.ID, err)
	}
	if err := json.Unmarshal([]byte(meta), &m.Metadata); err != nil {
		return nil, 0, fmt.Errorf("memory %s metadata: %w", m.ID, err)
	}
	m.Timestamp, m.TValid, m.UpdatedAt, m.LastAccessed = fromMicros(ts), fromMicros(tValid), fromMicros(updated), fromMicros(accessed)
	m.TInvalid = fromNullMicros(tInvalid)
	s.touchMu.Lock()
	if at, ok := s.touched[m.ID]; ok && at.After(m.LastAccessed) {
		m.LastAccessed = at
	}
	s.touchMu.Unlock()
	return &m, rid, nil
}

func (s *Store) queryMemories(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]*mnemo.Memory, []int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var mems []*mnemo.Memory
	var rids []int64
	for rows.Next() {
		m, rid, err := s.scanMemory(rows)
		if err != nil {
			return nil, nil, err
		}
		mems = append(mems, m)
		rids = append(rids, rid)
	}
	return mems, rids, rows.Err()
}

func memoryArgs(m *mnemo.Memory) ([]any, error) {
	tags := m.Tags
	if tags == nil {
		tags = []string{}
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return nil, err
	}
	meta := m.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return []any{m.ID, m.Content, string(tagsJSON), strings.Join(tags, " "), m.Importance, m.Type, m.Confidence,
		micros(m.Timestamp), micros(m.TValid), nullMicros(m.TInvalid), micros(m.UpdatedAt), micros(m.LastAccessed),
		string(metaJSON), m.Archived}, nil
}

// writeTags writes the tag and prefix rows of rid, replacing those of an
// existing memory (fresh: rid is new and has none). Each table gets one
// statement, whatever the number of tags.
func writeTags(ctx context.Context, tx execer, rid int64, tags []string, fresh bool) error {
	if !fresh {
		if _, err := tx.ExecContext(ctx, `DELETE FROM memory_tags WHERE rid = ?`, rid); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM memory_tag_prefixes WHERE rid = ?`, rid); err != nil {
			return err
		}
	}
	if len(tags) == 0 {
		return nil
	}
	lower := make([]string, len(tags))
	for i, t := range tags {
		lower[i] = strings.ToLower(t)
	}
	list, _ := json.Marshal(lower)
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO memory_tags (rid, tag) SELECT ?, value FROM json_each(?)`, rid, string(list)); err != nil {
		return err
	}
	prefixes, _ := json.Marshal(mnemo.TagPrefixes(tags))
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO memory_tag_prefixes (rid, prefix) SELECT ?, value FROM json_each(?)`, rid, string(prefixes))
	return err
}

// execer runs a statement: a write's txn, or a migration's *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// indexChange is a vector write to apply to the in-memory index once its
// transaction has committed.
type indexChange struct {
	rid    int64
	vec    []float32 // nil: remove
	remove bool
}

func (s *Store) applyIndex(changes []indexChange) {
	if len(changes) == 0 {
		return
	}
	s.index.mu.Lock()
	defer s.index.mu.Unlock()
	for _, c := range changes {
		if c.remove {
			s.index.remove(c.rid)
		} else {
			s.index.set(c.rid, c.vec)
		}
	}
}

// write runs fn in a transaction, then applies its index changes and
// reports the new counters. quotas, when set, are checked inside the
// transaction against the counters before and after fn: a write that
// crosses one is rolled back.
func (s *Store) write(ctx context.Context, quotas mnemo.Quotas, fn func(tx *txn, changes *[]indexChange) error) (added mnemo.TenantStats, err error) {
	var changes []indexChange
	var after mnemo.TenantStats
	var seq uint64
	err = s.db.writeThen(ctx, func(tx *txn) error {
		changes = changes[:0] // fn may run again after a rollback
		// The counters before this write: read, or left by the write
		// before it in the same transaction.
		before := tx.counts
		if before == nil {
			c, err := counters(ctx, tx)
			if err != nil {
				return err
			}
			before = &c
		}
		if err := fn(tx, &changes); err != nil {
			return err
		}
		var err error
		if after, err = counters(ctx, tx); err != nil {
			return err
		}
		if err := quotas.Check(*before, after); err != nil {
			return err
		}
		tx.counts = &after
		added = mnemo.TenantStats{Memories: after.Memories - before.Memories, Relations: after.Relations - before.Relations,
			Vectors: after.Vectors - before.Vectors, StoredBytes: after.StoredBytes - before.StoredBytes}
		s.seq++ // writes run one at a time: fn holds the writer
		seq = s.seq
		return nil
	}, func() { s.applyIndex(changes) })
	if err != nil {
		return added, err
	}
	s.report(seq, after)
	return added, nil
}

// report tells onChange the counters after the write numbered seq, unless
// a later write has been reported already.
func (s *Store) report(seq uint64, st mnemo.TenantStats) {
	if s.onChange == nil {
		return
	}
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	if seq <= s.reported {
		return
	}
	s.reported = seq
	st.StorageBytes = s.fileBytes()
	s.onChange(context.Background(), st)
}

func upsertVector(ctx context.Context, tx *txn, rid int64, vec []float32, model string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO vectors (rid, model, vec) VALUES (?, ?, ?)
		ON CONFLICT (rid) DO UPDATE SET model = excluded.model, vec = excluded.vec`, rid, model, encodeVector(vec))
	return err
}

// Write applies w in one transaction: all of it or nothing.
func (s *Store) Write(ctx context.Context, w mnemo.Write, quotas mnemo.Quotas) (mnemo.TenantStats, error) {
	if err := s.db.disk.Load().refuse(); err != nil {
		return mnemo.TenantStats{}, err
	}
	added, err := s.write(ctx, quotas, func(tx *txn, changes *[]indexChange) error {
		for _, m := range w.Create {
			if err := s.insert(ctx, tx, m, changes); err != nil {
				return err
			}
		}
		for _, m := range w.Update {
			if err := s.update(ctx, tx, m, changes); err != nil {
				return err
			}
		}
		return relate(ctx, tx, w.Relate)
	})
	if err == nil && len(w.Create) > 0 {
		s.forgetTouches(w.Create, nil)
	}
	return added, err
}

const insertMemory = `INSERT INTO memories (id, content, tags, tags_text, importance, type, confidence, ts, t_valid, t_invalid, updated_at, last_accessed, metadata, archived)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insert stores a new memory with its tags and vector.
func (s *Store) insert(ctx context.Context, tx *txn, m *mnemo.Memory, changes *[]indexChange) error {
	args, err := memoryArgs(m)
	if err != nil {
		return mnemo.Errorf(mnemo.EINVALID, "memory %s: %v", m.ID, err)
	}
	res, err := tx.ExecContext(ctx, insertMemory, args...)
	if err != nil {
		return fmt.Errorf("insert memory: %w", err)
	}
	rid, _ := res.LastInsertId()
	return s.writeRest(ctx, tx, rid, m, true, changes)
}

// writeRest writes a stored memory's tags and, when it has one, vector;
// fresh says the memory was just inserted.
func (s *Store) writeRest(ctx context.Context, tx *txn, rid int64, m *mnemo.Memory, fresh bool, changes *[]indexChange) error {
	if err := writeTags(ctx, tx, rid, m.Tags, fresh); err != nil {
		return fmt.Errorf("write tags: %w", err)
	}
	if len(m.Embedding) > 0 {
		if err := upsertVector(ctx, tx, rid, m.Embedding, m.EmbeddingModel); err != nil {
			return fmt.Errorf("write vector: %w", err)
		}
		if m.EmbeddingModel == s.model {
			*changes = append(*changes, indexChange{rid: rid, vec: m.Embedding})
		} else {
			*changes = append(*changes, indexChange{rid: rid, remove: true})
		}
	}
	return nil
}

// update replaces the stored fields of an existing memory; see
// mnemo.Write for what its Embedding means.
func (s *Store) update(ctx context.Context, tx *txn, m *mnemo.Memory, changes *[]indexChange) error {
	var rid int64
	if err := tx.QueryRowContext(ctx, `SELECT rid FROM memories WHERE id = ?`, m.ID).Scan(&rid); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return notFound()
		}
		return err
	}
	args, err := memoryArgs(m)
	if err != nil {
		return mnemo.Errorf(mnemo.EINVALID, "memory %s: %v", m.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE memories SET content = ?, tags = ?, tags_text = ?, importance = ?, type = ?, confidence = ?,
		ts = ?, t_valid = ?, t_invalid = ?, updated_at = ?, last_accessed = ?, metadata = ?, archived = ? WHERE rid = ?`,
		append(args[1:], rid)...); err != nil {
		return fmt.Errorf("update memory: %w", err)
	}
	if m.Embedding != nil && len(m.Embedding) == 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM vectors WHERE rid = ?`, rid); err != nil {
			return fmt.Errorf("drop vector: %w", err)
		}
		*changes = append(*changes, indexChange{rid: rid, remove: true})
	}
	return s.writeRest(ctx, tx, rid, m, false, changes)
}

func notFound() error { return mnemo.Errorf(mnemo.ENOTFOUND, "Memory not found") }

// Memory returns one memory by id.
func (s *Store) Memory(ctx context.Context, id string) (*mnemo.Memory, error) {
	m, _, err := s.scanMemory(s.db.reader.QueryRowContext(ctx, `SELECT `+memoryColumns+` FROM memories m WHERE m.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound()
	}
	return m, err
}

// Memories returns the existing memories among ids.
func (s *Store) Memories(ctx context.Context, ids []string) (map[string]*mnemo.Memory, error) {
	out := map[string]*mnemo.Memory{}
	if len(ids) == 0 {
		return out, nil
	}
	list, _ := json.Marshal(ids)
	mems, _, err := s.queryMemories(ctx, s.db.reader, `SELECT `+memoryColumns+` FROM memories m WHERE m.id IN (SELECT value FROM json_each(?))`, string(list))
	for _, m := range mems {
		out[m.ID] = m
	}
	return out, err
}

// Delete removes one memory; its tags, vector and relations go by cascade.
func (s *Store) Delete(ctx context.Context, id string) error {
	_, err := s.write(ctx, mnemo.Quotas{}, func(tx *txn, changes *[]indexChange) error {
		var rid int64
		if err := tx.QueryRowContext(ctx, `DELETE FROM memories WHERE id = ? RETURNING rid`, id).Scan(&rid); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound()
			}
			return err
		}
		*changes = append(*changes, indexChange{rid: rid, remove: true})
		return nil
	})
	return err
}

// DeleteMatching removes every memory that f matches.
func (s *Store) DeleteMatching(ctx context.Context, f mnemo.Filter) (int, error) {
	n := 0
	_, err := s.write(ctx, mnemo.Quotas{}, func(tx *txn, changes *[]indexChange) error {
		n = 0 // fn may run again after a rollback
		where, args := filterSQL(f)
		rows, err := tx.QueryContext(ctx, `DELETE FROM memories WHERE rid IN (SELECT m.rid FROM memories m WHERE `+where+`) RETURNING rid`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var rid int64
			if err := rows.Scan(&rid); err != nil {
				return err
			}
			*changes = append(*changes, indexChange{rid: rid, remove: true})
			n++
		}
		return rows.Err()
	})
	return n, err
}

var orderSQL = map[string]string{
	mnemo.OrderImportance:  `m.importance DESC, m.ts DESC, m.id ASC`,
	mnemo.OrderTimeDesc:    `m.ts DESC, m.id ASC`,
	mnemo.OrderTimeAsc:     `m.ts ASC, m.id ASC`,
	mnemo.OrderUpdatedDesc: `m.updated_at DESC, m.ts DESC, m.id ASC`,
	mnemo.OrderUpdatedAsc:  `m.updated_at ASC, m.ts ASC, m.id ASC`,
}

// List returns memories matching f in order.
func (s *Store) List(ctx context.Context, f mnemo.Filter, order string, limit, offset int) ([]*mnemo.Memory, error) {
	by, ok := orderSQL[order]
	if !ok {
		return nil, fmt.Errorf("unknown order %q", order)
	}
	where, args := filterSQL(f)
	mems, _, err := s.queryMemories(ctx, s.db.reader, `SELECT `+memoryColumns+` FROM memories m WHERE `+where+` ORDER BY `+by+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	return mems, err
}

// Adjacent returns the neighbours of id in (timestamp, insertion) order
// among the memories f matches. Each side is one walk of the timestamp
// index from id's position that stops at the first match.
func (s *Store) Adjacent(ctx context.Context, id string, f mnemo.Filter) (before, after *mnemo.Memory, err error) {
	var ts, rid int64
	if err := s.db.reader.QueryRowContext(ctx, `SELECT ts, rid FROM memories WHERE id = ?`, id).Scan(&ts, &rid); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil, notFound()
		}
		return nil, nil, err
	}
	where, args := probeFilterSQL(f)
	side := func(cmp, dir string) (*mnemo.Memory, error) {
		m, _, err := s.scanMemory(s.db.reader.QueryRowContext(ctx, `SELECT `+memoryColumns+` FROM memories m
			WHERE (m.ts, m.rid) `+cmp+` (?, ?) AND `+where+` ORDER BY m.ts `+dir+`, m.rid `+dir+` LIMIT 1`,
			append([]any{ts, rid}, args...)...))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return m, err
	}
	if before, err = side("<", "DESC"); err != nil {
		return nil, nil, err
	}
	after, err = side(">", "ASC")
	return before, after, err
}
