package storetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mnemohq/mnemo"
)

// Keyword: terms are alternatives (a memory matching any is found); a
// memory with more occurrences, or more of the terms, ranks higher; tags
// are searched as text; matching ignores case and finds a plural from its
// singular (recall sends the user's words as they are); scores are
// positive and strictly decreasing here. Raw scores are the backend's:
// recall only divides them by the best one (recall/recall.go).
func testKeywordRanking(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mustCreate(t, s,
		mem("b1", "apple apple apple banana", hours(1)),
		mem("b2", "apple cherry date fig", hours(2), "fruit"),
		mem("c1", "red green blue yellow", hours(3)),
		mem("c2", "red purple orange pink", hours(4)),
		mem("f1", "grape kiwi lemon mango", hours(5)),
		mem("f2", "nectarine olive papaya quince", hours(6)),
		mem("f3", "raspberry strawberry tomato ugli", hours(7)),
		mem("f4", "vanilla watermelon xigua yam", hours(8)),
		mem("t1", "nothing in the content", hours(9), "zebra"),
		mem("s1", "Database migration scripts", hours(10)),
	)
	for _, tc := range []struct {
		name  string
		terms []string
		f     mnemo.Filter
		limit int
		want  []string
	}{
		{"more occurrences rank first", []string{"apple"}, mnemo.Filter{}, 10, []string{"b1", "b2"}},
		{"more matched terms rank first", []string{"red", "green"}, mnemo.Filter{}, 10, []string{"c1", "c2"}},
		{"terms are alternatives", []string{"kiwi", "olive"}, mnemo.Filter{}, 10, nil},
		{"limit keeps the best", []string{"apple"}, mnemo.Filter{}, 1, []string{"b1"}},
		{"filter applies", []string{"apple"}, mnemo.Filter{Tags: []string{"fruit"}}, 10, []string{"b2"}},
		{"filter excludes", []string{"apple"}, mnemo.Filter{ExcludeTags: []string{"fruit"}}, 10, []string{"b1"}},
		{"filter by time", []string{"red"}, mnemo.Filter{Start: ptr(hours(4))}, 10, []string{"c2"}},
		{"tags are searched", []string{"zebra"}, mnemo.Filter{}, 10, []string{"t1"}},
		{"plural finds singular", []string{"migrations"}, mnemo.Filter{}, 10, []string{"s1"}},
		{"case-insensitive", []string{"APPLE"}, mnemo.Filter{}, 10, []string{"b1", "b2"}},
		{"no match", []string{"xylophone"}, mnemo.Filter{}, 10, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits := keyword(t, s, tc.terms, tc.f, tc.limit)
			got := hitNames(hits)
			if tc.want == nil { // two memories of one matched term each: either order
				got = sorted(got)
				tc.want = []string{"f1", "f2"}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Keyword(%q) = %v, want %v", tc.terms, got, tc.want)
			}
			for i, h := range hits {
				if !(h.Score > 0) {
					t.Errorf("hit %s score %v, want > 0", name(h.Memory.ID), h.Score)
				}
				if i > 0 && tc.name != "terms are alternatives" && !(hits[i-1].Score > h.Score) {
					t.Errorf("scores not strictly decreasing: %s %v then %s %v", name(hits[i-1].Memory.ID), hits[i-1].Score, name(h.Memory.ID), h.Score)
				}
			}
			for _, h := range hits {
				if d := memDiff(h.Memory, mustMemory(t, s, h.Memory.ID)); d != "" {
					t.Errorf("hit %s is not the stored memory: %s", name(h.Memory.ID), d)
				}
			}
		})
	}
	for _, tc := range []struct {
		terms []string
		limit int
	}{{[]string{"apple"}, 0}, {nil, 10}, {[]string{"", "  "}, 10}} {
		if got := hitNames(keyword(t, s, tc.terms, mnemo.Filter{}, tc.limit)); len(got) != 0 {
			t.Errorf("Keyword(%q, limit %d) = %v, want none", tc.terms, tc.limit, got)
		}
	}
}

func mustMemory(t *testing.T, s mnemo.MemoryStore, memID string) *mnemo.Memory {
	t.Helper()
	m, err := s.Memory(ctx, memID)
	if err != nil {
		t.Fatalf("Memory(%s): %v", name(memID), err)
	}
	return m
}

