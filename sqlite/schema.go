package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// storeMigrations build a tenant's memories.db; each index+1 is the schema
// version it produces.
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
	// Version 3: what was stored before the input limits (mnemo.Limits)
	// existed is trimmed to them, and the log says how much.
	trimToLimits,
	// Version 4: the bytes counter counts every row and index entry a
	// memory causes, so that no shape of input stores more than its quota
	// (tags' prefix rows and the full-text index were not counted).
	storedBytesV4,
}

// The bytes each row costs, as SQL over the row (r is new or old). The
// text columns are counted once for the row and once more where an index
// repeats them; fixed sizes cover ids, numbers and index entries.
var rowBytes = map[string]func(r string) string{
	// The row, the full-text index (content, tags_text), the id's unique
	// index, and the ts, updated_at and importance indexes.
	"memories": func(r string) string {
		return fmt.Sprintf(`2 * octet_length(%[1]s.content) + octet_length(%[1]s.tags) + 2 * octet_length(%[1]s.tags_text)
			+ octet_length(%[1]s.metadata) + octet_length(%[1]s.type) + 2 * octet_length(%[1]s.id) + 160`, r)
	},
	// The row and the index by rid.
	"memory_tags":         func(r string) string { return fmt.Sprintf(`2 * (octet_length(%s.tag) + 8)`, r) },
	"memory_tag_prefixes": func(r string) string { return fmt.Sprintf(`2 * (octet_length(%s.prefix) + 8)`, r) },
	"vectors":             func(r string) string { return fmt.Sprintf(`length(%[1]s.vec) + octet_length(%[1]s.model) + 8`, r) },
	// The row and the index by dst.
	"relations": func(r string) string {
		return fmt.Sprintf(`2 * octet_length(%[1]s.type) + octet_length(%[1]s.props) + 56`, r)
	},
}

// sizedColumns are the columns rowBytes reads: an update of any other
// (an access time) changes no size.
var sizedColumns = map[string]string{"memories": "content, tags, tags_text, metadata, type, id", "memory_tags": "tag",
	"memory_tag_prefixes": "prefix", "vectors": "vec, model", "relations": "type, props"}

// storedBytesV4 replaces the bytes triggers and recounts the bytes.
func storedBytesV4(ctx context.Context, tx *sql.Tx) error {
	stmts := []string{}
	var sum []string
	for _, table := range slices.Sorted(maps.Keys(rowBytes)) {
		cost := rowBytes[table]
		short := strings.TrimPrefix(strings.TrimPrefix(table, "memory_"), "memories")
		if short == "" {
			short = "memories"
		}
		for _, op := range []string{"ai", "ad", "au"} {
			stmts = append(stmts, fmt.Sprintf(`DROP TRIGGER IF EXISTS bytes_%s_%s`, short, op))
		}
		stmts = append(stmts,
			fmt.Sprintf(`CREATE TRIGGER bytes_%s_ai AFTER INSERT ON %s BEGIN UPDATE counters SET value = value + (%s) WHERE name = 'bytes'; END`, short, table, cost("new")),
			fmt.Sprintf(`CREATE TRIGGER bytes_%s_ad AFTER DELETE ON %s BEGIN UPDATE counters SET value = value - (%s) WHERE name = 'bytes'; END`, short, table, cost("old")),
			fmt.Sprintf(`CREATE TRIGGER bytes_%s_au AFTER UPDATE OF %s ON %s BEGIN UPDATE counters SET value = value - (%s) + (%s) WHERE name = 'bytes'; END`,
				short, sizedColumns[table], table, cost("old"), cost("new")))
		sum = append(sum, fmt.Sprintf(`(SELECT coalesce(sum(%s), 0) FROM %s r)`, cost("r"), table))
	}
	stmts = append(stmts, `UPDATE counters SET value = `+strings.Join(sum, " + ")+` WHERE name = 'bytes'`)
	return execAll(stmts...)(ctx, tx)
}
