package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"

	"github.com/mnemohq/mnemo"
)

// storeEnv is what a tenant store's migrations need besides the database:
// the input limits to trim to, and where to say what they did. It travels
// in the context, so that the migration list stays a plain list.
type storeEnv struct {
	limits mnemo.Limits
	logger *slog.Logger
}

type storeEnvKey struct{}

func withStoreEnv(ctx context.Context, env storeEnv) context.Context {
	return context.WithValue(ctx, storeEnvKey{}, env)
}

// storeEnvFrom returns the context's env, or the default limits and no
// logging.
func storeEnvFrom(ctx context.Context) storeEnv {
	env, _ := ctx.Value(storeEnvKey{}).(storeEnv)
	env.limits = env.limits.OrDefaults()
	if env.logger == nil {
		env.logger = slog.New(slog.DiscardHandler)
	}
	return env
}

// trimToLimits is a migration: what was stored before the input limits
// existed is cut to them (mnemo.Limits.TrimMemory and TrimObject), so that
// no stored memory costs more than a new one may: a memory's tags, type and
// metadata, with its tag rows rebuilt; a relation's properties; and a
// vector with a value that is not finite (which failed every recall and
// export of the tenant) is dropped, for the backfill to compute again.
func trimToLimits(ctx context.Context, tx *sql.Tx) error {
	env := storeEnvFrom(ctx)
	memories, err := trimMemories(ctx, tx, env.limits)
	if err != nil {
		return fmt.Errorf("trim memories: %w", err)
	}
	vectors, err := dropNonFiniteVectors(ctx, tx)
	if err != nil {
		return fmt.Errorf("drop non-finite vectors: %w", err)
	}
	relations, err := trimRelations(ctx, tx, env.limits)
	if err != nil {
		return fmt.Errorf("trim relations: %w", err)
	}
	if memories+vectors+relations > 0 {
		env.logger.Warn("trimmed data stored beyond the input limits", "memories", memories, "vectors_dropped", vectors, "relations", relations)
	}
	return nil
}

func trimMemories(ctx context.Context, tx *sql.Tx, lim mnemo.Limits) (int, error) {
	type fix struct {
		rid int64
		m   *mnemo.Memory
	}
	var fixes []fix
	rows, err := tx.QueryContext(ctx, `SELECT rid, id, tags, type, metadata FROM memories`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var rid int64
		var m mnemo.Memory
		var tags, meta string
		if err := rows.Scan(&rid, &m.ID, &tags, &m.Type, &meta); err != nil {
			rows.Close()
			return 0, err
		}
		if err := json.Unmarshal([]byte(tags), &m.Tags); err != nil {
			rows.Close()
			return 0, fmt.Errorf("memory %s tags: %w", m.ID, err)
		}
		if m.Metadata, err = decodeObject(meta); err != nil {
			rows.Close()
			return 0, fmt.Errorf("memory %s metadata: %w", m.ID, err)
		}
		if lim.TrimMemory(&m) {
			fixes = append(fixes, fix{rid, &m})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, f := range fixes {
		tags, _ := json.Marshal(f.m.Tags)
		meta, err := json.Marshal(f.m.Metadata)
		if err != nil {
			return 0, fmt.Errorf("memory %s metadata: %w", f.m.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE memories SET tags = ?, tags_text = ?, type = ?, metadata = ? WHERE rid = ?`,
			string(tags), strings.Join(f.m.Tags, " "), f.m.Type, string(meta), f.rid); err != nil {
			return 0, err
		}
		if err := writeTags(ctx, tx, f.rid, f.m.Tags, false); err != nil {
			return 0, err
		}
	}
	return len(fixes), nil
}

func dropNonFiniteVectors(ctx context.Context, tx *sql.Tx) (int, error) {
	var bad []int64
	rows, err := tx.QueryContext(ctx, `SELECT rid, vec FROM vectors`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var rid int64
		var blob []byte
		if err := rows.Scan(&rid, &blob); err != nil {
			rows.Close()
			return 0, err
		}
		for _, f := range decodeVector(blob) {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				bad = append(bad, rid)
				break
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, rid := range bad {
		if _, err := tx.ExecContext(ctx, `DELETE FROM vectors WHERE rid = ?`, rid); err != nil {
			return 0, err
		}
	}
	return len(bad), nil
}

func trimRelations(ctx context.Context, tx *sql.Tx, lim mnemo.Limits) (int, error) {
	type fix struct {
		src, dst int64
		typ      string
		props    []byte
	}
	var fixes []fix
	rows, err := tx.QueryContext(ctx, `SELECT src, dst, type, props FROM relations`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var f fix
		var raw string
		if err := rows.Scan(&f.src, &f.dst, &f.typ, &raw); err != nil {
			rows.Close()
			return 0, err
		}
		props, err := decodeObject(raw)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("relation properties: %w", err)
		}
		if cut, changed := lim.TrimObject(props); changed {
			if f.props, err = json.Marshal(cut); err != nil {
				rows.Close()
				return 0, err
			}
			fixes = append(fixes, f)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, f := range fixes {
		if _, err := tx.ExecContext(ctx, `UPDATE relations SET props = ? WHERE src = ? AND type = ? AND dst = ?`,
			string(f.props), f.src, f.typ, f.dst); err != nil {
			return 0, err
		}
	}
	return len(fixes), nil
}

// decodeObject reads a stored JSON object; numbers keep their digits, so
// that what is kept is written back as it was.
func decodeObject(raw string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	err := dec.Decode(&obj)
	return obj, err
}