// The user's text is never query syntax: operators, quotes, wildcards,
// field names and brackets neither fail nor change what is found. (Which
// punctuation splits words is the tokenizer's; sqlite/store_test.go holds
// FTS5's own cases.)
func testKeywordUserText(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mustCreate(t, s,
		mem("s1", "I never liked mornings", hours(1)),
		mem("s2", "She writes templates", hours(2)),
		mem("s3", "The meeting is tomorrow", hours(3)),
		mem("s4", `He said "quoted" words`, hours(4)),
		mem("s5", "tea or coffee", hours(5)),
	)
	for _, tc := range []struct {
		terms []string
		want  []string
	}{
		{[]string{`"quoted"`}, []string{"s4"}},
		{[]string{`"quoted`}, []string{"s4"}},
		{[]string{"tea OR coffee"}, []string{"s5"}},
		{strings.Fields("coffee OR nothing"), []string{"s5"}},
		{[]string{"*"}, []string{}},
		{[]string{"mornings", "*"}, []string{"s1"}},
		{[]string{`"`}, []string{}},
		{[]string{`""`}, []string{}},
		{[]string{"NEAR(meeting", "tomorrow)"}, []string{"s3"}},
		{[]string{"-mornings"}, []string{"s1"}},
		{[]string{"^she"}, []string{"s2"}},
		{[]string{"(writes"}, []string{"s2"}},
		{[]string{"{content}"}, []string{}},
		{[]string{"+", "-", ":", "(", ")", "|", "~", "%", "@", "$", "'", ";", "\\"}, []string{}},
		{strings.Fields("mornings'); DROP TABLE memories; --"), []string{"s1"}},
		{strings.Fields("}) RETURN m //"), []string{}},
	} {
		hits, err := s.Keyword(ctx, tc.terms, mnemo.Filter{}, 10)
		if err != nil {
			t.Errorf("Keyword(%q): %v", tc.terms, err)
			continue
		}
		if got := hitNames(hits); !slices.Equal(got, tc.want) {
			t.Errorf("Keyword(%q) = %v, want %v", tc.terms, got, tc.want)
		}
	}
	wantCounts(t, s, 5, 0, 0)
}

// The full-text index follows deletes, updates and relations' absence of
// text: a deleted memory is not found, DeleteMatching's are not either.
func testKeywordFollowsWrites(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mustCreate(t, s, mem("a", "walrus one", hours(1), "x"), mem("b", "walrus two", hours(2), "y"), mem("c", "walrus three", hours(3)))
	if err := s.Delete(ctx, id("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteMatching(ctx, mnemo.Filter{Tags: []string{"y"}}); err != nil {
		t.Fatal(err)
	}
	if got := hitNames(keyword(t, s, []string{"walrus"}, mnemo.Filter{}, 10)); !slices.Equal(got, []string{"c"}) {
		t.Errorf("Keyword(walrus) after deletes = %v, want [c]", got)
	}
	mustCreate(t, s, mem("a", "walrus again", hours(4)))
	if got := sorted(hitNames(keyword(t, s, []string{"walrus"}, mnemo.Filter{}, 10))); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("Keyword(walrus) after re-creating a = %v, want [a c]", got)
	}
}

// vectorFixture is a seeded random store: n memories with tags from a
// small set, timestamps an hour apart, and a vector of Model for most,
// another model's for some, none for others. It returns the memories and
// the vectors of Model by id.
func vectorFixture(t *testing.T, s mnemo.MemoryStore, seed uint64, n int) ([]*mnemo.Memory, map[string][]float32) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	tagSet := []string{"red", "green", "blue", "team:core", "team:edge"}
	vecs := map[string][]float32{}
	var mems []*mnemo.Memory
	for i := range n {
		var tags []string
		for _, tg := range tagSet {
			if r.IntN(3) == 0 {
				tags = append(tags, tg)
			}
		}
		m := mem(fmt.Sprintf("v%03d", i), fmt.Sprintf("vector memory %d", i), hours(i), tags...)
		v := make([]float32, Dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		switch k := r.IntN(10); {
		case k == 0: // none
		case k == 1:
			withVec(m, OtherModel, v...)
		default:
			withVec(m, Model, v...)
			vecs[m.ID] = v
		}
		mems = append(mems, m)
	}
	for i := 0; i < len(mems); i += 50 {
		mustCreate(t, s, mems[i:min(i+50, len(mems))]...)
	}
	return mems, vecs
}

