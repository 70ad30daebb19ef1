package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mnemohq/mnemo"
)

// Export format: NDJSON. Line 1 is a header; then one line per memory, in
// the order they were stored; then one line per relation. See
// docs/operations.md.
const (
	ExportFormat  = "mnemo-export"
	ExportVersion = 1
)

// Export writes the store as NDJSON to w: the header, every memory with all
// of its fields (and, withVectors, its embedding and model), then every
// relation. It reads inside one transaction, so the export is a consistent
// snapshot while writes go on (WAL keeps them from waiting on it).
// tenantID and at only fill the header: the store knows only its own data.
func (s *Store) Export(ctx context.Context, w io.Writer, tenantID string, withVectors bool, at time.Time) error {
	tx, err := s.db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer tx.Rollback()
	var memories, relations int64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM memories), (SELECT COUNT(*) FROM relations)`).Scan(&memories, &relations); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	header := map[string]any{"format": ExportFormat, "version": ExportVersion, "tenant_id": tenantID,
		"exported_at": mnemo.FormatTime(at), "memories": memories, "relations": relations,
		"vectors": withVectors, "embedding_model": s.model}
	if err := enc.Encode(header); err != nil {
		return err
	}

	vecCols := `NULL, NULL`
	if withVectors {
		vecCols = `v.model, v.vec`
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+memoryColumns+`, `+vecCols+` FROM memories m
		LEFT JOIN vectors v ON v.rid = m.rid ORDER BY m.rid`)
	if err != nil {
		return fmt.Errorf("export memories: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var model sql.NullString
		var blob []byte
		m, _, err := s.scanMemory(rows, &model, &blob)
		if err != nil {
			return fmt.Errorf("export memories: %w", err)
		}
		line, err := memoryLine(m, model, blob)
		if err != nil {
			return err
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export memories: %w", err)
	}
	rows.Close()

	rows, err = tx.QueryContext(ctx, `SELECT a.id, b.id, r.type, r.strength, r.props, r.updated_at
		FROM relations r JOIN memories a ON a.rid = r.src JOIN memories b ON b.rid = r.dst ORDER BY r.src, r.type, r.dst`)
	if err != nil {
		return fmt.Errorf("export relations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var from, to, typ, props string
		var strength float64
		var updated int64
		if err := rows.Scan(&from, &to, &typ, &strength, &props, &updated); err != nil {
			return fmt.Errorf("export relations: %w", err)
		}
		if err := enc.Encode(map[string]any{"kind": "relation", "memory1_id": from, "memory2_id": to, "type": typ,
			"strength": strength, "properties": json.RawMessage(props), "updated_at": mnemo.FormatTime(fromMicros(updated))}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export relations: %w", err)
	}
	return bw.Flush()
}

// memoryLine is {"kind":"memory", <the fields of Memory.MarshalJSON>,
// "embedding":[...], "embedding_model":"..."}, the last two only when the
// memory has a vector and vectors were asked for.
func memoryLine(m *mnemo.Memory, model sql.NullString, blob []byte) ([]byte, error) {
	body, err := m.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("export memory %s: %w", m.ID, err)
	}
	line := make([]byte, 0, len(body)+32+len(blob)*3)
	line = append(line, `{"kind":"memory",`...)
	line = append(line, body[1:len(body)-1]...)
	if model.Valid && blob != nil {
		vec, err := json.Marshal(decodeVector(blob))
		if err != nil {
			return nil, fmt.Errorf("export memory %s vector: %w", m.ID, err)
		}
		modelJSON, _ := json.Marshal(model.String)
		line = append(line, `,"embedding":`...)
		line = append(line, vec...)
		line = append(line, `,"embedding_model":`...)
		line = append(line, modelJSON...)
	}
	return append(line, '}', '\n'), nil
}

// Import writes memories and relations in one transaction. A memory whose
// id already exists is skipped, so importing the same file twice creates
// nothing the second time. Relations merge on (from, type, to); an existing
// relation is updated only when the imported one is newer, so an old file
// never rolls back a newer edge. Every relation end must exist, in mems or
// in the store, or nothing is written (ENOTFOUND). A memory's Embedding, if
// set, is stored with its EmbeddingModel. It returns the ids created, in
// order, and how many relations are new.
func (s *Store) Import(ctx context.Context, mems []*mnemo.Memory, rels []mnemo.Relation) (created []string, relationsCreated int, err error) {
	err = s.write(ctx, func(tx *sql.Tx, changes *[]indexChange) error {
		created, relationsCreated = nil, 0
		insert, err := tx.PrepareContext(ctx, `INSERT INTO memories (id, content, tags, tags_text, importance, type, confidence, ts, t_valid, t_invalid, updated_at, last_accessed, metadata, archived)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer insert.Close()
		rids := map[string]int64{}
		for _, m := range mems {
			args, err := memoryArgs(m)
			if err != nil {
				return mnemo.Errorf(mnemo.EINVALID, "memory %s: %v", m.ID, err)
			}
			res, err := insert.ExecContext(ctx, args...)
			if err != nil {
				return fmt.Errorf("import memory %s: %w", m.ID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // already there: skipped
			}
			rid, _ := res.LastInsertId()
			rids[m.ID] = rid
			created = append(created, m.ID)
			if err := writeTags(ctx, tx, rid, m.Tags); err != nil {
				return fmt.Errorf("import tags: %w", err)
			}
			if len(m.Embedding) > 0 {
				if err := upsertVector(ctx, tx, rid, m.Embedding, m.EmbeddingModel); err != nil {
					return fmt.Errorf("import vector: %w", err)
				}
				if m.EmbeddingModel == s.model {
					*changes = append(*changes, indexChange{rid: rid, vec: m.Embedding})
				}
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
		merge, err := tx.PrepareContext(ctx, `INSERT INTO relations (src, dst, type, strength, props, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (src, type, dst) DO UPDATE SET strength = excluded.strength, props = excluded.props, updated_at = excluded.updated_at
			WHERE excluded.updated_at > relations.updated_at`)
		if err != nil {
			return err
		}
		defer merge.Close()
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
			if _, err := merge.ExecContext(ctx, src, dst, string(r.Type), r.Strength, string(propsJSON), micros(r.UpdatedAt)); err != nil {
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
	return created, relationsCreated, nil
}
