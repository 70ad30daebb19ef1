package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mnemohq/mnemo"
)

// snapshotOf reads a whole snapshot.
func snapshotOf(t *testing.T, s mnemo.MemoryStore, withVectors bool) (mems []*mnemo.Memory, rels []mnemo.Relation, nm, nr int64) {
	t.Helper()
	sn, err := s.Snapshot(ctx, withVectors)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer func() {
		if err := sn.Close(); err != nil {
			t.Errorf("Snapshot.Close: %v", err)
		}
	}()
	nm, nr = sn.Counts()
	for m, err := range sn.Memories() {
		if err != nil {
			t.Fatalf("Snapshot.Memories: %v", err)
		}
		mems = append(mems, m)
	}
	for r, err := range sn.Relations() {
		if err != nil {
			t.Fatalf("Snapshot.Relations: %v", err)
		}
		rels = append(rels, r)
	}
	return mems, rels, nm, nr
}

// sortRelations orders relations by (From, Type, To): a snapshot's order
// of relations is the backend's.
func sortRelations(rels []mnemo.Relation) []mnemo.Relation {
	c := slices.Clone(rels)
	slices.SortFunc(c, func(a, b mnemo.Relation) int {
		for _, d := range [][2]string{{a.From, b.From}, {string(a.Type), string(b.Type)}, {a.To, b.To}} {
			if d[0] != d[1] {
				if d[0] < d[1] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
	return c
}

// A snapshot holds every memory in the order stored (an export file
// lists them so, and an import re-creates them in it), with its vector
// and model when asked for (another model's too: a backup keeps it), and
// every relation; Counts agree with what it yields.
func testSnapshot(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	// Stored out of time and id order.
	c := withVec(mem("c", "third", hours(1), "x"), Model, 1, 2, 3, 4)
	c.Metadata = map[string]any{"k": "v", "n": float64(1.5)}
	a := mem("a", "first", hours(3))
	b := withVec(mem("b", "second", hours(2)), OtherModel, 4, 3, 2, 1)
	mustCreate(t, s, c, a)
	mustCreate(t, s, b)
	r1 := rel("c", "a", "RELATES_TO", 0.5, hours(5))
	r1.Props = map[string]any{"why": "test", "n": float64(3)}
	r2 := rel("a", "b", "PREFERS_OVER", 0.25, hours(6))
	mustRelate(t, s, r1, r2)

	for _, withVectors := range []bool{false, true} {
		mems, rels, nm, nr := snapshotOf(t, s, withVectors)
		if nm != 3 || nr != 2 {
			t.Errorf("Counts = %d, %d; want 3, 2", nm, nr)
		}
		if got := memNames(mems); !slices.Equal(got, []string{"c", "a", "b"}) {
			t.Fatalf("snapshot memories = %v, want [c a b], the order stored", got)
		}
		for i, want := range []*mnemo.Memory{c, a, b} {
			if !withVectors {
				want = stored(want)
			}
			if d := memDiff(mems[i], want); d != "" {
				t.Errorf("snapshot (vectors %v) memory %s: %s", withVectors, name(want.ID), d)
			}
		}
		wantRelations(t, "snapshot relations", sortRelations(rels), sortRelations([]mnemo.Relation{r1, r2}))
	}
	// An empty store's snapshot is empty.
	mems, rels, nm, nr := snapshotOf(t, open(t), true)
	if len(mems) != 0 || len(rels) != 0 || nm != 0 || nr != 0 {
		t.Errorf("empty store's snapshot = %d memories, %d relations, counts %d, %d", len(mems), len(rels), nm, nr)
	}
}

// A snapshot is consistent while writes go on: what is written after it
// was opened is not in it, and the writes do not wait for it to close.
func testSnapshotConsistent(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mustCreate(t, s, mem("a", "a", hours(1)), mem("b", "b", hours(2)))
	mustRelate(t, s, rel("a", "b", "RELATES_TO", 0.5, hours(3)))
	sn, err := s.Snapshot(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	mustCreate(t, s, mem("c", "c", hours(4)))
	mustRelate(t, s, rel("c", "a", "RELATES_TO", 0.5, hours(5)))
	if err := s.Delete(ctx, id("b")); err != nil {
		t.Fatal(err)
	}
	if nm, nr := sn.Counts(); nm != 2 || nr != 1 {
		t.Errorf("Counts = %d, %d; want 2, 1 as when opened", nm, nr)
	}
	var got []string
	for m, err := range sn.Memories() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, name(m.ID))
	}
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("snapshot memories = %v, want [a b] as when opened", got)
	}
	var rels []mnemo.Relation
	for r, err := range sn.Relations() {
		if err != nil {
			t.Fatal(err)
		}
		rels = append(rels, r)
	}
	wantRelations(t, "snapshot relations", rels, []mnemo.Relation{rel("a", "b", "RELATES_TO", 0.5, hours(3))})
	wantCounts(t, s, 2, 1, 0)
}

// Import creates the memories whose ids are new (in order, with their
// vectors) and skips the others, so it can be repeated; relations merge on
// (From, Type, To), an existing one replaced only by a newer one; it
// returns the ids created and how many relations are new. Ends may be in
// the import or in the store.
func testImport(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	old := mem("old", "already here", hours(1))
	mustCreate(t, s, old, mem("keep", "kept", hours(2)))
	existing := rel("old", "keep", "RELATES_TO", 0.5, hours(10))
	mustRelate(t, s, existing)

	a := withVec(mem("a", "imported alpha", hours(3), "imp"), Model, 1, 0, 0, 0)
	b := mem("b", "imported bravo", hours(4), "imp")
	clash := mem("old", "a different memory with a taken id", hours(5))
	older := rel("old", "keep", "RELATES_TO", 0.1, hours(9)) // older than the stored one: ignored
	newer := rel("keep", "old", "RELATES_TO", 0.9, hours(11))
	ab := rel("a", "b", "LEADS_TO", 0.3, hours(12))
	toOld := rel("b", "old", "PART_OF", 0.4, hours(13))
	created, nrel, err := s.Import(ctx, []*mnemo.Memory{a, clash, b}, []mnemo.Relation{older, newer, ab, toOld}, mnemo.Quotas{})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if !slices.Equal(names(created), []string{"a", "b"}) || nrel != 3 {
		t.Fatalf("Import = %v, %d relations; want [a b], 3", names(created), nrel)
	}
	wantMemory(t, s, old)
	wantMemory(t, s, a)
	wantMemory(t, s, b)
	wantCounts(t, s, 4, 4, 1)
	if got := hitNames(nearest(t, s, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10)); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Nearest after Import = %v, want [a]", got)
	}
	if got := sorted(hitNames(keyword(t, s, []string{"imported"}, mnemo.Filter{}, 10))); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Keyword after Import = %v, want [a b]", got)
	}
	if got := list(t, s, mnemo.Filter{Tags: []string{"imp"}}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("tag filter after Import = %v, want [a b]", got)
	}
	rels, err := s.Relations(ctx, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantRelations(t, "Relations after Import", rels, []mnemo.Relation{toOld, ab, newer, existing})

	// Again: nothing new; a newer copy of a relation replaces it.
	newerAB := ab
	newerAB.Strength, newerAB.UpdatedAt, newerAB.Props = 0.6, hours(20), map[string]any{"v": float64(2)}
	created, nrel, err = s.Import(ctx, []*mnemo.Memory{a, b}, []mnemo.Relation{newer, newerAB}, mnemo.Quotas{})
	if err != nil || len(created) != 0 || nrel != 0 {
		t.Fatalf("repeated Import = %v, %d, %v; want nothing created", names(created), nrel, err)
	}
	rels, err = s.Relations(ctx, []mnemo.RelationType{"LEADS_TO"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantRelations(t, "LEADS_TO after a newer import", rels, []mnemo.Relation{newerAB})
	wantCounts(t, s, 4, 4, 1)
}

// An import with a relation end that exists nowhere writes nothing
// (ENOTFOUND), not even the memories and relations before it.
func testImportAllOrNothing(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mustCreate(t, s, mem("old", "old", hours(1)))
	before := stats(t, s)
	a := withVec(mem("a", "alpha walrus", hours(2), "imp"), Model, 1, 0, 0, 0)
	_, _, err := s.Import(ctx, []*mnemo.Memory{a}, []mnemo.Relation{rel("a", "old", "RELATES_TO", 0.5, hours(3)), rel("a", "ghost", "RELATES_TO", 0.5, hours(3))}, mnemo.Quotas{})
	wantCode(t, "Import with a missing relation end", err, mnemo.ENOTFOUND)
	// The message names it: the importer shows it to whoever fixes the file.
	if msg := mnemo.ErrorMessage(err); !strings.Contains(msg, id("ghost")) {
		t.Errorf("the message does not name the missing memory %s: %q", id("ghost"), msg)
	}
	wantGone(t, s, "a")
	if after := stats(t, s); !sameCounters(after, before) {
		t.Errorf("a failed Import changed Stats from %+v to %+v", before, after)
	}
	if got := hitNames(keyword(t, s, []string{"walrus"}, mnemo.Filter{}, 10)); len(got) != 0 {
		t.Errorf("Keyword finds the failed import: %v", got)
	}
	if got := hitNames(nearest(t, s, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10)); len(got) != 0 {
		t.Errorf("Nearest finds the failed import: %v", got)
	}
	if rels, err := s.Relations(ctx, nil, 10); err != nil || len(rels) != 0 {
		t.Errorf("Relations after a failed Import = %v, %v", relStrings(rels), err)
	}
}

// Import checks quotas as Write does: refused whole with a QuotaError;
// skipped memories cost nothing.
func testImportQuotas(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mustCreate(t, s, mem("a", "a", hours(1)))
	two := int64(2)
	q := mnemo.Quotas{MaxMemories: &two}
	before := stats(t, s)
	_, _, err := s.Import(ctx, []*mnemo.Memory{mem("b", "b", hours(2)), mem("c", "c", hours(3))}, nil, q)
	wantCode(t, "Import beyond the quota", err, mnemo.EFORBIDDEN)
	var qe *mnemo.QuotaError
	if !errors.As(err, &qe) {
		t.Fatalf("error %T %v is not a *mnemo.QuotaError", err, err)
	}
	wantGone(t, s, "b", "c")
	if after := stats(t, s); !sameCounters(after, before) {
		t.Errorf("a refused Import changed Stats from %+v to %+v", before, after)
	}
	created, _, err := s.Import(ctx, []*mnemo.Memory{mem("a", "a", hours(1)), mem("b", "b", hours(2))}, nil, q)
	if err != nil || !slices.Equal(names(created), []string{"b"}) {
		t.Fatalf("Import up to the quota, one skipped = %v, %v; want [b]", names(created), err)
	}
}
