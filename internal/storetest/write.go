package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// Every field round-trips: times to the microsecond, tags in their order
// and case, metadata as JSON (numbers as float64), and nil tags or
// metadata read back empty, not nil (the API shows [] and {}).
func testRoundTrip(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	inv := base.Add(48*time.Hour + 123456*time.Microsecond)
	full := &mnemo.Memory{
		ID: id("full"), Content: "Everything set, ünïcode included", Tags: []string{"Project:Alpha", "b", "A"},
		Importance: 0.75, Type: "Decision", Confidence: 0.65,
		Timestamp: base.Add(1500 * time.Microsecond), TValid: base.Add(-time.Hour), TInvalid: &inv,
		UpdatedAt: base.Add(2 * time.Hour), LastAccessed: base.Add(3 * time.Hour),
		Metadata: map[string]any{"source": "chat", "n": float64(3), "nested": map[string]any{"ok": true}, "list": []any{"x", float64(1)}},
		Archived: true,
	}
	plain := mem("plain", "nothing special", base)
	bare := &mnemo.Memory{ID: id("bare"), Content: "bare", Timestamp: base, TValid: base, UpdatedAt: base, LastAccessed: base}
	mustCreate(t, s, withVec(full, Model, 1, 2, 3, 4), plain, bare)
	for _, m := range []*mnemo.Memory{full, plain, bare} {
		wantMemory(t, s, m)
	}
	// Times given in another location are the same instants.
	local := mem("local", "local time", base.In(time.FixedZone("X", 5*3600)))
	mustCreate(t, s, local)
	wantMemory(t, s, local)
}

// A write is all or nothing: a create that fails on its last memory
// leaves no trace of the others in any index (tags, full text, vectors,
// counters). The service never reuses an id, so which code a duplicate
// gets is not part of the contract; that it fails whole is.
func testCreateIsAllOrNothing(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	for _, tc := range []struct {
		name  string
		batch []string // "old" exists already
	}{
		{"duplicate inside the batch", []string{"n1", "n2", "n1"}},
		{"duplicate of a stored memory", []string{"n1", "n2", "old"}},
		{"duplicate first", []string{"old", "n1", "n2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			mustCreate(t, s, withVec(mem("old", "existing memory", base, "keep"), Model, 0, 0, 1, 0))
			nearest(t, s, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10) // a backend may load an index on first search
			before := stats(t, s)
			var batch []*mnemo.Memory
			for i, l := range tc.batch {
				batch = append(batch, withVec(mem(l, "unicorn batch item", hours(i+1), "batchtag"), Model, 1, 0, 0, 0))
			}
			if _, err := s.Write(ctx, mnemo.Write{Create: batch}, mnemo.Quotas{}); err == nil {
				t.Fatal("Write with a duplicate id: got nil error")
			}
			wantGone(t, s, "n1", "n2")
			wantMemory(t, s, withVec(mem("old", "existing memory", base, "keep"), Model, 0, 0, 1, 0))
			if after := stats(t, s); after.Memories != 1 || after.Vectors != 1 || after.StoredBytes != before.StoredBytes {
				t.Fatalf("Stats after a failed write = %+v, before %+v", after, before)
			}
			if got := hitNames(keyword(t, s, []string{"unicorn"}, mnemo.Filter{}, 10)); len(got) != 0 {
				t.Fatalf("Keyword after a failed write = %v", got)
			}
			if got := list(t, s, mnemo.Filter{Tags: []string{"batchtag"}}); len(got) != 0 {
				t.Fatalf("tag filter after a failed write = %v", got)
			}
			if got := hitNames(nearest(t, s, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10)); !slices.Equal(got, []string{"old"}) {
				t.Fatalf("Nearest after a failed write = %v, want [old]", got)
			}
		})
	}
}

