package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/sqlite"
)

const testModel = "m1"

var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func hours(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }

// openStore opens a fresh store in a temporary directory and closes it when
// the test ends.
func openStore(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "memories.db")
	s, err := sqlite.OpenStore(context.Background(), path, testModel, 4)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// mem returns a memory with every field set to a deterministic value.
func mem(id, content string, ts time.Time, tags ...string) *mnemo.Memory {
	if tags == nil {
		tags = []string{}
	}
	return &mnemo.Memory{
		ID:           id,
		Content:      content,
		Tags:         tags,
		Importance:   0.5,
		Type:         "Context",
		Confidence:   0.9,
		Timestamp:    ts,
		TValid:       ts,
		UpdatedAt:    ts,
		LastAccessed: ts,
		Metadata:     map[string]any{},
	}
}

func withVec(m *mnemo.Memory, model string, v ...float32) *mnemo.Memory {
	m.Embedding, m.EmbeddingModel = v, model
	return m
}

// stored is what reading m back must return: everything but the write-only
// embedding fields.
func stored(m *mnemo.Memory) *mnemo.Memory {
	c := *m
	c.Embedding, c.EmbeddingModel = nil, ""
	return &c
}

func mustCreate(t *testing.T, s *sqlite.Store, mems ...*mnemo.Memory) {
	t.Helper()
	if err := create(context.Background(), s, mems); err != nil {
		t.Fatalf("Create: %v", err)
	}
}

func mustAssociate(t *testing.T, s *sqlite.Store, rels ...mnemo.Relation) {
	t.Helper()
	if err := relate(context.Background(), s, rels); err != nil {
		t.Fatalf("Associate: %v", err)
	}
}

func memIDs(mems []*mnemo.Memory) []string {
	out := []string{}
	for _, m := range mems {
		out = append(out, m.ID)
	}
	return out
}

func hitIDs(hits []mnemo.Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, h.Memory.ID)
	}
	return out
}

func sorted(ids []string) []string {
	c := append([]string{}, ids...)
	sort.Strings(c)
	return c
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got nil error, want code %s", what, code)
	}
	if got := mnemo.ErrorCode(err); got != code {
		t.Fatalf("%s: got code %s (%v), want %s", what, got, err, code)
	}
}

func listAll(t *testing.T, s *sqlite.Store, f mnemo.Filter) []string {
	t.Helper()
	mems, err := s.List(context.Background(), f, mnemo.OrderTimeAsc, 1000, 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return memIDs(mems)
}

func wantStats(t *testing.T, s *sqlite.Store, path string, memories, relations, vectors int64) {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Memories != memories || st.Relations != relations || st.Vectors != vectors {
		t.Fatalf("Stats = memories %d, relations %d, vectors %d; want %d, %d, %d",
			st.Memories, st.Relations, st.Vectors, memories, relations, vectors)
	}
	var size int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			size += fi.Size()
		}
	}
	if st.StorageBytes <= 0 || st.StorageBytes != size {
		t.Fatalf("Stats.StorageBytes = %d, want the size of the database and its WAL, %d", st.StorageBytes, size)
	}
}

// rawCount counts rows in the store's file through a separate connection.
func rawCount(t *testing.T, path, query string, args ...any) int {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestCreateAndReadRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	inv := base.Add(48*time.Hour + 123456*time.Microsecond)
	full := &mnemo.Memory{
		ID:           "full",
		Content:      "Everything set, ünïcode included",
		Tags:         []string{"Project:Alpha", "b", "A"},
		Importance:   0.75,
		Type:         "Decision",
		Confidence:   0.65,
		Timestamp:    base.Add(1500 * time.Microsecond),
		TValid:       base.Add(-time.Hour),
		TInvalid:     &inv,
		UpdatedAt:    base.Add(2 * time.Hour),
		LastAccessed: base.Add(3 * time.Hour),
		Metadata:     map[string]any{"source": "chat", "n": float64(3), "nested": map[string]any{"ok": true}, "list": []any{"x", float64(1)}},
		Archived:     true,
	}
	plain := mem("plain", "nothing special", base)
	mustCreate(t, s, withVec(full, testModel, 1, 2, 3, 4), plain)

	for _, want := range []*mnemo.Memory{full, plain} {
		got, err := s.Memory(ctx, want.ID)
		if err != nil {
			t.Fatalf("Memory(%s): %v", want.ID, err)
		}
		if !reflect.DeepEqual(got, stored(want)) {
			t.Errorf("Memory(%s)\n got %#v\nwant %#v", want.ID, got, stored(want))
		}
	}

	// Tags and metadata left nil come back empty, not null.
	bare := &mnemo.Memory{ID: "bare", Content: "bare", Timestamp: base, TValid: base, UpdatedAt: base, LastAccessed: base}
	mustCreate(t, s, bare)
	got, err := s.Memory(ctx, "bare")
	if err != nil {
		t.Fatal(err)
	}
	if got.Tags == nil || len(got.Tags) != 0 || got.Metadata == nil || len(got.Metadata) != 0 {
		t.Errorf("nil tags/metadata read back as %#v / %#v, want empty non-nil", got.Tags, got.Metadata)
	}
}

