package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/internal/storetest"
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

// Deleting a memory removes its rows from every table, the full-text
// index included (the contract suite checks what reads show; this checks
// that nothing is left behind to take space or be counted).
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
	if err := s.Delete(ctx, "b"); err != nil {
		t.Fatalf("Delete(b): %v", err)
	}
	wantStats(t, s, path, 2, 1, 2)
	for table, want := range map[string]int{"memory_tags": 3, "memory_tag_prefixes": 4, "vectors": 2, "relations": 1, "memories": 2} {
		if n := rawCount(t, path, `SELECT COUNT(*) FROM `+table); n != want {
			t.Errorf("%s rows after Delete = %d, want %d", table, n, want)
		}
	}
	if n := rawCount(t, path, `SELECT COUNT(*) FROM memories_fts WHERE memories_fts MATCH 'platypus'`); n != 0 {
		t.Errorf("fts rows matching the deleted memory = %d, want 0", n)
	}
}

// FTS5's porter stemmer matches other forms of a word (the contract
// suite asks only for a plural).
func TestKeywordPorterStemming(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	mustCreate(t, s, mem("s1", "Database migration scripts", hours(1)), mem("s2", "unrelated", hours(2)))
	for _, term := range []string{"migrations", "migrating", "migrated", "script"} {
		hits, err := s.Keyword(ctx, []string{term}, mnemo.Filter{}, 10)
		if err != nil {
			t.Fatalf("Keyword(%q): %v", term, err)
		}
		if got := hitIDs(hits); !reflect.DeepEqual(got, []string{"s1"}) {
			t.Errorf("Keyword(%q) = %v, want [s1]", term, got)
		}
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
			if w := storetest.Cosine(q, v); math.Abs(h.Score-w) > 1e-5 {
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

// The vector index loads on the first search: it sees every write made
// before (the contract suite searches before and after its writes).
func TestNearestLazyLoad(t *testing.T) {
	ctx := context.Background()
	q, vecs := nearestQuery, nearestVecs
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
}

// The counters equal the rows they count and StorageBytes the files' size
// after every kind of write (the contract suite checks the counters
// against what reads show).
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
