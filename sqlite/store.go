package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mnemohq/mnemo"
)

var storeMigrations = []migration{
	execAll(
		`CREATE TABLE memories (
			rid           INTEGER PRIMARY KEY,
			id            TEXT NOT NULL UNIQUE,
			content       TEXT NOT NULL,
			tags          TEXT NOT NULL,
			tags_text     TEXT NOT NULL,
			importance    REAL NOT NULL,
			type          TEXT NOT NULL,
			confidence    REAL NOT NULL,
			ts            INTEGER NOT NULL,
			t_valid       INTEGER NOT NULL,
			t_invalid     INTEGER,
			updated_at    INTEGER NOT NULL,
			last_accessed INTEGER NOT NULL,
			metadata      TEXT NOT NULL,
			archived      INTEGER NOT NULL DEFAULT 0
		)`,
		`CREATE INDEX memories_ts ON memories(ts)`,
		`CREATE INDEX memories_updated ON memories(updated_at)`,
		`CREATE INDEX memories_importance ON memories(importance DESC, ts DESC, id)`,
		`CREATE TABLE memory_tags (
			rid INTEGER NOT NULL REFERENCES memories(rid) ON DELETE CASCADE,
			tag TEXT NOT NULL,
			PRIMARY KEY (tag, rid)
		) WITHOUT ROWID`,
		`CREATE INDEX memory_tags_rid ON memory_tags(rid)`,
		`CREATE TABLE memory_tag_prefixes (
			rid    INTEGER NOT NULL REFERENCES memories(rid) ON DELETE CASCADE,
			prefix TEXT NOT NULL,
			PRIMARY KEY (prefix, rid)
		) WITHOUT ROWID`,
		`CREATE INDEX memory_tag_prefixes_rid ON memory_tag_prefixes(rid)`,
		`CREATE TABLE vectors (
			rid   INTEGER PRIMARY KEY REFERENCES memories(rid) ON DELETE CASCADE,
			model TEXT NOT NULL,
			vec   BLOB NOT NULL
		)`,
		`CREATE TABLE relations (
			src        INTEGER NOT NULL REFERENCES memories(rid) ON DELETE CASCADE,
			dst        INTEGER NOT NULL REFERENCES memories(rid) ON DELETE CASCADE,
			type       TEXT NOT NULL,
			strength   REAL NOT NULL,
			props      TEXT NOT NULL,
			updated_at INTEGER NOT NULL,
			PRIMARY KEY (src, type, dst)
		) WITHOUT ROWID`,
		`CREATE INDEX relations_dst ON relations(dst)`,
		`CREATE VIRTUAL TABLE memories_fts USING fts5(content, tags_text, content='memories', content_rowid='rid', tokenize='porter unicode61')`,
		`CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN
			INSERT INTO memories_fts(rowid, content, tags_text) VALUES (new.rid, new.content, new.tags_text);
		END`,
		`CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories BEGIN
			INSERT INTO memories_fts(memories_fts, rowid, content, tags_text) VALUES ('delete', old.rid, old.content, old.tags_text);
		END`,
		`CREATE TRIGGER memories_fts_au AFTER UPDATE OF content, tags_text ON memories BEGIN
			INSERT INTO memories_fts(memories_fts, rowid, content, tags_text) VALUES ('delete', old.rid, old.content, old.tags_text);
			INSERT INTO memories_fts(rowid, content, tags_text) VALUES (new.rid, new.content, new.tags_text);
		END`,
		// Counters live in the same transactions as the rows they count, so
		// stats are exact without a scan.
		`CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
		`INSERT INTO counters VALUES ('memories', 0), ('relations', 0), ('vectors', 0)`,
		`CREATE TRIGGER count_memories_ai AFTER INSERT ON memories BEGIN UPDATE counters SET value = value + 1 WHERE name = 'memories'; END`,
		`CREATE TRIGGER count_memories_ad AFTER DELETE ON memories BEGIN UPDATE counters SET value = value - 1 WHERE name = 'memories'; END`,
		`CREATE TRIGGER count_relations_ai AFTER INSERT ON relations BEGIN UPDATE counters SET value = value + 1 WHERE name = 'relations'; END`,
		`CREATE TRIGGER count_relations_ad AFTER DELETE ON relations BEGIN UPDATE counters SET value = value - 1 WHERE name = 'relations'; END`,
		`CREATE TRIGGER count_vectors_ai AFTER INSERT ON vectors BEGIN UPDATE counters SET value = value + 1 WHERE name = 'vectors'; END`,
		`CREATE TRIGGER count_vectors_ad AFTER DELETE ON vectors BEGIN UPDATE counters SET value = value - 1 WHERE name = 'vectors'; END`,
	),
	// Version 2: the bytes a tenant's data takes, for storage quotas, kept
	// by triggers in the writing transaction like the other counters.
	execAll(
		`INSERT INTO counters VALUES ('bytes',
			(SELECT coalesce(sum(octet_length(content) + octet_length(tags) + octet_length(metadata)), 0) FROM memories) +
			(SELECT coalesce(sum(length(vec)), 0) FROM vectors) +
			(SELECT coalesce(sum(16 + octet_length(type) + octet_length(props)), 0) FROM relations))`,
		`CREATE TRIGGER bytes_memories_ai AFTER INSERT ON memories BEGIN UPDATE counters SET value = value + octet_length(new.content) + octet_length(new.tags) + octet_length(new.metadata) WHERE name = 'bytes'; END`,
		`CREATE TRIGGER bytes_memories_ad AFTER DELETE ON memories BEGIN UPDATE counters SET value = value - octet_length(old.content) - octet_length(old.tags) - octet_length(old.metadata) WHERE name = 'bytes'; END`,
		`CREATE TRIGGER bytes_memories_au AFTER UPDATE OF content, tags, metadata ON memories BEGIN UPDATE counters SET value = value
			- octet_length(old.content) - octet_length(old.tags) - octet_length(old.metadata)
			+ octet_length(new.content) + octet_length(new.tags) + octet_length(new.metadata) WHERE name = 'bytes'; END`,
		`CREATE TRIGGER bytes_vectors_ai AFTER INSERT ON vectors BEGIN UPDATE counters SET value = value + length(new.vec) WHERE name = 'bytes'; END`,
		`CREATE TRIGGER bytes_vectors_ad AFTER DELETE ON vectors BEGIN UPDATE counters SET value = value - length(old.vec) WHERE name = 'bytes'; END`,
		`CREATE TRIGGER bytes_vectors_au AFTER UPDATE OF vec ON vectors BEGIN UPDATE counters SET value = value - length(old.vec) + length(new.vec) WHERE name = 'bytes'; END`,
		`CREATE TRIGGER bytes_relations_ai AFTER INSERT ON relations BEGIN UPDATE counters SET value = value + 16 + octet_length(new.type) + octet_length(new.props) WHERE name = 'bytes'; END`,
		`CREATE TRIGGER bytes_relations_ad AFTER DELETE ON relations BEGIN UPDATE counters SET value = value - 16 - octet_length(old.type) - octet_length(old.props) WHERE name = 'bytes'; END`,
		`CREATE TRIGGER bytes_relations_au AFTER UPDATE OF props ON relations BEGIN UPDATE counters SET value = value - octet_length(old.props) + octet_length(new.props) WHERE name = 'bytes'; END`,
	),
}

// Store is one tenant's memories.db. It is bound to its tenant when opened
// and holds no way to reach another tenant's file.
type Store struct {
	db       *db
	model    string // vectors of other models are neither searched nor counted as current
	index    *vectorIndex
	onChange func(ctx context.Context, s mnemo.TenantStats)
	// reportMu orders stats reports: each reads the counters afresh under
	// it, so a late report can never overwrite a newer one with older numbers.
	reportMu sync.Mutex

	touchMu    sync.Mutex
	touched    map[string]time.Time // access times not yet written
	touchTimer *time.Timer
	closed     bool
	logger     *slog.Logger
}

var _ mnemo.MemoryStore = (*Store)(nil)

// OpenStore opens (creating and migrating) one tenant database. model is
// the embedder's model id and dim its dimension.
func OpenStore(ctx context.Context, path, model string, dim int) (*Store, error) {
	d, err := openDB(ctx, path, 4, storeMigrations)
	if err != nil {
		return nil, err
	}
	return &Store{db: d, model: model, index: &vectorIndex{dim: dim}}, nil
}

// Close writes pending access times and closes the database.
func (s *Store) Close() error {
	s.touchMu.Lock()
	s.closed = true
	if s.touchTimer != nil {
		s.touchTimer.Stop()
	}
	s.touchMu.Unlock()
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

// writeTags replaces the tag and prefix rows of rid.
func writeTags(ctx context.Context, tx *sql.Tx, rid int64, tags []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM memory_tags WHERE rid = ?`, rid); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM memory_tag_prefixes WHERE rid = ?`, rid); err != nil {
		return err
	}
	for _, t := range tags {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO memory_tags (rid, tag) VALUES (?, ?)`, rid, strings.ToLower(t)); err != nil {
			return err
		}
	}
	for _, p := range mnemo.TagPrefixes(tags) {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO memory_tag_prefixes (rid, prefix) VALUES (?, ?)`, rid, p); err != nil {
			return err
		}
	}
	return nil
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
// reports the new counters.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx, changes *[]indexChange) error) error {
	var changes []indexChange
	if err := s.db.write(ctx, func(tx *sql.Tx) error { return fn(tx, &changes) }); err != nil {
		return err
	}
	s.applyIndex(changes)
	if s.onChange != nil {
		s.reportMu.Lock()
		defer s.reportMu.Unlock()
		if st, err := s.Stats(ctx); err == nil {
			s.onChange(ctx, st)
		}
	}
	return nil
}

func upsertVector(ctx context.Context, tx *sql.Tx, rid int64, vec []float32, model string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO vectors (rid, model, vec) VALUES (?, ?, ?)
		ON CONFLICT (rid) DO UPDATE SET model = excluded.model, vec = excluded.vec`, rid, model, encodeVector(vec))
	return err
}