func TestCreateIsAllOrNothing(t *testing.T) {
	cases := []struct {
		name  string
		batch []string // ids; "old" already exists
	}{
		{"duplicate inside the batch", []string{"n1", "n2", "n1"}},
		{"duplicate of a stored memory", []string{"n1", "n2", "old"}},
		{"duplicate first", []string{"old", "n1", "n2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, path := openStore(t)
			mustCreate(t, s, withVec(mem("old", "existing memory", base, "keep"), testModel, 0, 0, 1, 0))
			// Load the vector index so that a leaked in-memory change would show.
			if _, err := s.Nearest(ctx, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10); err != nil {
				t.Fatal(err)
			}
			var batch []*mnemo.Memory
			for i, id := range tc.batch {
				batch = append(batch, withVec(mem(id, "unicorn batch item", hours(i+1), "batchtag"), testModel, 1, 0, 0, 0))
			}
			if err := create(ctx, s, batch); err == nil {
				t.Fatal("Create with a duplicate id: got nil error")
			}
			for _, id := range []string{"n1", "n2"} {
				_, err := s.Memory(ctx, id)
				wantCode(t, "Memory("+id+") after failed Create", err, mnemo.ENOTFOUND)
			}
			old, err := s.Memory(ctx, "old")
			if err != nil || old.Content != "existing memory" {
				t.Fatalf("old memory changed by a failed Create: %v %v", old, err)
			}
			wantStats(t, s, path, 1, 0, 1)
			hits, err := s.Keyword(ctx, []string{"unicorn"}, mnemo.Filter{}, 10)
			if err != nil || len(hits) != 0 {
				t.Fatalf("Keyword after failed Create = %v, %v; want no hits", hitIDs(hits), err)
			}
			if got := listAll(t, s, mnemo.Filter{Tags: []string{"batchtag"}}); len(got) != 0 {
				t.Fatalf("tag filter after failed Create = %v, want none", got)
			}
			nh, err := s.Nearest(ctx, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := hitIDs(nh); !reflect.DeepEqual(got, []string{"old"}) {
				t.Fatalf("Nearest after failed Create = %v, want [old]", got)
			}
			if n := rawCount(t, path, `SELECT COUNT(*) FROM memory_tags`); n != 1 {
				t.Fatalf("memory_tags rows = %d, want 1", n)
			}
		})
	}
}

func TestMemoryAndMemoriesMissing(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	mustCreate(t, s, mem("a", "alpha", hours(1)), mem("b", "beta", hours(2)))

	_, err := s.Memory(ctx, "missing")
	wantCode(t, "Memory(missing)", err, mnemo.ENOTFOUND)

	cases := []struct {
		ids  []string
		want []string
	}{
		{nil, nil},
		{[]string{}, nil},
		{[]string{"missing"}, nil},
		{[]string{"a", "missing", "b"}, []string{"a", "b"}},
		{[]string{"b", "b"}, []string{"b"}},
	}
	for _, tc := range cases {
		got, err := s.Memories(ctx, tc.ids)
		if err != nil {
			t.Fatalf("Memories(%v): %v", tc.ids, err)
		}
		if got == nil {
			t.Fatalf("Memories(%v) = nil map, want an empty map", tc.ids)
		}
		var keys []string
		for k, m := range got {
			if m.ID != k {
				t.Errorf("Memories(%v)[%s].ID = %s", tc.ids, k, m.ID)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !reflect.DeepEqual(keys, tc.want) {
			t.Errorf("Memories(%v) keys = %v, want %v", tc.ids, keys, tc.want)
		}
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	orig := withVec(mem("u", "the zebra grazes quietly", hours(1), "Old:Tag", "keep"), testModel, 1, 0, 0, 0)
	orig.Metadata = map[string]any{"old": "yes"}
	mustCreate(t, s, orig, mem("other", "unrelated filler text", hours(2)))

	inv := hours(30)
	upd := mem("u", "a giraffe eats leaves", hours(5), "New/Tag")
	upd.Importance, upd.Type, upd.Confidence = 0.9, "Insight", 0.4
	upd.TValid, upd.TInvalid, upd.UpdatedAt, upd.LastAccessed = hours(6), &inv, hours(7), hours(8)
	upd.Metadata = map[string]any{"new": float64(1)}
	upd.Archived = true
	if err := update(ctx, s, upd); err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, err := s.Memory(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, stored(upd)) {
		t.Fatalf("after Update\n got %#v\nwant %#v", got, stored(upd))
	}

	kw := []struct {
		term string
		want []string
	}{
		{"zebra", []string{}},
		{"grazes", []string{}},
		{"old", []string{}},  // old tag text
		{"keep", []string{}}, // old tag text
		{"giraffe", []string{"u"}},
		{"leaves", []string{"u"}},
		{"new", []string{"u"}}, // new tag text
	}
	for _, tc := range kw {
		hits, err := s.Keyword(ctx, []string{tc.term}, mnemo.Filter{}, 10)
		if err != nil {
			t.Fatalf("Keyword(%q): %v", tc.term, err)
		}
		if got := hitIDs(hits); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Keyword(%q) after Update = %v, want %v", tc.term, got, tc.want)
		}
	}

	tags := []struct {
		f    mnemo.Filter
		want []string
	}{
		{mnemo.Filter{Tags: []string{"old"}}, []string{}},
		{mnemo.Filter{Tags: []string{"keep"}}, []string{}},
		{mnemo.Filter{Tags: []string{"old:tag"}, TagMatch: "exact"}, []string{}},
		{mnemo.Filter{Tags: []string{"new"}}, []string{"u"}},
		{mnemo.Filter{Tags: []string{"new:tag"}}, []string{"u"}},
		{mnemo.Filter{Tags: []string{"new/tag"}, TagMatch: "exact"}, []string{"u"}},
	}
	for _, tc := range tags {
		if got := listAll(t, s, tc.f); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("List(%+v) after Update = %v, want %v", tc.f, got, tc.want)
		}
	}
	if n := rawCount(t, path, `SELECT COUNT(*) FROM memory_tags t JOIN memories m ON m.rid = t.rid WHERE m.id = 'u'`); n != 1 {
		t.Errorf("tag rows of u = %d, want 1", n)
	}
	if n := rawCount(t, path, `SELECT COUNT(*) FROM memory_tag_prefixes t JOIN memories m ON m.rid = t.rid WHERE m.id = 'u'`); n != 2 {
		t.Errorf("tag prefix rows of u = %d, want 2 (new, new:tag)", n)
	}

	// A second update that changes only the content re-indexes it too.
	upd2 := *upd
	upd2.Content = "an okapi sleeps"
	if err := update(ctx, s, &upd2); err != nil {
		t.Fatal(err)
	}
	for term, want := range map[string][]string{"giraffe": {}, "okapi": {"u"}, "new": {"u"}} {
		hits, err := s.Keyword(ctx, []string{term}, mnemo.Filter{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := hitIDs(hits); !reflect.DeepEqual(got, want) {
			t.Errorf("Keyword(%q) after content-only Update = %v, want %v", term, got, want)
		}
	}
	// Likewise a change of tags alone.
	upd3 := upd2
	upd3.Tags = []string{"New/Tag", "extra"}
	if err := update(ctx, s, &upd3); err != nil {
		t.Fatal(err)
	}
	if hits, err := s.Keyword(ctx, []string{"extra"}, mnemo.Filter{}, 10); err != nil || !reflect.DeepEqual(hitIDs(hits), []string{"u"}) {
		t.Errorf("Keyword(extra) after tags-only Update = %v, %v", hitIDs(hits), err)
	}
	if got := listAll(t, s, mnemo.Filter{Tags: []string{"extra"}}); !reflect.DeepEqual(got, []string{"u"}) {
		t.Errorf("tag filter extra after tags-only Update = %v", got)
	}
	upd3.Tags = []string{"New/Tag"}
	if err := update(ctx, s, &upd3); err != nil {
		t.Fatal(err)
	}

	// A nil Embedding keeps the stored vector.
	hits, err := s.Nearest(ctx, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := hitIDs(hits); !reflect.DeepEqual(got, []string{"u"}) {
		t.Errorf("Nearest after Update without embedding = %v, want [u]", got)
	}
	wantStats(t, s, path, 2, 0, 1)

	err = update(ctx, s, mem("missing", "x", base))
	wantCode(t, "Update(missing)", err, mnemo.ENOTFOUND)
	if _, err := s.Memory(ctx, "missing"); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Errorf("Update of a missing memory created it: %v", err)
	}
}

func TestDeleteCascades(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	mustCreate(t, s,
		withVec(mem("a", "alpha words", hours(1), "shared", "only:a"), testModel, 1, 0, 0, 0),
		withVec(mem("b", "bravo platypus", hours(2), "shared", "only:b"), testModel, 0, 1, 0, 0),
		withVec(mem("c", "charlie words", hours(3), "shared"), testModel, 0, 0, 1, 0),
	)
	mustAssociate(t, s,
		mnemo.Relation{From: "a", To: "b", Type: "RELATES_TO", Strength: 0.5, UpdatedAt: hours(4)},
		mnemo.Relation{From: "b", To: "c", Type: "LEADS_TO", Strength: 0.5, UpdatedAt: hours(5)},
		mnemo.Relation{From: "c", To: "a", Type: "RELATES_TO", Strength: 0.5, UpdatedAt: hours(6)},
	)
	// Load the index first so that the in-memory removal is exercised.
	if _, err := s.Nearest(ctx, []float32{0, 1, 0, 0}, mnemo.Filter{}, 10); err != nil {
		t.Fatal(err)
	}
	wantStats(t, s, path, 3, 3, 3)

	if err := s.Delete(ctx, "b"); err != nil {
		t.Fatalf("Delete(b): %v", err)
	}
	_, err := s.Memory(ctx, "b")
	wantCode(t, "Memory(b) after Delete", err, mnemo.ENOTFOUND)
	wantStats(t, s, path, 2, 1, 2)

	rels, err := s.Relations(ctx, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 1 || rels[0].From != "c" || rels[0].To != "a" {
		t.Errorf("Relations after Delete(b) = %+v, want only c->a", rels)
	}
	nb, err := s.Neighbors(ctx, "a", nil, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(nb) != 1 || nb[0].Memory.ID != "c" {
		t.Errorf("Neighbors(a) after Delete(b) = %v, want only c", nb)
	}
	if got := listAll(t, s, mnemo.Filter{Tags: []string{"only:b"}}); len(got) != 0 {
		t.Errorf("tag filter only:b after Delete = %v", got)
	}
	if got := listAll(t, s, mnemo.Filter{Tags: []string{"shared"}}); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Errorf("tag filter shared after Delete = %v, want [a c]", got)
	}
	hits, err := s.Keyword(ctx, []string{"platypus"}, mnemo.Filter{}, 10)
	if err != nil || len(hits) != 0 {
		t.Errorf("Keyword(platypus) after Delete = %v, %v; want none", hitIDs(hits), err)
	}
	nh, err := s.Nearest(ctx, []float32{0, 1, 0, 0}, mnemo.Filter{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := sorted(hitIDs(nh)); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Errorf("Nearest after Delete = %v, want a and c", got)
	}
	for table, want := range map[string]int{"memory_tags": 3, "memory_tag_prefixes": 4, "vectors": 2, "relations": 1, "memories": 2} {
		if n := rawCount(t, path, `SELECT COUNT(*) FROM `+table); n != want {
			t.Errorf("%s rows after Delete = %d, want %d", table, n, want)
		}
	}
	if n := rawCount(t, path, `SELECT COUNT(*) FROM memories_fts WHERE memories_fts MATCH 'platypus'`); n != 0 {
		t.Errorf("fts rows matching the deleted memory = %d, want 0", n)
	}

	err = s.Delete(ctx, "b")
	wantCode(t, "Delete(b) twice", err, mnemo.ENOTFOUND)
	wantStats(t, s, path, 2, 1, 2)
}

func TestDeleteMatching(t *testing.T) {
	fixture := func(t *testing.T) (*sqlite.Store, string) {
		s, path := openStore(t)
		mustCreate(t, s,
			withVec(mem("p1", "one", hours(1), "Project:X"), testModel, 1, 0, 0, 0),
			withVec(mem("p2", "two", hours(2), "project/y", "urgent"), testModel, 0, 1, 0, 0),
			mem("p3", "three", hours(3), "projects"),
			mem("c1", "four", hours(4), "conversation_5"),
			mem("n1", "five", hours(5)),
		)
		mustAssociate(t, s,
			mnemo.Relation{From: "p1", To: "n1", Type: "RELATES_TO", UpdatedAt: hours(6)},
			mnemo.Relation{From: "c1", To: "p3", Type: "RELATES_TO", UpdatedAt: hours(7)},
		)
		return s, path
	}
	cases := []struct {
		name      string
		f         mnemo.Filter
		deleted   int
		remaining []string
		rels, vec int64
	}{
		{"prefix tag", mnemo.Filter{Tags: []string{"project"}}, 2, []string{"p3", "c1", "n1"}, 1, 0},
		{"prefix does not cut a segment", mnemo.Filter{Tags: []string{"conv"}}, 0, []string{"p1", "p2", "p3", "c1", "n1"}, 2, 2},
		{"exact tag", mnemo.Filter{Tags: []string{"PROJECTS"}, TagMatch: "exact"}, 1, []string{"p1", "p2", "c1", "n1"}, 1, 2},
		{"all tags", mnemo.Filter{Tags: []string{"project", "urgent"}, TagMode: "all"}, 1, []string{"p1", "p3", "c1", "n1"}, 2, 1},
		{"tags with exclude", mnemo.Filter{Tags: []string{"project"}, ExcludeTags: []string{"urg"}}, 1, []string{"p2", "p3", "c1", "n1"}, 1, 1},
		{"no match", mnemo.Filter{Tags: []string{"nothing"}}, 0, []string{"p1", "p2", "p3", "c1", "n1"}, 2, 2},
		{"zero filter deletes all", mnemo.Filter{}, 5, []string{}, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, path := fixture(t)
			if _, err := s.Nearest(ctx, []float32{1, 1, 0, 0}, mnemo.Filter{}, 10); err != nil { // load the index
				t.Fatal(err)
			}
			n, err := s.DeleteMatching(ctx, tc.f)
			if err != nil {
				t.Fatalf("DeleteMatching: %v", err)
			}
			if n != tc.deleted {
				t.Errorf("DeleteMatching(%+v) = %d, want %d", tc.f, n, tc.deleted)
			}
			if got := listAll(t, s, mnemo.Filter{}); !reflect.DeepEqual(got, tc.remaining) {
				t.Errorf("remaining = %v, want %v", got, tc.remaining)
			}
			wantStats(t, s, path, int64(len(tc.remaining)), tc.rels, tc.vec)
			hits, err := s.Nearest(ctx, []float32{1, 1, 0, 0}, mnemo.Filter{}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(hits)) != tc.vec {
				t.Errorf("Nearest after DeleteMatching = %v, want %d hits", hitIDs(hits), tc.vec)
			}
		})
	}
}

func TestListOrdersAndPaging(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	// id, importance, timestamp hour, updated hour
	rows := []struct {
		id      string
		imp     float64
		ts, upd int
	}{
		{"a", 0.5, 1, 9},
		{"b", 0.9, 2, 3},
		{"c", 0.5, 3, 5},
		{"d", 0.1, 4, 1},
		{"e", 0.5, 3, 7}, // same importance and timestamp as c: id breaks the tie
	}
	for _, r := range rows {
		m := mem(r.id, "content "+r.id, hours(r.ts))
		m.Importance, m.UpdatedAt = r.imp, hours(r.upd)
		mustCreate(t, s, m)
	}
	cases := []struct {
		order         string
		limit, offset int
		want          []string
	}{
		{mnemo.OrderImportance, 10, 0, []string{"b", "c", "e", "a", "d"}},
		{mnemo.OrderTimeDesc, 10, 0, []string{"d", "c", "e", "b", "a"}},
		{mnemo.OrderTimeAsc, 10, 0, []string{"a", "b", "c", "e", "d"}},
		{mnemo.OrderUpdatedDesc, 10, 0, []string{"a", "e", "c", "b", "d"}},
		{mnemo.OrderUpdatedAsc, 10, 0, []string{"d", "b", "c", "e", "a"}},
		{mnemo.OrderImportance, 2, 0, []string{"b", "c"}},
		{mnemo.OrderImportance, 2, 2, []string{"e", "a"}},
		{mnemo.OrderImportance, 2, 4, []string{"d"}},
		{mnemo.OrderImportance, 2, 5, []string{}},
		{mnemo.OrderTimeAsc, 3, 1, []string{"b", "c", "e"}},
		{mnemo.OrderUpdatedDesc, 1, 3, []string{"b"}},
	}
	for _, tc := range cases {
		mems, err := s.List(ctx, mnemo.Filter{}, tc.order, tc.limit, tc.offset)
		if err != nil {
			t.Fatalf("List(%s, %d, %d): %v", tc.order, tc.limit, tc.offset, err)
		}
		if got := memIDs(mems); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("List(%s, limit %d, offset %d) = %v, want %v", tc.order, tc.limit, tc.offset, got, tc.want)
		}
	}
	if _, err := s.List(ctx, mnemo.Filter{}, "random", 10, 0); err == nil {
		t.Error("List with an unknown order: got nil error")
	}
}

func TestTouch(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	mustCreate(t, s, mem("a", "alpha", hours(1)), mem("b", "beta", hours(2)), mem("c", "gamma", hours(3)))
	at := hours(50).Add(7 * time.Microsecond)
	if err := s.Touch(ctx, []string{"a", "c", "missing"}, at); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	if err := s.Touch(ctx, nil, at); err != nil {
		t.Fatalf("Touch(nil): %v", err)
	}
	want := map[string]time.Time{"a": at, "b": hours(2), "c": at}
	for id, w := range want {
		m, err := s.Memory(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !m.LastAccessed.Equal(w) {
			t.Errorf("%s.LastAccessed = %v, want %v", id, m.LastAccessed, w)
		}
		orig := map[string]int{"a": 1, "b": 2, "c": 3}[id]
		if !m.UpdatedAt.Equal(hours(orig)) || !m.Timestamp.Equal(hours(orig)) {
			t.Errorf("Touch changed %s's updated_at/timestamp: %v / %v", id, m.UpdatedAt, m.Timestamp)
		}
	}
	wantStats(t, s, path, 3, 0, 0)
}

func TestKeywordBM25Order(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	fruit := mem("b2", "apple cherry date fig", hours(2), "fruit")
	mustCreate(t, s,
		mem("b1", "apple apple apple banana", hours(1)),
		fruit,
		mem("c1", "red green blue yellow", hours(3)),
		mem("c2", "red purple orange pink", hours(4)),
		mem("f1", "grape kiwi lemon mango", hours(5)),
		mem("f2", "nectarine olive papaya quince", hours(6)),
		mem("f3", "raspberry strawberry tomato ugli", hours(7)),
		mem("f4", "vanilla watermelon xigua yam", hours(8)),
		mem("t1", "nothing in the content", hours(9), "zebra"),
		mem("s1", "Database migration scripts", hours(10)),
	)
	cases := []struct {
		name  string
		terms []string
		f     mnemo.Filter
		limit int
		want  []string
	}{
		{"more occurrences rank first", []string{"apple"}, mnemo.Filter{}, 10, []string{"b1", "b2"}},
		{"more matched terms rank first", []string{"red", "green"}, mnemo.Filter{}, 10, []string{"c1", "c2"}},
		{"limit", []string{"apple"}, mnemo.Filter{}, 1, []string{"b1"}},
		{"filter applies", []string{"apple"}, mnemo.Filter{Tags: []string{"fruit"}}, 10, []string{"b2"}},
		{"tags are searched", []string{"zebra"}, mnemo.Filter{}, 10, []string{"t1"}},
		{"porter: plural finds singular", []string{"migrations"}, mnemo.Filter{}, 10, []string{"s1"}},
		{"porter: verb form", []string{"migrating"}, mnemo.Filter{}, 10, []string{"s1"}},
		{"case-insensitive", []string{"APPLE"}, mnemo.Filter{}, 10, []string{"b1", "b2"}},
		{"no match", []string{"xylophone"}, mnemo.Filter{}, 10, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hits, err := s.Keyword(ctx, tc.terms, tc.f, tc.limit)
			if err != nil {
				t.Fatalf("Keyword(%q): %v", tc.terms, err)
			}
			if got := hitIDs(hits); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Keyword(%q) = %v, want %v", tc.terms, got, tc.want)
			}
			for i, h := range hits {
				if !(h.Score > 0) {
					t.Errorf("hit %s score %v, want > 0", h.Memory.ID, h.Score)
				}
				if i > 0 && !(hits[i-1].Score > h.Score) {
					t.Errorf("scores not strictly decreasing: %s %v then %s %v", hits[i-1].Memory.ID, hits[i-1].Score, h.Memory.ID, h.Score)
				}
			}
		})
	}
	if hits, err := s.Keyword(ctx, []string{"apple"}, mnemo.Filter{}, 0); err != nil || len(hits) != 0 {
		t.Errorf("Keyword limit 0 = %v, %v; want none", hitIDs(hits), err)
	}
	if hits, err := s.Keyword(ctx, nil, mnemo.Filter{}, 10); err != nil || len(hits) != 0 {
		t.Errorf("Keyword no terms = %v, %v; want none", hitIDs(hits), err)
	}
}

func TestKeywordUserTextIsNeverSyntax(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	mustCreate(t, s,
		mem("s1", "I don't like mornings", hours(1)),
		mem("s2", "She writes C++ templates", hours(2)),
		mem("s3", "The meeting is at 9:30 tomorrow", hours(3)),
		mem("s4", `He said "quoted" words`, hours(4)),
		mem("s5", "tea or coffee", hours(5)),
	)
	cases := []struct {
		terms []string
		want  []string
	}{
		{[]string{"don't"}, []string{"s1"}},
		{[]string{"c++"}, []string{"s2"}},
		{[]string{"C++"}, []string{"s2"}},
		{[]string{"9:30"}, []string{"s3"}},
		{[]string{`"quoted"`}, []string{"s4"}},
		{[]string{`"quoted`}, []string{"s4"}},
		{[]string{"tea OR coffee"}, []string{"s5"}},
		{strings.Fields("tea OR coffee"), []string{"s5"}},
		{strings.Fields("a OR b"), []string{"s5"}}, // "or" is a plain word here
		{[]string{"a OR b"}, []string{}},
		{[]string{"*"}, []string{}},
		{[]string{"coffee*"}, []string{"s5"}},
		{[]string{"don't", "*"}, []string{"s1"}},
		{[]string{`"`}, []string{}},
		{[]string{`""`}, []string{}},
		{[]string{"AND"}, []string{}},
		{[]string{"NOT"}, []string{}},
		{[]string{"NEAR(meeting", "tomorrow)"}, []string{"s3"}},
		{[]string{"content:templates"}, []string{}},
		{[]string{"tags_text:x"}, []string{}},
		{[]string{"-mornings"}, []string{"s1"}},
		{[]string{"^she"}, []string{"s2"}},
		{[]string{"(writes"}, []string{"s2"}},
		{[]string{"{content}"}, []string{}},
		{[]string{"+", "-", ":", "(", ")"}, []string{}},
		{[]string{"", "   "}, []string{}},
	}
	for _, tc := range cases {
		hits, err := s.Keyword(ctx, tc.terms, mnemo.Filter{}, 10)
		if err != nil {
			t.Errorf("Keyword(%q): %v", tc.terms, err)
			continue
		}
		if got := hitIDs(hits); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Keyword(%q) = %v, want %v", tc.terms, got, tc.want)
		}
	}
}

// filterFixture: every memory has the content word "common" and a vector, so
// List, Keyword, Nearest and DeleteMatching can all be checked against the
// same expected set.
func filterFixture(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	s, path := openStore(t)
	specs := []struct {
		id   string
		tags []string
	}{
		{"m1", []string{"conversation_5"}},
		{"m2", []string{"Project:X", "urgent"}},
		{"m3", []string{"project/y"}},
		{"m4", []string{"conv"}},
		{"m5", []string{"Urgent", "projects"}},
		{"m6", nil},
	}
	for i, sp := range specs {
		m := withVec(mem(sp.id, "common text "+sp.id, hours(i+1), sp.tags...), testModel, 1, float32(i), 0, 0)
		mustCreate(t, s, m)
	}
	return s, path
}

func TestFilters(t *testing.T) {
	ptr := func(tm time.Time) *time.Time { return &tm }
	all := []string{"m1", "m2", "m3", "m4", "m5", "m6"}
	cases := []struct {
		name string
		f    mnemo.Filter
		want []string
	}{
		{"zero", mnemo.Filter{}, all},
		{"prefix is segment-wise", mnemo.Filter{Tags: []string{"conv"}}, []string{"m4"}},
		{"prefix matches sub-tags, case-insensitive", mnemo.Filter{Tags: []string{"project"}}, []string{"m2", "m3"}},
		{"prefix upper-case filter", mnemo.Filter{Tags: []string{"PROJECT:x"}}, []string{"m2"}},
		{"slash tag is a prefix path", mnemo.Filter{Tags: []string{"project:y"}}, []string{"m3"}},
		{"prefix explicit", mnemo.Filter{Tags: []string{"urgent"}, TagMatch: "prefix"}, []string{"m2", "m5"}},
		{"exact needs the whole tag", mnemo.Filter{Tags: []string{"project"}, TagMatch: "exact"}, []string{}},
		{"exact case-insensitive", mnemo.Filter{Tags: []string{"URGENT"}, TagMatch: "exact"}, []string{"m2", "m5"}},
		{"exact full tag", mnemo.Filter{Tags: []string{"project:x"}, TagMatch: "exact"}, []string{"m2"}},
		{"exact slash tag", mnemo.Filter{Tags: []string{"Project/Y"}, TagMatch: "exact"}, []string{"m3"}},
		{"any", mnemo.Filter{Tags: []string{"conv", "projects"}}, []string{"m4", "m5"}},
		{"all", mnemo.Filter{Tags: []string{"project", "urgent"}, TagMode: "all"}, []string{"m2"}},
		{"all with duplicate values", mnemo.Filter{Tags: []string{"urgent", "URGENT", " urgent "}, TagMode: "all"}, []string{"m2", "m5"}},
		{"all exact with duplicates", mnemo.Filter{Tags: []string{"project:x", "urgent", "Urgent"}, TagMode: "all", TagMatch: "exact"}, []string{"m2"}},
		{"all none has both", mnemo.Filter{Tags: []string{"conv", "urgent"}, TagMode: "all"}, []string{}},
		{"exclude startswith", mnemo.Filter{ExcludeTags: []string{"proj"}}, []string{"m1", "m4", "m6"}},
		{"exclude case-insensitive", mnemo.Filter{ExcludeTags: []string{"Urgent"}}, []string{"m1", "m3", "m4", "m6"}},
		{"exclude whole tag", mnemo.Filter{ExcludeTags: []string{"conversation_5"}}, []string{"m2", "m3", "m4", "m5", "m6"}},
		{"exclude conv drops both conv tags", mnemo.Filter{ExcludeTags: []string{"conv"}}, []string{"m2", "m3", "m5", "m6"}},
		{"tags and exclude", mnemo.Filter{Tags: []string{"project"}, ExcludeTags: []string{"urgent"}}, []string{"m3"}},
		{"start inclusive", mnemo.Filter{Start: ptr(hours(2))}, []string{"m2", "m3", "m4", "m5", "m6"}},
		{"end inclusive", mnemo.Filter{End: ptr(hours(2))}, []string{"m1", "m2"}},
		{"start equals end", mnemo.Filter{Start: ptr(hours(3)), End: ptr(hours(3))}, []string{"m3"}},
		{"start after end", mnemo.Filter{Start: ptr(hours(4)), End: ptr(hours(3))}, []string{}},
		{"end one microsecond early", mnemo.Filter{End: ptr(hours(2).Add(-time.Microsecond))}, []string{"m1"}},
		{"ids", mnemo.Filter{IDs: []string{"m3", "m1", "missing"}}, []string{"m1", "m3"}},
		{"empty ids match nothing", mnemo.Filter{IDs: []string{}}, []string{}},
		{"ids and tags", mnemo.Filter{IDs: []string{"m2", "m3", "m4"}, Tags: []string{"project"}}, []string{"m2", "m3"}},
		{"time and tags", mnemo.Filter{Start: ptr(hours(3)), Tags: []string{"urgent"}}, []string{"m5"}},
	}
	ctx := context.Background()
	shared, _ := filterFixture(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := listAll(t, shared, tc.f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("List = %v, want %v", got, tc.want)
			}
			hits, err := shared.Keyword(ctx, []string{"common"}, tc.f, 100)
			if err != nil {
				t.Fatalf("Keyword: %v", err)
			}
			if got := sorted(hitIDs(hits)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Keyword = %v, want %v", got, tc.want)
			}
			nh, err := shared.Nearest(ctx, []float32{1, 1, 0, 0}, tc.f, 100)
			if err != nil {
				t.Fatalf("Nearest: %v", err)
			}
			if got := sorted(hitIDs(nh)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Nearest = %v, want %v", got, tc.want)
			}
			own, _ := filterFixture(t)
			n, err := own.DeleteMatching(ctx, tc.f)
			if err != nil {
				t.Fatalf("DeleteMatching: %v", err)
			}
			if n != len(tc.want) {
				t.Errorf("DeleteMatching = %d, want %d", n, len(tc.want))
			}
			left := listAll(t, own, mnemo.Filter{})
			if len(left)+len(tc.want) != len(all) {
				t.Errorf("after DeleteMatching %v remain, want %d", left, len(all)-len(tc.want))
			}
			for _, id := range tc.want {
				for _, l := range left {
					if l == id {
						t.Errorf("DeleteMatching left %s", id)
					}
				}
			}
		})
	}
}

