package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mnemohq/mnemo"
)

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
	if err := s.db.disk.Load().refuse(); err != nil {
		return err // a vector is new data; the backfill tries again
	}
	_, err := s.write(ctx, mnemo.Quotas{}, func(tx *txn, changes *[]indexChange) error {
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
	return err
}

// relationProps encodes a relation's extra properties as stored.