// An update replaces every field, and every index follows: the old
// content, tags and tag prefixes are no longer found, the new ones are.
// Updating a missing memory is ENOTFOUND and creates nothing.
func testUpdate(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	orig := withVec(mem("u", "the zebra grazes quietly", hours(1), "Old:Tag", "keep"), Model, 1, 0, 0, 0)
	orig.Metadata = map[string]any{"old": "yes"}
	mustCreate(t, s, orig, mem("other", "unrelated filler text", hours(2)))

	inv := hours(30)
	upd := mem("u", "a giraffe eats leaves", hours(5), "New/Tag")
	upd.Importance, upd.Type, upd.Confidence = 0.9, "Insight", 0.4
	upd.TValid, upd.TInvalid, upd.UpdatedAt, upd.LastAccessed = hours(6), &inv, hours(7), hours(8)
	upd.Metadata, upd.Archived = map[string]any{"new": float64(1)}, true
	mustUpdate(t, s, upd)
	wantMemory(t, s, upd)

	// Tags are searched as text too: the old ones no longer, the new ones.
	for term, want := range map[string][]string{"zebra": {}, "grazes": {}, "keep": {}, "giraffe": {"u"}, "leaves": {"u"}, "new": {"u"}} {
		if got := hitNames(keyword(t, s, []string{term}, mnemo.Filter{}, 10)); !slices.Equal(got, want) {
			t.Errorf("Keyword(%q) after Update = %v, want %v", term, got, want)
		}
	}
	for _, tc := range []struct {
		f    mnemo.Filter
		want []string
	}{
		{mnemo.Filter{Tags: []string{"old"}}, []string{}},
		{mnemo.Filter{Tags: []string{"keep"}}, []string{}},
		{mnemo.Filter{Tags: []string{"old:tag"}, TagMatch: "exact"}, []string{}},
		{mnemo.Filter{Tags: []string{"new"}}, []string{"u"}},
		{mnemo.Filter{Tags: []string{"new:tag"}}, []string{"u"}},
		{mnemo.Filter{Tags: []string{"new/tag"}, TagMatch: "exact"}, []string{"u"}},
		{mnemo.Filter{ExcludeTags: []string{"old"}}, []string{"other", "u"}},
		{mnemo.Filter{Start: ptr(hours(5)), End: ptr(hours(5))}, []string{"u"}},
		{mnemo.Filter{End: ptr(hours(1))}, []string{}},
	} {
		if got := sorted(list(t, s, tc.f)); !slices.Equal(got, tc.want) {
			t.Errorf("List(%s) after Update = %v, want %v", describeFilter(tc.f), got, tc.want)
		}
	}

	// A change of content alone, then of tags alone, is indexed too.
	upd2 := *upd
	upd2.Content = "an okapi sleeps"
	mustUpdate(t, s, &upd2)
	for term, want := range map[string][]string{"giraffe": {}, "okapi": {"u"}} {
		if got := hitNames(keyword(t, s, []string{term}, mnemo.Filter{}, 10)); !slices.Equal(got, want) {
			t.Errorf("Keyword(%q) after a content-only Update = %v, want %v", term, got, want)
		}
	}
	upd3 := upd2
	upd3.Tags = []string{"New/Tag", "extra"}
	mustUpdate(t, s, &upd3)
	if got := list(t, s, mnemo.Filter{Tags: []string{"extra"}}); !slices.Equal(got, []string{"u"}) {
		t.Errorf("tag filter after a tags-only Update = %v, want [u]", got)
	}
	if got := hitNames(keyword(t, s, []string{"extra"}, mnemo.Filter{}, 10)); !slices.Equal(got, []string{"u"}) {
		t.Errorf("Keyword(extra) after a tags-only Update = %v, want [u]", got)
	}
	wantCounts(t, s, 2, 0, 1)

	_, err := s.Write(ctx, mnemo.Write{Update: []*mnemo.Memory{mem("nope", "x", base)}}, mnemo.Quotas{})
	wantCode(t, "Update(nope)", err, mnemo.ENOTFOUND)
	wantGone(t, s, "nope")
	wantCounts(t, s, 2, 0, 1)
}