func cosine(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

func wantNearest(t *testing.T, s *sqlite.Store, q []float32, f mnemo.Filter, limit int, want []string, vecs map[string][]float32) {
	t.Helper()
	hits, err := s.Nearest(context.Background(), q, f, limit)
	if err != nil {
		t.Fatalf("Nearest: %v", err)
	}
	if got := hitIDs(hits); !reflect.DeepEqual(got, want) {
		t.Fatalf("Nearest(%v, %+v, %d) = %v, want %v", q, f, limit, got, want)
	}
	for _, h := range hits {
		if v, ok := vecs[h.Memory.ID]; ok {
			if w := cosine(q, v); math.Abs(h.Score-w) > 1e-5 {
				t.Errorf("Nearest score of %s = %v, want cosine %v", h.Memory.ID, h.Score, w)
			}
		}
	}
}

var nearestVecs = map[string][]float32{
	"a": {2, 0, 0, 0}, // not unit length: cosine must normalise
	"b": {1, 1, 0, 0},
	"c": {0, 1, 0, 0},
	"d": {-1, 0, 0, 0},
}

// nearestQuery has a distinct cosine with every fixture vector:
// a 0.995, b 0.778, c 0.0995, d -0.995.
var nearestQuery = []float32{1, 0.1, 0, 0}

func nearestFixture(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	s, path := openStore(t)
	mustCreate(t, s,
		withVec(mem("a", "a", hours(1), "even"), testModel, nearestVecs["a"]...),
		withVec(mem("b", "b", hours(2), "odd"), testModel, nearestVecs["b"]...),
		withVec(mem("c", "c", hours(3), "even"), testModel, nearestVecs["c"]...),
		withVec(mem("d", "d", hours(4), "odd"), testModel, nearestVecs["d"]...),
		withVec(mem("x", "other model", hours(5), "even"), "other-model", 1, 0, 0, 0),
		mem("n", "no vector", hours(6), "even"),
	)
	return s, path
}

func TestNearest(t *testing.T) {
	ctx := context.Background()
	q := nearestQuery
	vecs := nearestVecs
	load := func(t *testing.T, s *sqlite.Store) {
		t.Helper()
		if _, err := s.Nearest(ctx, q, mnemo.Filter{}, 1); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("exact cosine order, filters, other model ignored", func(t *testing.T) {
		s, _ := nearestFixture(t)
		// The first search loads the index after the writes.
		wantNearest(t, s, q, mnemo.Filter{}, 10, []string{"a", "b", "c", "d"}, vecs)
		wantNearest(t, s, q, mnemo.Filter{}, 2, []string{"a", "b"}, vecs)
		wantNearest(t, s, q, mnemo.Filter{}, 0, []string{}, vecs)
		wantNearest(t, s, []float32{-1, -0.1, 0, 0}, mnemo.Filter{}, 10, []string{"d", "c", "b", "a"}, vecs)
		wantNearest(t, s, q, mnemo.Filter{Tags: []string{"odd"}}, 10, []string{"b", "d"}, vecs)
		wantNearest(t, s, q, mnemo.Filter{Tags: []string{"even"}}, 1, []string{"a"}, vecs)
		wantNearest(t, s, q, mnemo.Filter{Tags: []string{"even"}}, 10, []string{"a", "c"}, vecs)
		wantNearest(t, s, q, mnemo.Filter{IDs: []string{"c", "x", "n"}}, 10, []string{"c"}, vecs)
		wantNearest(t, s, q, mnemo.Filter{ExcludeTags: []string{"even"}}, 10, []string{"b", "d"}, vecs)
		wantNearest(t, s, q, mnemo.Filter{IDs: []string{}}, 10, []string{}, vecs)
	})

	t.Run("update of a vector is reflected", func(t *testing.T) {
		s, _ := nearestFixture(t)
		load(t, s)
		a := withVec(mem("a", "a", hours(1), "even"), testModel, 0, 0, 0, 1)
		if err := update(ctx, s, a); err != nil {
			t.Fatal(err)
		}
		v := map[string][]float32{"a": {0, 0, 0, 1}, "b": vecs["b"], "c": vecs["c"], "d": vecs["d"]}
		wantNearest(t, s, q, mnemo.Filter{}, 10, []string{"b", "c", "a", "d"}, v)
		wantNearest(t, s, []float32{0, 0, 0, 1}, mnemo.Filter{}, 1, []string{"a"}, v)
	})

	t.Run("update to another model's vector removes it", func(t *testing.T) {
		s, _ := nearestFixture(t)
		load(t, s)
		a := withVec(mem("a", "a", hours(1), "even"), "other-model", 1, 0, 0, 0)
		if err := update(ctx, s, a); err != nil {
			t.Fatal(err)
		}
		wantNearest(t, s, q, mnemo.Filter{}, 10, []string{"b", "c", "d"}, vecs)
	})

	t.Run("SetEmbedding is reflected", func(t *testing.T) {
		s, _ := nearestFixture(t)
		load(t, s)
		if err := s.SetEmbedding(ctx, "n", []float32{1, 0.1, 0, 0}, testModel); err != nil {
			t.Fatal(err)
		}
		if err := s.SetEmbedding(ctx, "a", []float32{0, 0, 1, 0}, testModel); err != nil {
			t.Fatal(err)
		}
		v := map[string][]float32{"n": {1, 0.1, 0, 0}, "a": {0, 0, 1, 0}, "b": vecs["b"], "c": vecs["c"], "d": vecs["d"]}
		wantNearest(t, s, q, mnemo.Filter{}, 10, []string{"n", "b", "c", "a", "d"}, v)
	})

	t.Run("SetEmbedding of another model removes the current vector", func(t *testing.T) {
		s, _ := nearestFixture(t)
		load(t, s)
		if err := s.SetEmbedding(ctx, "a", []float32{1, 0, 0, 0}, "other-model"); err != nil {
			t.Fatal(err)
		}
		// The database now holds only an other-model vector for a, so a is
		// unembedded for the current model and must not be searched.
		un, err := s.Unembedded(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := memIDs(un); !reflect.DeepEqual(got, []string{"a", "x", "n"}) {
			t.Errorf("Unembedded = %v, want [a x n]", got)
		}
		wantNearest(t, s, q, mnemo.Filter{}, 10, []string{"b", "c", "d"}, vecs)
	})

	t.Run("delete is reflected", func(t *testing.T) {
		s, _ := nearestFixture(t)
		load(t, s)
		if err := s.Delete(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		wantNearest(t, s, q, mnemo.Filter{}, 10, []string{"b", "c", "d"}, vecs)
		// A deleted vector must not take a top-k slot either.
		wantNearest(t, s, q, mnemo.Filter{}, 1, []string{"b"}, vecs)
		if _, err := s.DeleteMatching(ctx, mnemo.Filter{Tags: []string{"odd"}}); err != nil {
			t.Fatal(err)
		}
		wantNearest(t, s, q, mnemo.Filter{}, 10, []string{"c"}, vecs)
		wantNearest(t, s, q, mnemo.Filter{}, 1, []string{"c"}, vecs)
	})

	t.Run("create after load is reflected", func(t *testing.T) {
		s, _ := nearestFixture(t)
		load(t, s)
		mustCreate(t, s, withVec(mem("e", "e", hours(7)), testModel, 1, 0.1, 0, 0))
		wantNearest(t, s, q, mnemo.Filter{}, 2, []string{"e", "a"}, map[string][]float32{"e": {1, 0.1, 0, 0}, "a": vecs["a"]})
	})

	t.Run("lazy load sees every write made before the first search", func(t *testing.T) {
		s, _ := nearestFixture(t)
		if err := s.Delete(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetEmbedding(ctx, "n", []float32{0, 0, 1, 1}, testModel); err != nil {
			t.Fatal(err)
		}
		if err := update(ctx, s, withVec(mem("c", "c", hours(3), "even"), testModel, 1, 0.1, 0, 0)); err != nil {
			t.Fatal(err)
		}
		if err := s.SetEmbedding(ctx, "x", []float32{1, 0.2, 0, 0}, testModel); err != nil {
			t.Fatal(err)
		}
		v := map[string][]float32{"a": vecs["a"], "c": {1, 0.1, 0, 0}, "d": vecs["d"], "n": {0, 0, 1, 1}, "x": {1, 0.2, 0, 0}}
		wantNearest(t, s, q, mnemo.Filter{}, 10, []string{"c", "x", "a", "n", "d"}, v)
	})
}

func TestUnembeddedAndSetEmbedding(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	mustCreate(t, s,
		mem("a", "a", hours(1)),
		withVec(mem("b", "b", hours(2)), testModel, 1, 0, 0, 0),
		mem("c", "c", hours(3)),
		mem("d", "d", hours(4)),
	)
	want := func(limit int, ids ...string) {
		t.Helper()
		un, err := s.Unembedded(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := memIDs(un); !reflect.DeepEqual(got, append([]string{}, ids...)) {
			t.Fatalf("Unembedded(%d) = %v, want %v", limit, got, ids)
		}
	}
	want(10, "a", "c", "d")
	want(2, "a", "c")
	wantStats(t, s, path, 4, 0, 1)

	if err := s.SetEmbedding(ctx, "c", []float32{0, 1, 0, 0}, testModel); err != nil {
		t.Fatal(err)
	}
	want(10, "a", "d")
	wantStats(t, s, path, 4, 0, 2)

	// Replacing a vector neither adds a row nor changes the backlog.
	if err := s.SetEmbedding(ctx, "c", []float32{0, 0, 1, 0}, testModel); err != nil {
		t.Fatal(err)
	}
	want(10, "a", "d")
	wantStats(t, s, path, 4, 0, 2)
	wantNearest(t, s, []float32{0, 0, 1, 0}, mnemo.Filter{}, 1, []string{"c"}, map[string][]float32{"c": {0, 0, 1, 0}})

	err := s.SetEmbedding(ctx, "missing", []float32{1, 0, 0, 0}, testModel)
	wantCode(t, "SetEmbedding(missing)", err, mnemo.ENOTFOUND)
	wantStats(t, s, path, 4, 0, 2)

	if err := s.SetEmbedding(ctx, "a", []float32{1, 1, 1, 1}, testModel); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEmbedding(ctx, "d", []float32{1, 1, 1, 0}, testModel); err != nil {
		t.Fatal(err)
	}
	want(10)
	wantStats(t, s, path, 4, 0, 4)
}

func TestAssociate(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	mustCreate(t, s, mem("a", "a", hours(1)), mem("b", "b", hours(2)), mem("c", "c", hours(3)))

	first := mnemo.Relation{From: "a", To: "b", Type: "RELATES_TO", Strength: 0.5, Props: map[string]any{"reason": "first"}, UpdatedAt: hours(10)}
	mustAssociate(t, s, first)
	wantStats(t, s, path, 3, 1, 0)

	again := mnemo.Relation{From: "a", To: "b", Type: "RELATES_TO", Strength: 0.9, Props: map[string]any{"reason": "second", "n": float64(2)}, UpdatedAt: hours(11)}
	mustAssociate(t, s, again)
	wantStats(t, s, path, 3, 1, 0)
	rels, err := s.Relations(ctx, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rels, []mnemo.Relation{again}) {
		t.Fatalf("Relations after re-associate = %+v, want [%+v]", rels, again)
	}

	// The same pair with another type, or reversed, is another relation;
	// the same relation twice in one batch is one.
	other := mnemo.Relation{From: "a", To: "b", Type: "LEADS_TO", Strength: 0.3, Props: map[string]any{}, UpdatedAt: hours(12)}
	rev := mnemo.Relation{From: "b", To: "a", Type: "RELATES_TO", Strength: 0.4, Props: map[string]any{}, UpdatedAt: hours(13)}
	mustAssociate(t, s, other, rev, rev)
	wantStats(t, s, path, 3, 3, 0)

	// nil props read back as an empty object.
	mustAssociate(t, s, mnemo.Relation{From: "c", To: "a", Type: "PART_OF", Strength: 1, UpdatedAt: hours(14)})
	wantStats(t, s, path, 3, 4, 0)
	rels, err = s.Relations(ctx, []mnemo.RelationType{"PART_OF"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 1 || rels[0].Props == nil || len(rels[0].Props) != 0 {
		t.Fatalf("PART_OF relation = %+v, want one with empty props", rels)
	}

	missing := []struct {
		name string
		rels []mnemo.Relation
	}{
		{"missing to", []mnemo.Relation{{From: "a", To: "nope", Type: "RELATES_TO", UpdatedAt: hours(20)}}},
		{"missing from", []mnemo.Relation{{From: "nope", To: "a", Type: "RELATES_TO", UpdatedAt: hours(20)}}},
		{"both missing", []mnemo.Relation{{From: "nope", To: "nada", Type: "RELATES_TO", UpdatedAt: hours(20)}}},
		{"valid then missing", []mnemo.Relation{
			{From: "b", To: "c", Type: "RELATES_TO", UpdatedAt: hours(20)},
			{From: "a", To: "b", Type: "RELATES_TO", Strength: 0.1, UpdatedAt: hours(20)},
			{From: "c", To: "nope", Type: "RELATES_TO", UpdatedAt: hours(20)},
		}},
	}
	for _, tc := range missing {
		err := relate(ctx, s, tc.rels)
		wantCode(t, "Associate "+tc.name, err, mnemo.ENOTFOUND)
		if msg := mnemo.ErrorMessage(err); msg != "One or both memories do not exist" {
			t.Errorf("Associate %s message = %q", tc.name, msg)
		}
		wantStats(t, s, path, 3, 4, 0)
	}
	// Nothing of the failed batch was kept: b->c absent, a->b unchanged.
	rels, err = s.Relations(ctx, []mnemo.RelationType{"RELATES_TO"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rels, []mnemo.Relation{rev, again}) {
		t.Fatalf("RELATES_TO after failed batches = %+v, want [%+v %+v]", rels, rev, again)
	}
}

func TestNeighborsAndRelations(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	mustCreate(t, s, mem("a", "a", hours(1)), mem("b", "b", hours(2)), mem("c", "c", hours(3)), mem("d", "d", hours(4)))
	ab := mnemo.Relation{From: "a", To: "b", Type: "RELATES_TO", Strength: 0.1, Props: map[string]any{"k": "ab"}, UpdatedAt: hours(11)}
	ad := mnemo.Relation{From: "a", To: "d", Type: "PART_OF", Strength: 0.2, Props: map[string]any{"role": "part"}, UpdatedAt: hours(12)}
	ca := mnemo.Relation{From: "c", To: "a", Type: "LEADS_TO", Strength: 0.3, Props: map[string]any{}, UpdatedAt: hours(13)}
	da := mnemo.Relation{From: "d", To: "a", Type: "RELATES_TO", Strength: 0.4, Props: map[string]any{}, UpdatedAt: hours(14)}
	bc := mnemo.Relation{From: "b", To: "c", Type: "RELATES_TO", Strength: 0.5, Props: map[string]any{}, UpdatedAt: hours(15)}
	mustAssociate(t, s, ab, ad, ca, da, bc)

	type nb struct {
		rel      mnemo.Relation
		other    string
		outgoing bool
	}
	out := func(r mnemo.Relation) nb { return nb{r, r.To, true} }
	in := func(r mnemo.Relation) nb { return nb{r, r.From, false} }
	cases := []struct {
		name     string
		id       string
		types    []mnemo.RelationType
		outgoing bool
		limit    int
		want     []nb
	}{
		{"outgoing only", "a", nil, true, 10, []nb{out(ad), out(ab)}},
		{"both directions, newest first", "a", nil, false, 10, []nb{in(da), in(ca), out(ad), out(ab)}},
		{"type filter both", "a", []mnemo.RelationType{"RELATES_TO"}, false, 10, []nb{in(da), out(ab)}},
		{"type filter outgoing", "a", []mnemo.RelationType{"RELATES_TO"}, true, 10, []nb{out(ab)}},
		{"several types", "a", []mnemo.RelationType{"LEADS_TO", "PART_OF"}, false, 10, []nb{in(ca), out(ad)}},
		{"type with no edges", "a", []mnemo.RelationType{"CONTRADICTS"}, false, 10, nil},
		{"limit", "a", nil, false, 2, []nb{in(da), in(ca)}},
		{"limit outgoing", "a", nil, true, 1, []nb{out(ad)}},
		{"other node", "c", nil, false, 10, []nb{in(bc), out(ca)}},
		{"no outgoing", "c", []mnemo.RelationType{"RELATES_TO"}, true, 10, nil},
		{"missing id", "zzz", nil, false, 10, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Neighbors(ctx, tc.id, tc.types, tc.outgoing, tc.limit)
			if err != nil {
				t.Fatalf("Neighbors: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Neighbors(%s) = %d results %+v, want %d", tc.id, len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if !reflect.DeepEqual(g.Relation, w.rel) {
					t.Errorf("[%d] relation = %+v, want %+v", i, g.Relation, w.rel)
				}
				if g.Memory == nil || g.Memory.ID != w.other {
					t.Errorf("[%d] memory = %v, want %s", i, g.Memory, w.other)
				}
				if g.Outgoing != w.outgoing {
					t.Errorf("[%d] outgoing = %v, want %v", i, g.Outgoing, w.outgoing)
				}
			}
		})
	}

	relCases := []struct {
		types []mnemo.RelationType
		limit int
		want  []mnemo.Relation
	}{
		{nil, 10, []mnemo.Relation{bc, da, ca, ad, ab}},
		{nil, 2, []mnemo.Relation{bc, da}},
		{[]mnemo.RelationType{"RELATES_TO"}, 10, []mnemo.Relation{bc, da, ab}},
		{[]mnemo.RelationType{"PART_OF", "LEADS_TO"}, 10, []mnemo.Relation{ca, ad}},
		{[]mnemo.RelationType{"EVOLVED_INTO"}, 10, nil},
	}
	for _, tc := range relCases {
		got, err := s.Relations(ctx, tc.types, tc.limit)
		if err != nil {
			t.Fatalf("Relations: %v", err)
		}
		if len(got) != len(tc.want) || (len(got) > 0 && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("Relations(%v, %d) = %+v, want %+v", tc.types, tc.limit, got, tc.want)
		}
	}
}

func TestStatsAfterEveryWrite(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	wantStats(t, s, path, 0, 0, 0)

	steps := []struct {
		name        string
		do          func() error
		wantErr     bool
		mem, rel, v int64
	}{
		{"create", func() error {
			return create(ctx, s, []*mnemo.Memory{
				withVec(mem("a", "a", hours(1), "t"), testModel, 1, 0, 0, 0),
				mem("b", "b", hours(2), "t"),
				withVec(mem("c", "c", hours(3), "gone"), testModel, 0, 1, 0, 0),
			})
		}, false, 3, 0, 2},
		{"set embedding", func() error { return s.SetEmbedding(ctx, "b", []float32{0, 0, 1, 0}, testModel) }, false, 3, 0, 3},
		{"set embedding again", func() error { return s.SetEmbedding(ctx, "b", []float32{0, 0, 0, 1}, testModel) }, false, 3, 0, 3},
		{"update with vector", func() error {
			return update(ctx, s, withVec(mem("a", "a2", hours(1), "t"), testModel, 1, 1, 0, 0))
		}, false, 3, 0, 3},
		{"update without vector", func() error { return update(ctx, s, mem("c", "c2", hours(3), "gone")) }, false, 3, 0, 3},
		{"associate", func() error {
			return relate(ctx, s, []mnemo.Relation{
				{From: "a", To: "b", Type: "RELATES_TO", UpdatedAt: hours(5)},
				{From: "b", To: "c", Type: "LEADS_TO", UpdatedAt: hours(5)},
				{From: "c", To: "a", Type: "LEADS_TO", UpdatedAt: hours(5)},
			})
		}, false, 3, 3, 3},
		{"re-associate", func() error {
			return relate(ctx, s, []mnemo.Relation{{From: "a", To: "b", Type: "RELATES_TO", Strength: 1, UpdatedAt: hours(6)}})
		}, false, 3, 3, 3},
		{"touch", func() error { return s.Touch(ctx, []string{"a", "b"}, hours(9)) }, false, 3, 3, 3},
		{"failed create", func() error {
			return create(ctx, s, []*mnemo.Memory{withVec(mem("z", "z", hours(1)), testModel, 1, 0, 0, 0), mem("a", "dup", hours(1))})
		}, true, 3, 3, 3},
		{"failed associate", func() error {
			return relate(ctx, s, []mnemo.Relation{{From: "a", To: "c", Type: "PART_OF"}, {From: "a", To: "nope", Type: "PART_OF"}})
		}, true, 3, 3, 3},
		{"failed delete", func() error { return s.Delete(ctx, "nope") }, true, 3, 3, 3},
		{"delete", func() error { return s.Delete(ctx, "b") }, false, 2, 1, 2},
		{"delete matching", func() error { _, err := s.DeleteMatching(ctx, mnemo.Filter{Tags: []string{"gone"}}); return err }, false, 1, 0, 1},
		{"create more", func() error {
			return create(ctx, s, []*mnemo.Memory{
				withVec(mem("d", "d", hours(7)), testModel, 1, 0, 0, 0),
				mem("e", "e", hours(8)),
			})
		}, false, 3, 0, 2},
		{"associate more", func() error {
			return relate(ctx, s, []mnemo.Relation{{From: "d", To: "e", Type: "RELATES_TO"}, {From: "e", To: "a", Type: "RELATES_TO"}, {From: "a", To: "a", Type: "RELATES_TO"}})
		}, false, 3, 3, 2},
		{"delete matching nothing", func() error { _, err := s.DeleteMatching(ctx, mnemo.Filter{Tags: []string{"nope"}}); return err }, false, 3, 3, 2},
		{"delete all", func() error { _, err := s.DeleteMatching(ctx, mnemo.Filter{}); return err }, false, 0, 0, 0},
	}
	for _, st := range steps {
		err := st.do()
		if st.wantErr != (err != nil) {
			t.Fatalf("%s: err = %v, want error %v", st.name, err, st.wantErr)
		}
		t.Run(st.name, func(t *testing.T) { wantStats(t, s, path, st.mem, st.rel, st.v) })
		for table, want := range map[string]int64{"memories": st.mem, "relations": st.rel, "vectors": st.v} {
			if n := rawCount(t, path, `SELECT COUNT(*) FROM `+table); int64(n) != want {
				t.Fatalf("%s: %s has %d rows, want %d", st.name, table, n, want)
			}
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "memories.db")
	s, err := sqlite.OpenStore(ctx, path, testModel, 4)
	if err != nil {
		t.Fatal(err)
	}
	inv := hours(40)
	a := withVec(mem("a", "persistent elephant memory", hours(1), "Project:Keep", "x"), testModel, 1, 0, 0, 0)
	a.Metadata, a.TInvalid, a.Archived, a.Importance = map[string]any{"k": "v"}, &inv, true, 0.8
	b := withVec(mem("b", "second giraffe", hours(2), "other"), testModel, 0, 1, 0, 0)
	c := withVec(mem("c", "third", hours(3)), "other-model", 1, 0, 0, 0)
	d := mem("d", "fourth", hours(4))
	mustCreate(t, s, a, b, c, d)
	rel := mnemo.Relation{From: "a", To: "b", Type: "RELATES_TO", Strength: 0.7, Props: map[string]any{"why": "test"}, UpdatedAt: hours(5)}
	mustAssociate(t, s, rel)
	if err := s.Touch(ctx, []string{"d"}, hours(6)); err != nil {
		t.Fatal(err)
	}
	// The index is loaded in this instance; the next one must load its own.
	wantNearest(t, s, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10, []string{"a", "b"}, nil)
	before, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := sqlite.OpenStore(ctx, path, testModel, 4)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	for _, want := range []*mnemo.Memory{a, b, c} {
		got, err := s2.Memory(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, stored(want)) {
			t.Errorf("after reopen %s\n got %#v\nwant %#v", want.ID, got, stored(want))
		}
	}
	if got, err := s2.Memory(ctx, "d"); err != nil || !got.LastAccessed.Equal(hours(6)) {
		t.Errorf("after reopen d.LastAccessed = %v, %v; want %v", got, err, hours(6))
	}
	after, err := s2.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Memories != before.Memories || after.Relations != before.Relations || after.Vectors != before.Vectors {
		t.Errorf("stats after reopen = %+v, before = %+v", after, before)
	}
	if after.Memories != 4 || after.Relations != 1 || after.Vectors != 3 {
		t.Errorf("stats after reopen = %+v, want 4 memories, 1 relation, 3 vectors", after)
	}
	rels, err := s2.Relations(ctx, nil, 10)
	if err != nil || !reflect.DeepEqual(rels, []mnemo.Relation{rel}) {
		t.Errorf("relations after reopen = %+v, %v; want [%+v]", rels, err, rel)
	}
	nb, err := s2.Neighbors(ctx, "b", nil, false, 10)
	if err != nil || len(nb) != 1 || nb[0].Memory.ID != "a" || nb[0].Outgoing {
		t.Errorf("neighbors after reopen = %+v, %v", nb, err)
	}
	hits, err := s2.Keyword(ctx, []string{"elephant"}, mnemo.Filter{}, 10)
	if err != nil || !reflect.DeepEqual(hitIDs(hits), []string{"a"}) {
		t.Errorf("keyword after reopen = %v, %v", hitIDs(hits), err)
	}
	if got := listAll(t, s2, mnemo.Filter{Tags: []string{"project"}}); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("tag filter after reopen = %v", got)
	}
	wantNearest(t, s2, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10, []string{"a", "b"}, nil)
	un, err := s2.Unembedded(ctx, 10)
	if err != nil || !reflect.DeepEqual(memIDs(un), []string{"c", "d"}) {
		t.Errorf("unembedded after reopen = %v, %v; want [c d]", memIDs(un), err)
	}
	// A store opened for another model searches none of the old vectors.
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := sqlite.OpenStore(ctx, path, "other-model", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	wantNearest(t, s3, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10, []string{"c"}, nil)
}

// A data directory may contain characters that are special in a URI; the
// database must still live at exactly the path given, not at a truncated one.
func TestOpenStorePathIsTakenLiterally(t *testing.T) {
	ctx := context.Background()
	for i, name := range []string{"with space", "hash#dir", "query?dir", "percent%41dir", "amp&x=1"} {
		// The subtest name stays plain: t.TempDir keeps '#' and '%', and a
		// truncated path must still land inside this test's directory.
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, name)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "memories.db")
			s, err := sqlite.OpenStore(ctx, path, testModel, 4)
			if err != nil {
				t.Fatalf("OpenStore(%q): %v", path, err)
			}
			defer s.Close()
			mustCreate(t, s, mem("a", "a", base))
			if _, err := os.Stat(path); err != nil {
				t.Errorf("database not at %q: %v", path, err)
			}
			entries, _ := os.ReadDir(root)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !reflect.DeepEqual(names, []string{name}) {
				t.Errorf("files beside the data directory = %q, want only %q", names, name)
			}
			wantStats(t, s, path, 1, 0, 0)
		})
	}
}