// Create stores mems in one transaction: all or none.
func (s *Store) Create(ctx context.Context, mems []*mnemo.Memory) error {
	return s.write(ctx, func(tx *sql.Tx, changes *[]indexChange) error {
		for _, m := range mems {
			args, err := memoryArgs(m)
			if err != nil {
				return mnemo.Errorf(mnemo.EINVALID, "memory %s: %v", m.ID, err)
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO memories (id, content, tags, tags_text, importance, type, confidence, ts, t_valid, t_invalid, updated_at, last_accessed, metadata, archived)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
			if err != nil {
				return fmt.Errorf("insert memory: %w", err)
			}
			rid, _ := res.LastInsertId()
			if err := writeTags(ctx, tx, rid, m.Tags); err != nil {
				return fmt.Errorf("insert tags: %w", err)
			}
			if m.Embedding != nil {
				if err := upsertVector(ctx, tx, rid, m.Embedding, m.EmbeddingModel); err != nil {
					return fmt.Errorf("insert vector: %w", err)
				}
				if m.EmbeddingModel == s.model {
					*changes = append(*changes, indexChange{rid: rid, vec: m.Embedding})
				}
			}
		}
		return nil
	})
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

// Update replaces the stored fields of m.
func (s *Store) Update(ctx context.Context, m *mnemo.Memory) error {
	return s.write(ctx, func(tx *sql.Tx, changes *[]indexChange) error {
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
		if err := writeTags(ctx, tx, rid, m.Tags); err != nil {
			return fmt.Errorf("update tags: %w", err)
		}
		if m.Embedding != nil && len(m.Embedding) == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM vectors WHERE rid = ?`, rid); err != nil {
				return fmt.Errorf("drop vector: %w", err)
			}
			*changes = append(*changes, indexChange{rid: rid, remove: true})
		} else if m.Embedding != nil {
			if err := upsertVector(ctx, tx, rid, m.Embedding, m.EmbeddingModel); err != nil {
				return fmt.Errorf("update vector: %w", err)
			}
			if m.EmbeddingModel == s.model {
				*changes = append(*changes, indexChange{rid: rid, vec: m.Embedding})
			} else {
				*changes = append(*changes, indexChange{rid: rid, remove: true})
			}
		}
		return nil
	})
}

// Delete removes one memory; its tags, vector and relations go by cascade.
func (s *Store) Delete(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *sql.Tx, changes *[]indexChange) error {
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
}

// DeleteMatching removes every memory that f matches.
func (s *Store) DeleteMatching(ctx context.Context, f mnemo.Filter) (int, error) {
	n := 0
	err := s.write(ctx, func(tx *sql.Tx, changes *[]indexChange) error {
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

// Touch records last_accessed for the given memories. A read should not
// wait for a disk flush, so touches are kept in memory, shown by every read
// at once, and written in one transaction a second later (or at Close). A
// crash can lose the last second of access times, never a stored memory.
func (s *Store) Touch(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	if s.touched == nil {
		s.touched = map[string]time.Time{}
	}
	for _, id := range ids {
		if cur, ok := s.touched[id]; !ok || at.After(cur) {
			s.touched[id] = at
		}
	}
	if s.touchTimer == nil && !s.closed {
		s.touchTimer = time.AfterFunc(time.Second, func() {
			if err := s.flushTouches(context.Background()); err != nil && s.logger != nil {
				s.logger.Warn("write last_accessed", "err", err)
			}
		})
	}
	return nil
}

// flushTouches writes the pending access times.
func (s *Store) flushTouches(ctx context.Context) error {
	s.touchMu.Lock()
	pending := s.touched
	s.touched, s.touchTimer = nil, nil
	s.touchMu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	pairs := make([][2]any, 0, len(pending))
	for id, at := range pending {
		pairs = append(pairs, [2]any{id, micros(at)})
	}
	list, _ := json.Marshal(pairs)
	err := s.db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE memories SET last_accessed = max(last_accessed, j.value ->> 1)
			FROM json_each(?) j WHERE memories.id = j.value ->> 0`, string(list))
		return err
	})
	if err != nil {
		// Keep them for the next flush rather than lose them.
		s.touchMu.Lock()
		if s.touched == nil {
			s.touched = map[string]time.Time{}
		}
		for id, at := range pending {
			if cur, ok := s.touched[id]; !ok || at.After(cur) {
				s.touched[id] = at
			}
		}
		s.touchMu.Unlock()
	}
	return err
}

// Keyword ranks memories by FTS5's BM25 over content (weight 1) and tags
// (0.5). Terms are quoted one by one, so user text is never FTS5 syntax.
func (s *Store) Keyword(ctx context.Context, terms []string, f mnemo.Filter, limit int) ([]mnemo.Hit, error) {
	quoted := make([]string, 0, len(terms))
	for _, t := range terms {
		if t = strings.TrimSpace(t); t != "" {
			quoted = append(quoted, `"`+strings.ReplaceAll(t, `"`, `""`)+`"`)
		}
	}
	if len(quoted) == 0 || limit <= 0 {
		return nil, nil
	}
	match := strings.Join(quoted, " OR ")
	var rows *sql.Rows
	var err error
	if f.IsZero() {
		// Unfiltered, rank inside FTS5 alone and join only the winners:
		// about a fifth faster than joining every match.
		rows, err = s.db.reader.QueryContext(ctx, `SELECT `+memoryColumns+`, -f.score
			FROM (SELECT rowid, bm25(memories_fts, 1.0, 0.5) AS score FROM memories_fts
				WHERE memories_fts MATCH ? ORDER BY score LIMIT ?) f
			JOIN memories m ON m.rid = f.rowid ORDER BY f.score`, match, limit)
	} else {
		where, args := filterSQL(f)
		rows, err = s.db.reader.QueryContext(ctx, `SELECT `+memoryColumns+`, -bm25(memories_fts, 1.0, 0.5)
			FROM memories_fts JOIN memories m ON m.rid = memories_fts.rowid
			WHERE memories_fts MATCH ? AND `+where+`
			ORDER BY bm25(memories_fts, 1.0, 0.5) LIMIT ?`,
			append(append([]any{match}, args...), limit)...)
	}
	if err != nil {
		return nil, fmt.Errorf("keyword search: %w", err)
	}
	defer rows.Close()
	var hits []mnemo.Hit
	for rows.Next() {
		var score float64
		m, _, err := s.scanMemory(rows, &score)
		if err != nil {
			return nil, err
		}
		hits = append(hits, mnemo.Hit{Memory: m, Score: score})
	}
	return hits, rows.Err()
}

// loadIndex fills the vector index from the database once.
func (s *Store) loadIndex(ctx context.Context) error {
	s.index.mu.RLock()
	loaded := s.index.loaded
	s.index.mu.RUnlock()
	if loaded {
		return nil
	}
	s.index.mu.Lock()
	defer s.index.mu.Unlock()
	if s.index.loaded {
		return nil
	}
	rows, err := s.db.reader.QueryContext(ctx, `SELECT rid, vec FROM vectors WHERE model = ?`, s.model)
	if err != nil {
		return fmt.Errorf("load vectors: %w", err)
	}
	defer rows.Close()
	s.index.loaded = true
	s.index.pos = map[int64]int{}
	for rows.Next() {
		var rid int64
		var blob []byte
		if err := rows.Scan(&rid, &blob); err != nil {
			s.index.loaded = false
			return err
		}
		s.index.set(rid, decodeVector(blob))
	}
	if err := rows.Err(); err != nil {
		s.index.loaded = false
		return err
	}
	return nil
}

// Nearest ranks memories matching f by cosine similarity with an exact scan.
func (s *Store) Nearest(ctx context.Context, vec []float32, f mnemo.Filter, limit int) ([]mnemo.Hit, error) {
	if err := s.loadIndex(ctx); err != nil {
		return nil, err
	}
	var allowed map[int64]bool
	if !f.IsZero() {
		where, args := filterSQL(f)
		rows, err := s.db.reader.QueryContext(ctx, `SELECT m.rid FROM memories m WHERE `+where, args...)
		if err != nil {
			return nil, err
		}
		allowed = map[int64]bool{}
		for rows.Next() {
			var rid int64
			if err := rows.Scan(&rid); err != nil {
				rows.Close()
				return nil, err
			}
			allowed[rid] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	s.index.mu.RLock()
	top := s.index.nearest(vec, limit, allowed)
	s.index.mu.RUnlock()
	if len(top) == 0 {
		return nil, nil
	}
	rids := make([]int64, len(top))
	for i, t := range top {
		rids[i] = t.rid
	}
	list, _ := json.Marshal(rids)
	mems, gotRids, err := s.queryMemories(ctx, s.db.reader, `SELECT `+memoryColumns+` FROM memories m WHERE m.rid IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, err
	}
	byRid := make(map[int64]*mnemo.Memory, len(mems))
	for i, m := range mems {
		byRid[gotRids[i]] = m
	}
	hits := make([]mnemo.Hit, 0, len(top))
	for _, t := range top {
		if m := byRid[t.rid]; m != nil { // deleted between scan and fetch
			hits = append(hits, mnemo.Hit{Memory: m, Score: t.score})
		}
	}
	return hits, nil
}

// Unembedded returns memories without a vector of the current model.
func (s *Store) Unembedded(ctx context.Context, limit int) ([]*mnemo.Memory, error) {
	mems, _, err := s.queryMemories(ctx, s.db.reader, `SELECT `+memoryColumns+` FROM memories m
		WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.rid = m.rid AND v.model = ?) ORDER BY m.rid LIMIT ?`, s.model, limit)
	return mems, err
}

// SetEmbedding stores the vector of an existing memory.
func (s *Store) SetEmbedding(ctx context.Context, id string, vec []float32, model string) error {
	return s.write(ctx, func(tx *sql.Tx, changes *[]indexChange) error {
		var rid int64
		if err := tx.QueryRowContext(ctx, `SELECT rid FROM memories WHERE id = ?`, id).Scan(&rid); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound()
			}
			return err
		}
		if err := upsertVector(ctx, tx, rid, vec, model); err != nil {
			return err
		}
		if model == s.model {
			*changes = append(*changes, indexChange{rid: rid, vec: vec})
		} else {
			*changes = append(*changes, indexChange{rid: rid, remove: true})
		}
		return nil
	})
}

// relationProps encodes a relation's extra properties as stored.
func relationProps(r mnemo.Relation) ([]byte, error) {
	props := r.Props
	if props == nil {
		props = map[string]any{}
	}
	b, err := json.Marshal(props)
	if err != nil {
		return nil, mnemo.Errorf(mnemo.EINVALID, "relation properties: %v", err)
	}
	return b, nil
}

// Associate creates or updates relations (MERGE semantics on from, type, to).
func (s *Store) Associate(ctx context.Context, rels []mnemo.Relation) error {
	return s.write(ctx, func(tx *sql.Tx, _ *[]indexChange) error {
		for _, r := range rels {
			propsJSON, err := relationProps(r)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO relations (src, dst, type, strength, props, updated_at)
				SELECT a.rid, b.rid, ?, ?, ?, ? FROM memories a, memories b WHERE a.id = ? AND b.id = ?
				ON CONFLICT (src, type, dst) DO UPDATE SET strength = excluded.strength, props = excluded.props, updated_at = excluded.updated_at`,
				string(r.Type), r.Strength, string(propsJSON), micros(r.UpdatedAt), r.From, r.To)
			if err != nil {
				return fmt.Errorf("associate: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return mnemo.Errorf(mnemo.ENOTFOUND, "One or both memories do not exist")
			}
		}
		return nil
	})
}