// An update's Embedding: nil keeps the vector, a non-empty one replaces
// it, an empty non-nil one drops it (mnemo.Write; the service sends that
// when new content could not be embedded, so the backfill finds it).
func testUpdateEmbedding(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	a := withVec(mem("a", "a", hours(1)), Model, 1, 0, 0, 0)
	b := withVec(mem("b", "b", hours(2)), Model, 0, 1, 0, 0)
	mustCreate(t, s, a, b)
	nearest(t, s, []float32{1, 0, 0, 0}, mnemo.Filter{}, 10)

	keep := mem("a", "a kept", hours(1))
	mustUpdate(t, s, keep)
	if got := hitNames(nearest(t, s, []float32{1, 0, 0, 0}, mnemo.Filter{}, 1)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Nearest after an update with a nil embedding = %v, want [a]", got)
	}
	mustUpdate(t, s, withVec(mem("a", "a moved", hours(1)), Model, 0, 0, 0, 1))
	if got := hitNames(nearest(t, s, []float32{0, 0, 0, 1}, mnemo.Filter{}, 1)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Nearest after an update with a new vector = %v, want [a]", got)
	}
	if got := hitNames(nearest(t, s, []float32{1, 0.1, 0, 0}, mnemo.Filter{}, 2)); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("Nearest to the old vector = %v, want [b a]", got)
	}
	wantCounts(t, s, 2, 0, 2)
	dropped := mem("b", "b changed, not embedded", hours(2))
	dropped.Embedding = []float32{}
	mustUpdate(t, s, dropped)
	if got := hitNames(nearest(t, s, []float32{0, 1, 0, 0}, mnemo.Filter{}, 10)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Nearest after dropping b's vector = %v, want [a]", got)
	}
	wantCounts(t, s, 2, 0, 1)
	un, err := s.Unembedded(ctx, 10)
	if err != nil || !slices.Equal(memNames(un), []string{"b"}) {
		t.Fatalf("Unembedded after dropping b's vector = %v, %v; want [b]", memNames(un), err)
	}
	wantMemory(t, s, dropped)
}