// bruteForce is the oracle of Nearest: every memory f matches that has a
// vector of Model, by cosine to q, best first, the first limit.
func bruteForce(mems []*mnemo.Memory, vecs map[string][]float32, q []float32, f mnemo.Filter, limit int) []mnemo.Hit {
	var out []mnemo.Hit
	for _, m := range mems {
		if v, ok := vecs[m.ID]; ok && f.Matches(m) {
			out = append(out, mnemo.Hit{Memory: m, Score: Cosine(q, v)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return out[:min(limit, len(out))]
}

// wantNearest checks Nearest against the brute-force oracle: the top
// limit by cosine, best first, each scored with its cosine. Memories whose
// cosines differ by less than scoreTolerance may trade places, and the
// last place may go to any of them.
func wantNearest(t *testing.T, s mnemo.MemoryStore, mems []*mnemo.Memory, vecs map[string][]float32, q []float32, f mnemo.Filter, limit int) {
	t.Helper()
	want := bruteForce(mems, vecs, q, f, limit)
	got := nearest(t, s, q, f, limit)
	fail := func(why string, args ...any) {
		t.Helper()
		t.Fatalf("Nearest(%v, %s, %d): %s\n got %v\nwant %v", q, describeFilter(f), limit, fmt.Sprintf(why, args...), hitNames(got), hitNames(want))
	}
	if len(got) != len(want) {
		fail("%d hits, want %d", len(got), len(want))
	}
	byID := map[string]*mnemo.Memory{}
	for _, m := range mems {
		byID[m.ID] = m
	}
	seen := map[string]bool{}
	for i, h := range got {
		if seen[h.Memory.ID] {
			fail("%s twice", name(h.Memory.ID))
		}
		seen[h.Memory.ID] = true
		m, v := byID[h.Memory.ID], vecs[h.Memory.ID]
		if m == nil || v == nil || !f.Matches(m) {
			fail("%s is not a memory with a vector of %s that the filter matches", name(h.Memory.ID), Model)
		}
		if c := Cosine(q, v); math.Abs(h.Score-c) > scoreTolerance {
			fail("score of %s = %v, want its cosine %v", name(h.Memory.ID), h.Score, c)
		}
		if i > 0 && h.Score > got[i-1].Score+scoreTolerance {
			fail("not best first at %d", i)
		}
		if math.Abs(h.Score-want[i].Score) > scoreTolerance {
			fail("hit %d scores %v, the %d-th best cosine is %v", i, h.Score, i+1, want[i].Score)
		}
	}
}

func randomVec(r *rand.Rand) []float32 {
	v := make([]float32, Dim)
	for j := range v {
		v[j] = float32(r.NormFloat64())
	}
	return v
}

// Nearest is exact: the top k by cosine (vectors need not be unit length),
// best first, scored by cosine, under every kind of filter and limit, as a
// brute-force scan finds them. Vectors of another model and memories
// without one are never returned. Recall also asks for the similarity of
// given ids with Filter{IDs} (recall/recall.go), and relies on it.
func testNearestExact(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mems, vecs := vectorFixture(t, s, 7, 120)
	r := rand.New(rand.NewPCG(11, 2))
	var someIDs []string
	for i := 0; i < len(mems); i += 7 {
		someIDs = append(someIDs, mems[i].ID)
	}
	filters := []mnemo.Filter{
		{},
		{Tags: []string{"red"}},
		{Tags: []string{"team"}},
		{Tags: []string{"red", "blue"}, TagMode: "all"},
		{Tags: []string{"team:core"}, TagMatch: "exact"},
		{ExcludeTags: []string{"green"}},
		{Start: ptr(hours(30)), End: ptr(hours(60))},
		{Tags: []string{"blue"}, Start: ptr(hours(100))},
		{IDs: someIDs},
		{IDs: []string{}},
	}
	for qi := range 5 {
		q := randomVec(r)
		for _, f := range filters {
			for _, limit := range []int{0, 1, 5, 1000} {
				wantNearest(t, s, mems, vecs, q, f, limit)
			}
		}
		if qi == 0 {
			// Scale does not matter.
			scaled := make([]float32, Dim)
			for j := range q {
				scaled[j] = 10 * q[j]
			}
			wantNearest(t, s, mems, vecs, scaled, mnemo.Filter{}, 10)
		}
	}
	// Each hit is the whole stored memory, without its vector.
	for _, h := range nearest(t, s, randomVec(r), mnemo.Filter{}, 5) {
		if d := memDiff(h.Memory, mustMemory(t, s, h.Memory.ID)); d != "" {
			t.Errorf("hit %s is not the stored memory: %s", name(h.Memory.ID), d)
		}
	}
}

// A vector of zeros has no direction: its cosine with anything counts as
// 0, never NaN, which no answer could carry (a query of stop words can
// embed to zeros). A stored zero vector scores 0 and ranks below every
// memory with a positive cosine.
func testNearestZeroVectors(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	zero := make([]float32, Dim)
	one := make([]float32, Dim)
	one[0] = 1
	mustCreate(t, s, withVec(mem("z", "zero", hours(1)), Model, zero...), withVec(mem("x", "x axis", hours(2)), Model, one...))
	for _, q := range [][]float32{zero, one} {
		hits := nearest(t, s, q, mnemo.Filter{}, 5)
		if len(hits) != 2 {
			t.Fatalf("Nearest(%v...) = %d hits, want 2", q[:2], len(hits))
		}
		for _, h := range hits {
			want := 0.0
			if q[0] == 1 && name(h.Memory.ID) == "x" {
				want = 1
			}
			if math.IsNaN(h.Score) || math.Abs(h.Score-want) > 1e-6 {
				t.Errorf("Nearest(%v...): %s scores %v, want %v", q[:2], name(h.Memory.ID), h.Score, want)
			}
		}
		if q[0] == 1 && name(hits[0].Memory.ID) != "x" {
			t.Errorf("Nearest(x axis) ranks %s first, want x", name(hits[0].Memory.ID))
		}
	}
}

// A tag scope or time window never hides an in-scope memory, however far
// it is from the query and however many out-of-scope vectors are nearer
// (issue 11: an approximate index filtered after the fact would miss
// them; the embedded store scans exactly).
func testNearestScope(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	r := rand.New(rand.NewPCG(3, 4))
	q := []float32{1, 0, 0, 0}
	var mems []*mnemo.Memory
	vecs := map[string][]float32{}
	for i := range 300 {
		v := []float32{1, 0.05 * float32(r.NormFloat64()), 0.05 * float32(r.NormFloat64()), 0.05 * float32(r.NormFloat64())}
		m := withVec(mem(fmt.Sprintf("n%03d", i), "near", hours(100+i), "crowd"), Model, v...)
		mems, vecs[m.ID] = append(mems, m), v
	}
	far := [][]float32{{-1, 0.2, 0, 0}, {0, -1, 0.1, 0}, {-0.5, 0, 0, -1}}
	for i, v := range far {
		m := withVec(mem(fmt.Sprintf("far%d", i), "far", hours(i), "rare", "x:y"), Model, v...)
		mems, vecs[m.ID] = append(mems, m), v
	}
	for i := 0; i < len(mems); i += 100 {
		mustCreate(t, s, mems[i:min(i+100, len(mems))]...)
	}
	for _, f := range []mnemo.Filter{
		{Tags: []string{"rare"}},
		{Tags: []string{"x"}},
		{Tags: []string{"x:y"}, TagMatch: "exact"},
		{End: ptr(hours(2))},
		{ExcludeTags: []string{"crowd"}},
		{IDs: ids("far0", "far2")},
	} {
		wantNearest(t, s, mems, vecs, q, f, 10)
		wantNearest(t, s, mems, vecs, q, f, 2)
	}
}

// Every vector write is searched at once: an update's new vector, a
// vector of another model (which removes the memory from the search),
// SetEmbedding, a delete, a create.
func testNearestFollowsWrites(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mems, vecs := vectorFixture(t, s, 5, 40)
	r := rand.New(rand.NewPCG(9, 9))
	check := func(step string) {
		t.Helper()
		for range 3 {
			q := randomVec(r)
			wantNearest(t, s, mems, vecs, q, mnemo.Filter{}, 8)
			wantNearest(t, s, mems, vecs, q, mnemo.Filter{Tags: []string{"red"}}, 3)
		}
		if st := stats(t, s); st.Memories != int64(len(mems)) {
			t.Fatalf("%s: %d memories, want %d", step, st.Memories, len(mems))
		}
	}
	check("fixture")
	byLabel := func(label string) int {
		return slices.IndexFunc(mems, func(m *mnemo.Memory) bool { return m.ID == id(label) })
	}

	// An update with a new vector.
	i := byLabel("v003")
	v := randomVec(r)
	upd := *mems[i]
	withVec(&upd, Model, v...)
	mustUpdate(t, s, &upd)
	vecs[upd.ID] = v
	check("update with a vector")

	// An update to another model's vector: no longer searched.
	i = byLabel("v004")
	upd = *mems[i]
	withVec(&upd, OtherModel, randomVec(r)...)
	mustUpdate(t, s, &upd)
	delete(vecs, upd.ID)
	check("update with another model's vector")

	// SetEmbedding of Model: searched; of another model: not.
	for _, m := range mems[10:20] {
		v := randomVec(r)
		if err := s.SetEmbedding(ctx, m.ID, v, Model); err != nil {
			t.Fatal(err)
		}
		vecs[m.ID] = v
	}
	if err := s.SetEmbedding(ctx, mems[20].ID, randomVec(r), OtherModel); err != nil {
		t.Fatal(err)
	}
	delete(vecs, mems[20].ID)
	check("SetEmbedding")

	// Deletes.
	for _, label := range []string{"v010", "v011", "v030"} {
		if err := s.Delete(ctx, id(label)); err != nil {
			t.Fatal(err)
		}
		mems = slices.Delete(mems, byLabel(label), byLabel(label)+1)
	}
	n, err := s.DeleteMatching(ctx, mnemo.Filter{Tags: []string{"green"}, TagMode: "all", Start: ptr(hours(20))})
	if err != nil {
		t.Fatal(err)
	}
	kept := mems[:0]
	for _, m := range mems {
		if !(mnemo.Filter{Tags: []string{"green"}, TagMode: "all", Start: ptr(hours(20))}).Matches(m) {
			kept = append(kept, m)
		}
	}
	if n != len(mems)-len(kept) {
		t.Fatalf("DeleteMatching = %d, want %d", n, len(mems)-len(kept))
	}
	mems = kept
	check("deletes")

	// Creates.
	var more []*mnemo.Memory
	for i := range 10 {
		v := randomVec(r)
		m := withVec(mem(fmt.Sprintf("w%02d", i), "new", hours(200+i), "red"), Model, v...)
		more, vecs[m.ID] = append(more, m), v
	}
	mustCreate(t, s, more...)
	mems = append(mems, more...)
	check("creates")
}

// Unembedded lists the memories without a vector of the store's model
// (none, or another model's) up to limit; SetEmbedding of the model takes
// a memory off it, and is ENOTFOUND for a missing one. The backfill
// (service/backfill.go) pages through it this way; the order is the
// backend's.
func testUnembedded(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	s := open(t)
	mustCreate(t, s,
		mem("a", "a", hours(1)),
		withVec(mem("b", "b", hours(2)), Model, 1, 0, 0, 0),
		mem("c", "c", hours(3)),
		withVec(mem("d", "d", hours(4)), OtherModel, 1, 0, 0, 0),
	)
	want := func(limit int, labels ...string) {
		t.Helper()
		un, err := s.Unembedded(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		got := memNames(un)
		if len(got) != min(limit, len(labels)) {
			t.Fatalf("Unembedded(%d) = %v, want %d of %v", limit, got, min(limit, len(labels)), labels)
		}
		for _, g := range got {
			if !slices.Contains(labels, g) {
				t.Fatalf("Unembedded(%d) = %v, want only some of %v", limit, got, labels)
			}
		}
		for _, m := range un {
			if d := memDiff(m, mustMemory(t, s, m.ID)); d != "" {
				t.Errorf("Unembedded memory %s is not the stored memory: %s", name(m.ID), d)
			}
		}
	}
	want(10, "a", "c", "d")
	want(2, "a", "c", "d")
	if err := s.SetEmbedding(ctx, id("c"), []float32{0, 1, 0, 0}, Model); err != nil {
		t.Fatal(err)
	}
	want(10, "a", "d")
	// Replacing a vector changes neither the backlog nor the count.
	if err := s.SetEmbedding(ctx, id("c"), []float32{0, 0, 1, 0}, Model); err != nil {
		t.Fatal(err)
	}
	want(10, "a", "d")
	if got := hitNames(nearest(t, s, []float32{0, 0, 1, 0}, mnemo.Filter{}, 1)); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("Nearest after SetEmbedding = %v, want [c]", got)
	}
	err := s.SetEmbedding(ctx, id("nope"), []float32{1, 0, 0, 0}, Model)
	wantCode(t, "SetEmbedding(nope)", err, mnemo.ENOTFOUND)
	// A vector of another model puts a memory back on the list.
	if err := s.SetEmbedding(ctx, id("b"), []float32{1, 0, 0, 0}, OtherModel); err != nil {
		t.Fatal(err)
	}
	want(10, "a", "b", "d")
	for _, l := range []string{"a", "b", "d"} {
		if err := s.SetEmbedding(ctx, id(l), []float32{1, 1, 1, 1}, Model); err != nil {
			t.Fatal(err)
		}
	}
	want(10)
	wantCounts(t, s, 4, 0, 4)
}
