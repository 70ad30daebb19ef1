package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"

	"github.com/mnemohq/mnemo"
)

// Snapshot opens one read transaction over the whole store: a consistent
// view while writes go on (WAL keeps them from waiting on it).
func (s *Store) Snapshot(ctx context.Context, withVectors bool) (mnemo.Snapshot, error) {
	tx, err := s.db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	sn := &snapshot{ctx: ctx, s: s, tx: tx, withVectors: withVectors}
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM memories), (SELECT COUNT(*) FROM relations)`).Scan(&sn.memories, &sn.relations); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return sn, nil
}

type snapshot struct {
	ctx                 context.Context
	s                   *Store
	tx                  *sql.Tx
	withVectors         bool
	memories, relations int64
}

func (sn *snapshot) Counts() (memories, relations int64) { return sn.memories, sn.relations }

func (sn *snapshot) Close() error { return sn.tx.Rollback() }

// Memories yields the memories in the order they were stored.
func (sn *snapshot) Memories() iter.Seq2[*mnemo.Memory, error] {
	return func(yield func(*mnemo.Memory, error) bool) {
		vecCols := `NULL, NULL`
		if sn.withVectors {
			vecCols = `v.model, v.vec`
		}
		rows, err := sn.tx.QueryContext(sn.ctx, `SELECT `+memoryColumns+`, `+vecCols+` FROM memories m
			LEFT JOIN vectors v ON v.rid = m.rid ORDER BY m.rid`)
		if err != nil {
			yield(nil, fmt.Errorf("snapshot memories: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var model sql.NullString
			var blob []byte
			m, _, err := sn.s.scanMemory(rows, &model, &blob)
			if err != nil {
				yield(nil, fmt.Errorf("snapshot memories: %w", err))
				return
			}
			if model.Valid && blob != nil {
				m.Embedding, m.EmbeddingModel = decodeVector(blob), model.String
			}
			if !yield(m, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, fmt.Errorf("snapshot memories: %w", err))
		}
	}
}

// Relations yields the relations by (from, type, to).
func (sn *snapshot) Relations() iter.Seq2[mnemo.Relation, error] {
	return func(yield func(mnemo.Relation, error) bool) {
		rows, err := sn.tx.QueryContext(sn.ctx, `SELECT a.id, b.id, r.type, r.strength, r.props, r.updated_at
			FROM relations r JOIN memories a ON a.rid = r.src JOIN memories b ON b.rid = r.dst ORDER BY r.src, r.type, r.dst`)
		if err != nil {
			yield(mnemo.Relation{}, fmt.Errorf("snapshot relations: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var rel mnemo.Relation
			var typ, props string
			var updated int64
			if err := rows.Scan(&rel.From, &rel.To, &typ, &rel.Strength, &props, &updated); err != nil {
				yield(mnemo.Relation{}, fmt.Errorf("snapshot relations: %w", err))
				return
			}
			rel.Type, rel.UpdatedAt = mnemo.RelationType(typ), fromMicros(updated)
			if err := unmarshalProps(props, &rel.Props); err != nil {
				yield(mnemo.Relation{}, err)
				return
			}
			if !yield(rel, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(mnemo.Relation{}, fmt.Errorf("snapshot relations: %w", err))
		}
	}
}

// mergeRelation imports a relation: a newer one replaces an existing one.
const mergeRelation = `INSERT INTO relations (src, dst, type, strength, props, updated_at) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (src, type, dst) DO UPDATE SET strength = excluded.strength, props = excluded.props, updated_at = excluded.updated_at
	WHERE excluded.updated_at > relations.updated_at`

// Import writes memories and relations in one transaction. A memory whose
// id already exists is skipped, so importing the same file twice creates
// nothing the second time. Relations merge on (from, type, to); an existing
// relation is updated only when the imported one is newer, so an old file
// never rolls back a newer edge. Every relation end must exist, in mems or
// in the store, or nothing is written (ENOTFOUND). A memory's Embedding, if
// set, is stored with its EmbeddingModel. It returns the ids created, in
// order, and how many relations are new.
func (s *Store) Import(ctx context.Context, mems []*mnemo.Memory, rels []mnemo.Relation, quotas mnemo.Quotas) (created []string, relationsCreated int, err error) {
	if err := s.db.disk.Load().refuse(); err != nil {
		return nil, 0, err
	}
	_, err = s.write(ctx, quotas, func(tx *txn, changes *[]indexChange) error {
		created, relationsCreated = nil, 0
		rids := map[string]int64{}
		for _, m := range mems {
			args, err := memoryArgs(m)
			if err != nil {
				return mnemo.Errorf(mnemo.EINVALID, "memory %s: %v", m.ID, err)
			}
			res, err := tx.ExecContext(ctx, insertMemory+` ON CONFLICT (id) DO NOTHING`, args...)
			if err != nil {
				return fmt.Errorf("import memory %s: %w", m.ID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // already there: skipped
			}
			rid, _ := res.LastInsertId()
			rids[m.ID] = rid
			created = append(created, m.ID)
			if err := s.writeRest(ctx, tx, rid, m, true, changes); err != nil {
				return fmt.Errorf("import memory %s: %w", m.ID, err)
			}
		}
		lookup := func(id string) (int64, error) {
			if rid, ok := rids[id]; ok {
				return rid, nil
			}
			var rid int64
			err := tx.QueryRowContext(ctx, `SELECT rid FROM memories WHERE id = ?`, id).Scan(&rid)
			if errors.Is(err, sql.ErrNoRows) {
				return 0, mnemo.Errorf(mnemo.ENOTFOUND, "Memory %s of a relation does not exist", id)
			}
			rids[id] = rid
			return rid, err
		}
		var before, after int64
		if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'relations'`).Scan(&before); err != nil {
			return err
		}
		for _, r := range rels {
			src, err := lookup(r.From)
			if err != nil {
				return err
			}
			dst, err := lookup(r.To)
			if err != nil {
				return err
			}
			propsJSON, err := relationProps(r)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, mergeRelation, src, dst, string(r.Type), r.Strength, string(propsJSON), micros(r.UpdatedAt)); err != nil {
				return fmt.Errorf("import relation: %w", err)
			}
		}
		if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'relations'`).Scan(&after); err != nil {
			return err
		}
		relationsCreated = int(after - before)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	s.forgetTouches(nil, created)
	return created, relationsCreated, nil
}