// Neighbors returns the relations of id with the memories at their other end.
func (s *Store) Neighbors(ctx context.Context, id string, types []mnemo.RelationType, outgoingOnly bool, limit int) ([]mnemo.Neighbor, error) {
	typeFilter, typeArgs := "", []any{}
	if len(types) > 0 {
		list, _ := json.Marshal(types)
		typeFilter = ` AND r.type IN (SELECT value FROM json_each(?))`
		typeArgs = append(typeArgs, string(list))
	}
	q := `SELECT ` + memoryColumns + `, r.type, r.strength, r.props, r.updated_at, 1 FROM relations r JOIN memories m ON m.rid = r.dst
		WHERE r.src = (SELECT rid FROM memories WHERE id = ?)` + typeFilter
	args := append([]any{id}, typeArgs...)
	if !outgoingOnly {
		q += ` UNION ALL SELECT ` + memoryColumns + `, r.type, r.strength, r.props, r.updated_at, 0 FROM relations r JOIN memories m ON m.rid = r.src
		WHERE r.dst = (SELECT rid FROM memories WHERE id = ?)` + typeFilter
		args = append(append(args, id), typeArgs...)
	}
	q = `SELECT * FROM (` + q + `) ORDER BY 18 DESC, 2 ASC LIMIT ?`
	rows, err := s.db.reader.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("neighbors: %w", err)
	}
	defer rows.Close()
	var out []mnemo.Neighbor
	for rows.Next() {
		var typ, props string
		var strength float64
		var updated int64
		var outgoing bool
		m, _, err := s.scanMemory(rows, &typ, &strength, &props, &updated, &outgoing)
		if err != nil {
			return nil, err
		}
		rel := mnemo.Relation{Type: mnemo.RelationType(typ), Strength: strength, UpdatedAt: fromMicros(updated), From: id, To: m.ID}
		if !outgoing {
			rel.From, rel.To = m.ID, id
		}
		if err := json.Unmarshal([]byte(props), &rel.Props); err != nil {
			return nil, err
		}
		out = append(out, mnemo.Neighbor{Relation: rel, Memory: m, Outgoing: outgoing})
	}
	return out, rows.Err()
}

