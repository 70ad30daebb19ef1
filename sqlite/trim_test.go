package sqlite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// trimVersion is the schema version trimToLimits produces, wherever it
// stands in the list.
func trimVersion(t *testing.T) int {
	t.Helper()
	want := reflect.ValueOf(trimToLimits).Pointer()
	for i, m := range storeMigrations {
		if reflect.ValueOf(m).Pointer() == want {
			return i + 1
		}
	}
	t.Fatal("trimToLimits is not a store migration")
	return 0
}

// oldStore writes a database at the schema version before the trim, holding
// what the limits did not yet refuse: memory "over" (60 tags, one of 300
// segments; a 100-character type; 70 KB and 40-deep metadata), its vector
// with +Inf, a relation with 70 KB of properties; and memory "fine",
// within every limit, with a finite vector.
func oldStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "memories.db")
	writeOldStore(t, path)
	return path
}

func writeOldStore(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	d, err := openDB(ctx, path, 1, 0, storeMigrations[:trimVersion(t)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	tags := make([]string, 60)
	for i := range tags {
		tags[i] = fmt.Sprintf("Tag%d", i)
	}
	tags[0] = strings.Repeat("seg:", 300)
	meta := map[string]any{"keep": "me", "big": strings.Repeat("b", 70000), "deep": nestedObj(40)}
	insert := func(id, content string, tags []string, typ string, meta map[string]any) int64 {
		tagsJSON, _ := json.Marshal(tags)
		metaJSON, _ := json.Marshal(meta)
		res, err := d.writer.ExecContext(ctx, insertMemory, id, content, string(tagsJSON), strings.Join(tags, " "), 0.5, typ, 0.9,
			1, 1, nil, 1, 1, string(metaJSON), false)
		if err != nil {
			t.Fatal(err)
		}
		rid, _ := res.LastInsertId()
		if err := writeTags(ctx, d.writer, rid, tags, true); err != nil {
			t.Fatal(err)
		}
		return rid
	}
	over := insert("over", "an old memory from before the limits", tags, strings.Repeat("T", 100), meta)
	fine := insert("fine", "a memory within every limit", []string{"project:alpha", "x"}, "Decision", map[string]any{"k": 1.0})
	for rid, vec := range map[int64][]float32{over: {1, float32(math.Inf(1)), 0, 0}, fine: {0, 1, 0, 0}} {
		if _, err := d.writer.ExecContext(ctx, `INSERT INTO vectors (rid, model, vec) VALUES (?, 'm1', ?)`, rid, encodeVector(vec)); err != nil {
			t.Fatal(err)
		}
	}
	props, _ := json.Marshal(map[string]any{"reason": strings.Repeat("r", 70000), "resolution": "kept"})
	if _, err := d.writer.ExecContext(ctx, `INSERT INTO relations (src, dst, type, strength, props, updated_at) VALUES (?, ?, 'CONTRADICTS', 0.5, ?, 1)`,
		over, fine, string(props)); err != nil {
		t.Fatal(err)
	}
}

func nestedObj(n int) map[string]any {
	obj := map[string]any{}
	for range n - 1 {
		obj = map[string]any{"a": obj}
	}
	return obj
}

func count(t *testing.T, s *Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.db.reader.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMigrationTrimsToLimits: a database created at the old schema
// version, holding memories beyond the input limits, is trimmed to them
// when it migrates, and the log says how many.
func TestMigrationTrimsToLimits(t *testing.T) {
	ctx := context.Background()
	path := oldStore(t)
	var logs bytes.Buffer
	s, err := openStore(ctx, path, "m1", 4, mnemo.DefaultLimits, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := userVersion(t, path); v != len(storeMigrations) {
		t.Fatalf("user_version = %d, want %d", v, len(storeMigrations))
	}

	var entry struct {
		Msg       string `json:"msg"`
		DB        string `json:"db"`
		Memories  int    `json:"memories"`
		Vectors   int    `json:"vectors_dropped"`
		Relations int    `json:"relations"`
	}
	if err := json.Unmarshal(logs.Bytes(), &entry); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	if entry.Msg != "trimmed data stored beyond the input limits" || entry.DB != path || entry.Memories != 1 || entry.Vectors != 1 || entry.Relations != 1 {
		t.Fatalf("log = %+v", entry)
	}

	m, err := s.Memory(ctx, "over")
	if err != nil {
		t.Fatal(err)
	}
	if err := mnemo.DefaultLimits.CheckTags(m.Tags); err != nil || len(m.Tags) != 50 {
		t.Errorf("%d tags after the trim: %v", len(m.Tags), err)
	}
	if want := strings.TrimSuffix(strings.Repeat("seg:", 10), ":"); m.Tags[0] != want || m.Tags[49] != "Tag49" {
		t.Errorf("tags = %q ... %q", m.Tags[0], m.Tags[49])
	}
	if m.Type != strings.Repeat("T", 64) {
		t.Errorf("type = %q", m.Type)
	}
	if _, ok := m.Metadata["big"]; ok || m.Metadata["keep"] != "me" {
		t.Errorf("metadata keys after the trim: big kept=%v, keep=%v", ok, m.Metadata["keep"])
	}
	if err := mnemo.DefaultLimits.CheckObject("'metadata'", m.Metadata); err != nil {
		t.Errorf("metadata after the trim: %v", err)
	}
	// The tag rows follow the trimmed tags: 10 prefixes for the first tag,
	// one for each other; nothing of a dropped tag.
	if n := count(t, s, `SELECT count(*) FROM memory_tag_prefixes p JOIN memories m ON m.rid = p.rid WHERE m.id = 'over'`); n != 10+49 {
		t.Errorf("%d prefix rows, want 59", n)
	}
	if n := count(t, s, `SELECT count(*) FROM memory_tags t JOIN memories m ON m.rid = t.rid WHERE m.id = 'over'`); n != 50 {
		t.Errorf("%d tag rows, want 50", n)
	}
	for tag, want := range map[string]int{"tag55": 0, "tag49": 1} {
		if hits, err := s.Keyword(ctx, []string{tag}, mnemo.Filter{}, 10); err != nil || len(hits) != want {
			t.Errorf("keyword %q: %d hits, %v; want %d (the full-text index follows the tags)", tag, len(hits), err, want)
		}
	}

	// The infinite vector is gone, so vector search works again; the
	// finite one stays.
	if n := count(t, s, `SELECT count(*) FROM vectors`); n != 1 {
		t.Errorf("%d vectors, want 1", n)
	}
	if hits, err := s.Nearest(ctx, []float32{0, 1, 0, 0}, mnemo.Filter{}, 5); err != nil || len(hits) != 1 || hits[0].Memory.ID != "fine" {
		t.Errorf("Nearest = %v, %v", hits, err)
	}
	if un, err := s.Unembedded(ctx, 10); err != nil || len(un) != 1 || un[0].ID != "over" {
		t.Errorf("Unembedded = %v, %v; want the memory whose vector was dropped, for the backfill", un, err)
	}

	rels, err := s.Relations(ctx, []mnemo.RelationType{"CONTRADICTS"}, 10)
	if err != nil || len(rels) != 1 {
		t.Fatalf("relations = %v, %v", rels, err)
	}
	if _, ok := rels[0].Props["reason"]; ok || rels[0].Props["resolution"] != "kept" {
		t.Errorf("relation properties after the trim: %v", rels[0].Props)
	}

	// The memory within the limits is as it was.
	f, err := s.Memory(ctx, "fine")
	if err != nil || !reflect.DeepEqual(f.Tags, []string{"project:alpha", "x"}) || f.Type != "Decision" || f.Metadata["k"] != 1.0 {
		t.Errorf("fine = %+v, %v", f, err)
	}

	// The counters kept up: the bytes are a recount of what is left.
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bytesNow := recount(t, s)
	if st.Memories != 2 || st.Vectors != 1 || st.Relations != 1 || st.StoredBytes != bytesNow {
		t.Errorf("stats = %+v, want 2 memories, 1 vector, 1 relation, %d bytes", st, bytesNow)
	}

	// It runs once.
	s.Close()
	logs.Reset()
	s2, err := openStore(ctx, path, "m1", 4, mnemo.DefaultLimits, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if logs.Len() != 0 {
		t.Errorf("second open logged %q", logs.String())
	}
}

// TestMigrationTrimsToConfiguredLimits: the trim uses the limits the
// server runs with, and logs nothing when nothing was beyond them.
func TestMigrationTrimsToConfiguredLimits(t *testing.T) {
	ctx := context.Background()
	path := oldStore(t)
	s, err := openStore(ctx, path, "m1", 4, mnemo.Limits{MaxTags: 70, MaxTagSegments: 400, MaxTagBytes: 2000, MaxTypeLength: 100,
		MaxMetadataBytes: 1 << 20, MaxMetadataDepth: 50}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := s.Memory(ctx, "over")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tags) != 60 || m.Tags[0] != strings.Repeat("seg:", 300) || len(m.Type) != 100 || m.Metadata["big"] == nil {
		t.Errorf("a memory within the configured limits was trimmed: %d tags, type %d, big kept %v", len(m.Tags), len(m.Type), m.Metadata["big"] != nil)
	}
	if n := count(t, s, `SELECT count(*) FROM vectors`); n != 1 {
		t.Errorf("%d vectors, want 1: a non-finite vector is dropped whatever the limits", n)
	}
}

// TestStoresTrimToTheirLimits: a tenant's store, opened by the pool, trims
// to the pool's limits (the server's settings) and names the tenant in the
// log.
func TestStoresTrimToTheirLimits(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	reg := openRegistry(t, dataDir)
	mustCreateTenant(t, reg, &mnemo.Tenant{ID: "acme", Name: "acme", Status: mnemo.TenantActive, CreatedAt: base, UpdatedAt: base}, "acme-token")
	if err := os.MkdirAll(filepath.Join(dataDir, "tenants", "acme"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeOldStore(t, filepath.Join(dataDir, "tenants", "acme", "memories.db"))
	var logs bytes.Buffer
	p, err := NewStores(ctx, dataDir, testModel, 4, reg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Limits = mnemo.Limits{MaxTags: 5}.OrDefaults()
	st, release := mustOpen(t, p, "acme")
	defer release()
	m, err := st.Memory(ctx, "over")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tags) != 5 {
		t.Errorf("%d tags, want the pool's limit of 5", len(m.Tags))
	}
	if !strings.Contains(logs.String(), `"msg":"trimmed data stored beyond the input limits","tenant":"acme"`) ||
		!strings.Contains(logs.String(), `"memories":1,"vectors_dropped":1,"relations":1`) {
		t.Errorf("log = %s", logs.String())
	}
}

// A store's migration finishes even when the request that opens it is out
// of time or gone: rolled back, it would start over with every request and
// never finish for a large tenant.
func TestStoresMigrateBeyondTheRequestsBudget(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	reg := openRegistry(t, dataDir)
	mustCreateTenant(t, reg, &mnemo.Tenant{ID: "acme", Name: "acme", Status: mnemo.TenantActive, CreatedAt: base, UpdatedAt: base}, "acme-token")
	if err := os.MkdirAll(filepath.Join(dataDir, "tenants", "acme"), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dataDir, "tenants", "acme", "memories.db")
	writeOldStore(t, path)
	p, err := NewStores(ctx, dataDir, testModel, 4, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spent, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	st, release, err := p.Open(spent, "acme")
	if err != nil {
		t.Fatalf("opening with the request's time spent: %v", err)
	}
	release()
	if _, err := st.Memory(ctx, "over"); err != nil {
		t.Fatal(err)
	}
	if v := userVersion(t, path); v != len(storeMigrations) {
		t.Fatalf("schema version %d after the open, want %d", v, len(storeMigrations))
	}
}
