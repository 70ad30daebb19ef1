package storetest

import (
	"slices"
	"testing"

	"github.com/mnemohq/mnemo"
)

// Memory is ENOTFOUND for a missing id; Memories returns those that exist,
// keyed by id, and an empty map (never nil) when none do: the service
// indexes it without checking.
func testMemories(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	a, b := mem("a", "alpha", hours(1), "x"), mem("b", "beta", hours(2))
	mustCreate(t, s, a, b)
	_, err := s.Memory(ctx, id("nope"))
	wantCode(t, "Memory(nope)", err, mnemo.ENOTFOUND)
	for _, tc := range []struct {
		ids  []string
		want []string
	}{
		{nil, nil},
		{[]string{}, nil},
		{ids("nope"), nil},
		{ids("a", "nope", "b"), []string{"a", "b"}},
		{ids("b", "b"), []string{"b"}},
	} {
		got, err := s.Memories(ctx, tc.ids)
		if err != nil {
			t.Fatalf("Memories(%v): %v", names(tc.ids), err)
		}
		if got == nil {
			t.Fatalf("Memories(%v) = nil map, want an empty map", names(tc.ids))
		}
		var keys []string
		for k, m := range got {
			if d := memDiff(m, map[string]*mnemo.Memory{id("a"): a, id("b"): b}[k]); d != "" {
				t.Errorf("Memories(%v)[%s]: %s", names(tc.ids), name(k), d)
			}
			keys = append(keys, name(k))
		}
		if slices.Sort(keys); !slices.Equal(keys, tc.want) {
			t.Errorf("Memories(%v) keys = %v, want %v", names(tc.ids), keys, tc.want)
		}
	}
}