// Stats returns the counters and the bytes the tenant's files take on disk.
func (s *Store) Stats(ctx context.Context) (mnemo.TenantStats, error) {
	var st mnemo.TenantStats
	rows, err := s.db.reader.QueryContext(ctx, `SELECT name, value FROM counters`)
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
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(s.db.path + suffix); err == nil {
			st.StorageBytes += fi.Size()
		}
	}
	return st, rows.Err()
}

// Relations returns relations of the given types, newest first.
func (s *Store) Relations(ctx context.Context, types []mnemo.RelationType, limit int) ([]mnemo.Relation, error) {
	where, args := "1", []any{}
	if len(types) > 0 {
		list, _ := json.Marshal(types)
		where, args = `r.type IN (SELECT value FROM json_each(?))`, append(args, string(list))
	}
	rows, err := s.db.reader.QueryContext(ctx, `SELECT a.id, b.id, r.type, r.strength, r.props, r.updated_at
		FROM relations r JOIN memories a ON a.rid = r.src JOIN memories b ON b.rid = r.dst
		WHERE `+where+` ORDER BY r.updated_at DESC, a.id, b.id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("relations: %w", err)
	}
	defer rows.Close()
	var out []mnemo.Relation
	for rows.Next() {
		var rel mnemo.Relation
		var typ, props string
		var updated int64
		if err := rows.Scan(&rel.From, &rel.To, &typ, &rel.Strength, &props, &updated); err != nil {
			return nil, err
		}
		rel.Type, rel.UpdatedAt = mnemo.RelationType(typ), fromMicros(updated)
		if err := json.Unmarshal([]byte(props), &rel.Props); err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	return out, rows.Err()
}
