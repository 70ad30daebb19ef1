package storetest

import (
	"fmt"
	"testing"

	"github.com/mnemohq/mnemo"
)

// relationFixture: a-b-c-d joined by five relations of distinct times.
func relationFixture(t *testing.T, s mnemo.MemoryStore) (ab, ad, ca, da, bc mnemo.Relation) {
	t.Helper()
	mustCreate(t, s, mem("a", "a", hours(1)), mem("b", "b", hours(2)), mem("c", "c", hours(3)), mem("d", "d", hours(4)))
	ab = rel("a", "b", "RELATES_TO", 0.1, hours(11))
	ab.Props = map[string]any{"k": "ab"}
	ad = rel("a", "d", "PART_OF", 0.2, hours(12))
	ad.Props = map[string]any{"role": "part", "n": float64(2)}
	ca = rel("c", "a", "LEADS_TO", 0.3, hours(13))
	da = rel("d", "a", "RELATES_TO", 0.4, hours(14))
	bc = rel("b", "c", "RELATES_TO", 0.5, hours(15))
	mustRelate(t, s, ab, ad, ca, da, bc)
	return
}

// Neighbors: the relations touching a memory, newest first, with the
// memory at the other end and the direction; outgoingOnly keeps edges
// that leave it (recall follows supersession that way); types filter;
// limit bounds the result (recall's walk budget relies on it); a missing
// id has none (not an error).
func testNeighbors(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	ab, ad, ca, da, bc := relationFixture(t, s)
	type nb struct {
		rel      mnemo.Relation
		other    string
		outgoing bool
	}
	out := func(r mnemo.Relation) nb { return nb{r, name(r.To), true} }
	in := func(r mnemo.Relation) nb { return nb{r, name(r.From), false} }
	for _, tc := range []struct {
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
		{"limit 3", "a", nil, false, 3, []nb{in(da), in(ca), out(ad)}},
		{"limit outgoing", "a", nil, true, 1, []nb{out(ad)}},
		{"limit 0", "a", nil, false, 0, nil},
		{"other node", "c", nil, false, 10, []nb{in(bc), out(ca)}},
		{"no outgoing", "c", []mnemo.RelationType{"RELATES_TO"}, true, 10, nil},
		{"missing id", "zzz", nil, false, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Neighbors(ctx, id(tc.id), tc.types, tc.outgoing, tc.limit)
			if err != nil {
				t.Fatalf("Neighbors: %v", err)
			}
			if len(got) != len(tc.want) {
				var all []string
				for _, g := range got {
					all = append(all, fmt.Sprintf("%s outgoing %v", relString(g.Relation), g.Outgoing))
				}
				t.Fatalf("Neighbors(%s) = %d results %v, want %d", tc.id, len(got), all, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if d := relDiff(g.Relation, w.rel); d != "" {
					t.Errorf("[%d] relation: %s", i, d)
				}
				if g.Memory == nil || g.Memory.ID != id(w.other) {
					t.Errorf("[%d] memory = %v, want %s", i, g.Memory, w.other)
				} else if d := memDiff(g.Memory, mustMemory(t, s, g.Memory.ID)); d != "" {
					t.Errorf("[%d] memory is not the stored one: %s", i, d)
				}
				if g.Outgoing != w.outgoing {
					t.Errorf("[%d] outgoing = %v, want %v", i, g.Outgoing, w.outgoing)
				}
			}
		})
	}
}

// Relations: every relation of the given types (any when empty), newest
// first, up to limit. Recall reads PREFERS_OVER this way.
func testRelations(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	ab, ad, ca, da, bc := relationFixture(t, s)
	for _, tc := range []struct {
		types []mnemo.RelationType
		limit int
		want  []mnemo.Relation
	}{
		{nil, 10, []mnemo.Relation{bc, da, ca, ad, ab}},
		{[]mnemo.RelationType{}, 10, []mnemo.Relation{bc, da, ca, ad, ab}},
		{nil, 2, []mnemo.Relation{bc, da}},
		{nil, 0, nil},
		{[]mnemo.RelationType{"RELATES_TO"}, 10, []mnemo.Relation{bc, da, ab}},
		{[]mnemo.RelationType{"RELATES_TO"}, 1, []mnemo.Relation{bc}},
		{[]mnemo.RelationType{"PART_OF", "LEADS_TO"}, 10, []mnemo.Relation{ca, ad}},
		{[]mnemo.RelationType{"EVOLVED_INTO"}, 10, nil},
	} {
		got, err := s.Relations(ctx, tc.types, tc.limit)
		if err != nil {
			t.Fatalf("Relations: %v", err)
		}
		wantRelations(t, "Relations", got, tc.want)
	}
}