// Delete removes the memory with its vector, tags, full text and every
// relation touching it, and the counters follow; a second Delete is
// ENOTFOUND and changes nothing.
func testDelete(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mustCreate(t, s,
		withVec(mem("a", "alpha words", hours(1), "shared", "only:a"), Model, 1, 0, 0, 0),
		withVec(mem("b", "bravo platypus", hours(2), "shared", "only:b"), Model, 0, 1, 0, 0),
		withVec(mem("c", "charlie words", hours(3), "shared"), Model, 0, 0, 1, 0),
	)
	ca := rel("c", "a", "RELATES_TO", 0.5, hours(6))
	mustRelate(t, s, rel("a", "b", "RELATES_TO", 0.5, hours(4)), rel("b", "c", "LEADS_TO", 0.5, hours(5)), ca)
	nearest(t, s, []float32{0, 1, 0, 0}, mnemo.Filter{}, 10)
	wantCounts(t, s, 3, 3, 3)

	if err := s.Delete(ctx, id("b")); err != nil {
		t.Fatalf("Delete(b): %v", err)
	}
	wantGone(t, s, "b")
	wantCounts(t, s, 2, 1, 2)
	rels, err := s.Relations(ctx, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantRelations(t, "Relations after Delete(b)", rels, []mnemo.Relation{ca})
	nb, err := s.Neighbors(ctx, id("a"), nil, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(nb) != 1 || nb[0].Memory.ID != id("c") {
		t.Errorf("Neighbors(a) after Delete(b) = %+v, want only c", nb)
	}
	if got := list(t, s, mnemo.Filter{Tags: []string{"only:b"}}); len(got) != 0 {
		t.Errorf("tag filter only:b after Delete = %v", got)
	}
	if got := list(t, s, mnemo.Filter{Tags: []string{"shared"}}); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("tag filter shared after Delete = %v, want [a c]", got)
	}
	if got := hitNames(keyword(t, s, []string{"platypus"}, mnemo.Filter{}, 10)); len(got) != 0 {
		t.Errorf("Keyword(platypus) after Delete = %v", got)
	}
	// The deleted vector must not take a top-k slot either.
	if got := hitNames(nearest(t, s, []float32{0, 1, 0, 0}, mnemo.Filter{}, 1)); len(got) != 1 || got[0] == "b" {
		t.Errorf("Nearest after Delete = %v", got)
	}

	err = s.Delete(ctx, id("b"))
	wantCode(t, "Delete(b) twice", err, mnemo.ENOTFOUND)
	wantCounts(t, s, 2, 1, 2)
}

// DeleteMatching removes exactly what the filter matches (the oracle is
// mnemo.Filter.Matches), with their relations and vectors, and returns
// how many; the zero filter removes everything. Service's delete-by-tag
// uses an exact, any-mode filter.
func testDeleteMatching(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	mems := filterAgreementMemories()
	rels := []mnemo.Relation{
		rel("upper", "plain", "RELATES_TO", 0.5, hours(20)),
		rel("bare", "deep", "LEADS_TO", 0.5, hours(21)),
		rel("spaced", "mixed", "RELATES_TO", 0.5, hours(22)),
	}
	for _, f := range []mnemo.Filter{
		{},
		{Tags: []string{"project"}},
		{Tags: []string{"conv"}},
		{Tags: []string{"PROJECTS"}, TagMatch: "exact"},
		{Tags: []string{"urgent", "Conversation_6"}, TagMode: "any", TagMatch: "exact"},
		{Tags: []string{"project", "urgent"}, TagMode: "all"},
		{Tags: []string{"project"}, ExcludeTags: []string{"project:x:"}},
		{ExcludeTags: []string{"proj", "urg"}},
		{Start: ptr(hours(2)), End: ptr(hours(3))},
		{IDs: ids("upper", "twice", "nope")},
		{IDs: []string{}},
		{Tags: []string{"nothing"}},
	} {
		t.Run(describeFilter(f), func(t *testing.T) {
			s := open(t)
			mustCreate(t, s, mems...)
			mustRelate(t, s, rels...)
			nearest(t, s, []float32{1, 1, 0, 0}, mnemo.Filter{}, 10)
			var gone, left []string
			for _, m := range mems {
				if f.Matches(m) {
					gone = append(gone, name(m.ID))
				} else {
					left = append(left, name(m.ID))
				}
			}
			wantRels := int64(0)
			for _, r := range rels {
				if slices.Contains(left, name(r.From)) && slices.Contains(left, name(r.To)) {
					wantRels++
				}
			}
			n, err := s.DeleteMatching(ctx, f)
			if err != nil {
				t.Fatalf("DeleteMatching: %v", err)
			}
			if n != len(gone) {
				t.Errorf("DeleteMatching = %d, want %d (%v)", n, len(gone), gone)
			}
			if got := sorted(list(t, s, mnemo.Filter{})); !slices.Equal(got, sorted(left)) {
				t.Errorf("left %v, want %v", got, sorted(left))
			}
			wantCounts(t, s, int64(len(left)), wantRels, int64(len(left)))
			if got := sorted(hitNames(nearest(t, s, []float32{1, 1, 0, 0}, mnemo.Filter{}, 100))); !slices.Equal(got, sorted(left)) {
				t.Errorf("Nearest after DeleteMatching = %v, want %v", got, sorted(left))
			}
		})
	}
}

// The counters follow every kind of write, and failed writes leave them.
func testStatsAfterEveryWrite(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	wantCounts(t, s, 0, 0, 0)
	write := func(w mnemo.Write) error { _, err := s.Write(ctx, w, mnemo.Quotas{}); return err }
	steps := []struct {
		name        string
		do          func() error
		wantErr     bool
		mem, rel, v int64
	}{
		{"create", func() error {
			return write(mnemo.Write{Create: []*mnemo.Memory{
				withVec(mem("a", "a", hours(1), "t"), Model, 1, 0, 0, 0),
				mem("b", "b", hours(2), "t"),
				withVec(mem("c", "c", hours(3), "gone"), Model, 0, 1, 0, 0),
			}})
		}, false, 3, 0, 2},
		{"set embedding", func() error { return s.SetEmbedding(ctx, id("b"), []float32{0, 0, 1, 0}, Model) }, false, 3, 0, 3},
		{"set embedding again", func() error { return s.SetEmbedding(ctx, id("b"), []float32{0, 0, 0, 1}, Model) }, false, 3, 0, 3},
		{"update with vector", func() error {
			return write(mnemo.Write{Update: []*mnemo.Memory{withVec(mem("a", "a2", hours(1), "t"), Model, 1, 1, 0, 0)}})
		}, false, 3, 0, 3},
		{"update without vector", func() error { return write(mnemo.Write{Update: []*mnemo.Memory{mem("c", "c2", hours(3), "gone")}}) }, false, 3, 0, 3},
		{"relate", func() error {
			return write(mnemo.Write{Relate: []mnemo.Relation{
				rel("a", "b", "RELATES_TO", 0.5, hours(5)), rel("b", "c", "LEADS_TO", 0.5, hours(5)), rel("c", "a", "LEADS_TO", 0.5, hours(5)),
			}})
		}, false, 3, 3, 3},
		{"relate again", func() error {
			return write(mnemo.Write{Relate: []mnemo.Relation{rel("a", "b", "RELATES_TO", 1, hours(6))}})
		}, false, 3, 3, 3},
		{"touch", func() error { return s.Touch(ctx, ids("a", "b"), hours(9)) }, false, 3, 3, 3},
		{"failed create", func() error {
			return write(mnemo.Write{Create: []*mnemo.Memory{withVec(mem("z", "z", hours(1)), Model, 1, 0, 0, 0), mem("a", "dup", hours(1))}})
		}, true, 3, 3, 3},
		{"failed relate", func() error {
			return write(mnemo.Write{Relate: []mnemo.Relation{rel("a", "c", "PART_OF", 0.5, hours(7)), rel("a", "nope", "PART_OF", 0.5, hours(7))}})
		}, true, 3, 3, 3},
		{"failed delete", func() error { return s.Delete(ctx, id("nope")) }, true, 3, 3, 3},
		{"failed set embedding", func() error { return s.SetEmbedding(ctx, id("nope"), []float32{1, 0, 0, 0}, Model) }, true, 3, 3, 3},
		{"delete", func() error { return s.Delete(ctx, id("b")) }, false, 2, 1, 2},
		{"delete matching", func() error { _, err := s.DeleteMatching(ctx, mnemo.Filter{Tags: []string{"gone"}}); return err }, false, 1, 0, 1},
		{"delete matching nothing", func() error { _, err := s.DeleteMatching(ctx, mnemo.Filter{Tags: []string{"nope"}}); return err }, false, 1, 0, 1},
		{"delete all", func() error { _, err := s.DeleteMatching(ctx, mnemo.Filter{}); return err }, false, 0, 0, 0},
	}
	for _, st := range steps {
		err := st.do()
		if st.wantErr != (err != nil) {
			t.Fatalf("%s: err = %v, want an error: %v", st.name, err, st.wantErr)
		}
		t.Run(st.name, func(t *testing.T) { wantCounts(t, s, st.mem, st.rel, st.v) })
	}
}