// Relate merges on (From, Type, To): relating again replaces strength,
// props and time; another type or the reverse direction is another
// relation; the same relation twice in a write is one. A missing end is
// ENOTFOUND and the whole write is undone, with AutoMem's message: the
// service checks the ends first (service/associate.go), but one deleted
// meanwhile reaches the client through this error. Props left nil read
// back empty.
func testRelate(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mustCreate(t, s, mem("a", "a", hours(1)), mem("b", "b", hours(2)), mem("c", "c", hours(3)))

	first := rel("a", "b", "RELATES_TO", 0.5, hours(10))
	first.Props = map[string]any{"reason": "first"}
	mustRelate(t, s, first)
	wantCounts(t, s, 3, 1, 0)
	again := rel("a", "b", "RELATES_TO", 0.9, hours(11))
	again.Props = map[string]any{"reason": "second", "n": float64(2)}
	mustRelate(t, s, again)
	wantCounts(t, s, 3, 1, 0)
	got, err := s.Relations(ctx, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantRelations(t, "Relations after relating again", got, []mnemo.Relation{again})

	other := rel("a", "b", "LEADS_TO", 0.3, hours(12))
	rev := rel("b", "a", "RELATES_TO", 0.4, hours(13))
	mustRelate(t, s, other, rev, rev)
	wantCounts(t, s, 3, 3, 0)

	partOf := rel("c", "a", "PART_OF", 1, hours(14))
	partOf.Props = nil
	mustRelate(t, s, partOf)
	wantCounts(t, s, 3, 4, 0)
	got, err = s.Relations(ctx, []mnemo.RelationType{"PART_OF"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	partOf.Props = map[string]any{}
	wantRelations(t, "PART_OF relations", got, []mnemo.Relation{partOf})

	for _, tc := range []struct {
		name string
		rels []mnemo.Relation
	}{
		{"missing to", []mnemo.Relation{rel("a", "nope", "RELATES_TO", 0.5, hours(20))}},
		{"missing from", []mnemo.Relation{rel("nope", "a", "RELATES_TO", 0.5, hours(20))}},
		{"both missing", []mnemo.Relation{rel("nope", "nada", "RELATES_TO", 0.5, hours(20))}},
		{"valid, then missing", []mnemo.Relation{
			rel("b", "c", "RELATES_TO", 0.5, hours(20)),
			rel("a", "b", "RELATES_TO", 0.1, hours(20)),
			rel("c", "nope", "RELATES_TO", 0.5, hours(20)),
		}},
	} {
		_, err := s.Write(ctx, mnemo.Write{Relate: tc.rels}, mnemo.Quotas{})
		wantCode(t, "Relate "+tc.name, err, mnemo.ENOTFOUND)
		if msg := mnemo.ErrorMessage(err); msg != "One or both memories do not exist" {
			t.Errorf("Relate %s: message %q", tc.name, msg)
		}
		wantCounts(t, s, 3, 4, 0)
	}
	got, err = s.Relations(ctx, []mnemo.RelationType{"RELATES_TO"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantRelations(t, "RELATES_TO after failed writes", got, []mnemo.Relation{rev, again})
}

// Supersede (service.Supersede, MCP's supersedes_memory_id) is one write:
// the new memory, the old one invalidated, and old-[INVALIDATED_BY]->new,
// which may join the memory the same write creates. A failure in its last
// part undoes the first two.
func testSupersede(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	old := withVec(mem("old", "the office is in Paris", hours(1)), Model, 1, 0, 0, 0)
	mustCreate(t, s, old)
	nearest(t, s, []float32{0, 1, 0, 0}, mnemo.Filter{}, 10)

	neu := withVec(mem("new", "the office moved to Lyon", hours(2)), Model, 0, 1, 0, 0)
	inv := *old
	inv.TInvalid, inv.UpdatedAt, inv.Embedding = ptr(hours(2)), hours(2), nil
	link := rel("old", "new", "INVALIDATED_BY", 0.9, hours(2))

	// Broken first: the relation names a memory that does not exist.
	broken := link
	broken.To = id("ghost")
	_, err := s.Write(ctx, mnemo.Write{Create: []*mnemo.Memory{neu}, Update: []*mnemo.Memory{&inv}, Relate: []mnemo.Relation{broken}}, mnemo.Quotas{})
	wantCode(t, "a supersede whose relation misses an end", err, mnemo.ENOTFOUND)
	wantGone(t, s, "new")
	wantMemory(t, s, old)
	wantCounts(t, s, 1, 0, 1)
	if got := hitNames(nearest(t, s, []float32{0, 1, 0, 0}, mnemo.Filter{}, 10)); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("Nearest after the failed supersede = %v, want [old]", got)
	}

	added, err := s.Write(ctx, mnemo.Write{Create: []*mnemo.Memory{neu}, Update: []*mnemo.Memory{&inv}, Relate: []mnemo.Relation{link}}, mnemo.Quotas{})
	if err != nil {
		t.Fatalf("supersede: %v", err)
	}
	if added.Memories != 1 || added.Relations != 1 || added.Vectors != 1 {
		t.Errorf("supersede added %+v, want 1 memory, 1 relation, 1 vector", added)
	}
	wantMemory(t, s, &inv)
	wantMemory(t, s, neu)
	nbs, err := s.Neighbors(ctx, id("old"), []mnemo.RelationType{"INVALIDATED_BY", "EVOLVED_INTO"}, true, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(nbs) != 1 || nbs[0].Memory.ID != id("new") || !nbs[0].Outgoing || relDiff(nbs[0].Relation, link) != "" {
		t.Fatalf("old's superseding neighbors = %+v, want new by %s", nbs, relString(link))
	}
	// The old memory keeps its vector: it was not re-embedded.
	wantCounts(t, s, 2, 1, 2)
}

// Write returns what it added to the counters; StoredBytes grows with a
// create, and Stats moves by exactly what Write reports, since usage
// bills the returned delta (service/gate.go) while quotas read Stats.
func testWriteAdded(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	empty := stats(t, s)
	if empty.Memories != 0 || empty.Relations != 0 || empty.Vectors != 0 {
		t.Fatalf("a new store's Stats = %+v, want no memories, relations or vectors", empty)
	}
	steps := []struct {
		name        string
		w           mnemo.Write
		mem, rel, v int64
		bytes       int // sign of the StoredBytes delta
	}{
		{"create", mnemo.Write{Create: []*mnemo.Memory{
			withVec(mem("a", "alpha content", hours(1), "t:x"), Model, 1, 0, 0, 0),
			mem("b", "bravo content", hours(2)),
		}}, 2, 0, 1, 1},
		{"relate", mnemo.Write{Relate: []mnemo.Relation{rel("a", "b", "RELATES_TO", 0.5, hours(3))}}, 0, 1, 0, 1},
		{"relate again", mnemo.Write{Relate: []mnemo.Relation{rel("a", "b", "RELATES_TO", 0.7, hours(4))}}, 0, 0, 0, 0},
		{"update adding a vector and content", mnemo.Write{Update: []*mnemo.Memory{
			withVec(mem("b", "bravo content, much longer than it was before the update", hours(2)), Model, 0, 1, 0, 0),
		}}, 0, 0, 1, 1},
		{"update shrinking", mnemo.Write{Update: []*mnemo.Memory{mem("b", "b", hours(2))}}, 0, 0, 0, -1},
		{"all kinds", mnemo.Write{
			Create: []*mnemo.Memory{mem("c", "charlie", hours(5))},
			Relate: []mnemo.Relation{rel("c", "a", "LEADS_TO", 0.5, hours(5)), rel("c", "b", "LEADS_TO", 0.5, hours(5))},
		}, 1, 2, 0, 1},
	}
	for _, st := range steps {
		before := stats(t, s)
		added, err := s.Write(ctx, st.w, mnemo.Quotas{})
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := stats(t, s)
		if added.Memories != st.mem || added.Relations != st.rel || added.Vectors != st.v {
			t.Errorf("%s: added %+v, want memories %d, relations %d, vectors %d", st.name, added, st.mem, st.rel, st.v)
		}
		if after.Memories-before.Memories != added.Memories || after.Relations-before.Relations != added.Relations ||
			after.Vectors-before.Vectors != added.Vectors || after.StoredBytes-before.StoredBytes != added.StoredBytes {
			t.Errorf("%s: Stats moved from %+v to %+v, Write reported %+v", st.name, before, after, added)
		}
		if sign(added.StoredBytes) != st.bytes && !(st.bytes == 0 && added.StoredBytes == 0) {
			t.Errorf("%s: StoredBytes moved by %d, want a change of sign %d", st.name, added.StoredBytes, st.bytes)
		}
	}
	// Deleting everything frees every byte the writes counted.
	if _, err := s.DeleteMatching(ctx, mnemo.Filter{}); err != nil {
		t.Fatal(err)
	}
	if got := stats(t, s).StoredBytes; got != empty.StoredBytes {
		t.Errorf("StoredBytes after deleting everything = %d, want %d as when empty", got, empty.StoredBytes)
	}
}

func sign(n int64) int {
	switch {
	case n > 0:
		return 1
	case n < 0:
		return -1
	}
	return 0
}

// Quotas are checked inside the write (mnemo.Quotas.Check): a write that
// crosses one is refused whole with EFORBIDDEN, as a *mnemo.QuotaError
// (counted as a refusal), and changes nothing; a write that adds nothing
// of a kind passes even over a lowered quota; a delete frees its share at
// once, so the next write fits again.
func testQuotas(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	three := int64(3)
	maxThree := mnemo.Quotas{MaxMemories: &three}
	if _, err := s.Write(ctx, mnemo.Write{Create: []*mnemo.Memory{
		withVec(mem("a", "a", hours(1)), Model, 1, 0, 0, 0), mem("b", "b", hours(2)), mem("c", "c", hours(3)),
	}}, maxThree); err != nil {
		t.Fatalf("a write up to the quota: %v", err)
	}
	refused := func(what string, w mnemo.Write, q mnemo.Quotas) {
		t.Helper()
		before := stats(t, s)
		_, err := s.Write(ctx, w, q)
		wantCode(t, what, err, mnemo.EFORBIDDEN)
		var qe *mnemo.QuotaError
		if !errors.As(err, &qe) {
			t.Fatalf("%s: error %T %v is not a *mnemo.QuotaError", what, err, err)
		}
		if after := stats(t, s); !sameCounters(after, before) {
			t.Fatalf("%s: a refused write changed Stats from %+v to %+v", what, before, after)
		}
	}
	fourth := withVec(mem("d", "quotaword", hours(4), "late"), Model, 0, 1, 0, 0)
	refused("a fourth memory", mnemo.Write{Create: []*mnemo.Memory{fourth}}, maxThree)
	refused("a fourth memory with an update and a relation", mnemo.Write{
		Create: []*mnemo.Memory{fourth},
		Update: []*mnemo.Memory{mem("a", "a changed", hours(1))},
		Relate: []mnemo.Relation{rel("d", "a", "RELATES_TO", 0.5, hours(4))},
	}, maxThree)
	wantGone(t, s, "d")
	wantMemory(t, s, withVec(mem("a", "a", hours(1)), Model, 1, 0, 0, 0))
	if got := hitNames(keyword(t, s, []string{"quotaword"}, mnemo.Filter{}, 10)); len(got) != 0 {
		t.Fatalf("Keyword finds the refused memory: %v", got)
	}
	if got := list(t, s, mnemo.Filter{Tags: []string{"late"}}); len(got) != 0 {
		t.Fatalf("tag filter finds the refused memory: %v", got)
	}
	if got := hitNames(nearest(t, s, []float32{0, 1, 0, 0}, mnemo.Filter{}, 10)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Nearest after refused writes = %v, want [a]", got)
	}

	// A lowered quota keeps what the tenant holds: updates and relations
	// add no memory and pass.
	one := int64(1)
	if _, err := s.Write(ctx, mnemo.Write{
		Update: []*mnemo.Memory{mem("a", "a changed", hours(1))},
		Relate: []mnemo.Relation{rel("a", "b", "RELATES_TO", 0.5, hours(5))},
	}, mnemo.Quotas{MaxMemories: &one}); err != nil {
		t.Fatalf("an update over a lowered quota: %v", err)
	}

	// A delete frees its memory at once.
	if err := s.Delete(ctx, id("c")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, mnemo.Write{Create: []*mnemo.Memory{fourth}}, maxThree); err != nil {
		t.Fatalf("a write after a delete freed room: %v", err)
	}
	wantCounts(t, s, 3, 1, 2)

	// Storage: a quota of exactly what the store holds refuses any write
	// that adds bytes, and takes one after a delete freed them.
	held := stats(t, s).StoredBytes
	full := mnemo.Quotas{MaxStorageMB: ptrF(float64(held) / (1 << 20))}
	// e costs less than d, whose content is longer and which has tags and
	// a vector.
	small := mem("e", "e", hours(6))
	refused("bytes beyond max_storage_mb", mnemo.Write{Create: []*mnemo.Memory{small}}, full)
	refused("a relation's bytes beyond max_storage_mb", mnemo.Write{Relate: []mnemo.Relation{rel("b", "a", "LEADS_TO", 0.5, hours(6))}}, full)
	if err := s.Delete(ctx, id("d")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, mnemo.Write{Create: []*mnemo.Memory{small}}, full); err != nil {
		t.Fatalf("a smaller write after a delete freed bytes: %v", err)
	}
	// A write that frees bytes passes over the quota.
	if _, err := s.Write(ctx, mnemo.Write{Update: []*mnemo.Memory{mem("a", "a", hours(1))}},
		mnemo.Quotas{MaxStorageMB: ptrF(0)}); err != nil {
		t.Fatalf("an update that shrinks a memory, over the storage quota: %v", err)
	}
}

func ptrF(f float64) *float64 { return &f }

// Concurrent writes each succeed or fail alone, however a backend batches
// them (SQLite commits them in groups): a write that fails (a missing
// relation end) leaves nothing, the writes beside it are all kept; and
// under a quota only some fit, exactly those are kept (issue 11: quota
// checks stay atomic under concurrent writes).
func testConcurrentWrites(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mustCreate(t, s, mem("anchor", "anchor", hours(0)))
	const n = 60
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := mem(fmt.Sprintf("c%02d", i), fmt.Sprintf("memory %d", i), hours(i+1))
			w := mnemo.Write{Create: []*mnemo.Memory{m}}
			if i%3 == 0 {
				w.Relate = []mnemo.Relation{rel(fmt.Sprintf("c%02d", i), "ghost", "RELATES_TO", 0.5, hours(i+1))}
			}
			_, errs[i] = s.Write(ctx, w, mnemo.Quotas{})
		})
	}
	wg.Wait()
	kept := 0
	for i, err := range errs {
		_, getErr := s.Memory(ctx, id(fmt.Sprintf("c%02d", i)))
		switch {
		case i%3 == 0:
			wantCode(t, fmt.Sprintf("write %d", i), err, mnemo.ENOTFOUND)
			wantCode(t, fmt.Sprintf("memory of failed write %d", i), getErr, mnemo.ENOTFOUND)
		case err != nil || getErr != nil:
			t.Fatalf("write %d: %v, then %v", i, err, getErr)
		default:
			kept++
		}
	}
	if kept != n-n/3 {
		t.Fatalf("%d writes kept, want %d", kept, n-n/3)
	}
	wantCounts(t, s, int64(1+kept), 0, 0)

	limit := int64(1 + kept + 5)
	var mu sync.Mutex
	fits, refused := 0, 0
	for i := range 20 {
		wg.Go(func() {
			m := mem(fmt.Sprintf("q%02d", i), "over quota?", hours(100+i))
			_, err := s.Write(ctx, mnemo.Write{Create: []*mnemo.Memory{m}}, mnemo.Quotas{MaxMemories: &limit})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				fits++
			} else if mnemo.ErrorCode(err) == mnemo.EFORBIDDEN {
				refused++
			} else {
				t.Errorf("write %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if fits != 5 || refused != 15 {
		t.Fatalf("%d fit and %d refused, want 5 and 15", fits, refused)
	}
	wantCounts(t, s, limit, 0, 0)
	if got := list(t, s, mnemo.Filter{}); len(got) != int(limit) {
		t.Fatalf("List holds %d memories, want %d", len(got), limit)
	}
}
