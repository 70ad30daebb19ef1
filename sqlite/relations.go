package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mnemohq/mnemo"
)

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

// relate creates or updates relations (MERGE on from, type, to) inside a
// write; both ends must exist.
func relate(ctx context.Context, tx *txn, rels []mnemo.Relation) error {
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
			return fmt.Errorf("relate: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mnemo.Errorf(mnemo.ENOTFOUND, "One or both memories do not exist")
		}
	}
	return nil
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

// unmarshalProps decodes stored relation properties keeping numbers as
// json.Number, so that an export writes them with the digits stored.
func unmarshalProps(raw string, dst *map[string]any) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("relation properties: %w", err)
	}
	return nil
}
