package storetest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// Model and Dim are the embedding model and dimension the stores under
// test must be opened for: vectors of Model are searched, others are not.
const (
	Model = "storetest-model"
	Dim   = 4
)

// OtherModel names vectors of a model the store was not opened for.
const OtherModel = "storetest-other-model"

// base is the fixed clock every fixture's times derive from.
var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func hours(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }

func ptr(t time.Time) *time.Time { return &t }

// id turns a short label (at most six bytes) into a UUID-shaped memory id,
// as the service makes them; name turns it back for failure messages.
// Labels of one length sort as their ids do.
func id(label string) string {
	if len(label) > 6 {
		panic("storetest: label longer than six bytes: " + label)
	}
	return fmt.Sprintf("00000000-0000-4000-8000-%012s", hex.EncodeToString([]byte(label)))
}

func name(memID string) string {
	raw := strings.TrimLeft(strings.TrimPrefix(memID, "00000000-0000-4000-8000-"), "0")
	if len(raw)%2 == 1 {
		raw = "0" + raw
	}
	if b, err := hex.DecodeString(raw); err == nil && len(raw) > 0 && strings.HasPrefix(memID, "00000000-0000-4000-8000-") {
		return string(b)
	}
	return memID
}

func ids(labels ...string) []string {
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = id(l)
	}
	return out
}

// mem returns a memory with every field set to a deterministic value.
func mem(label, content string, ts time.Time, tags ...string) *mnemo.Memory {
	if tags == nil {
		tags = []string{}
	}
	return &mnemo.Memory{
		ID: id(label), Content: content, Tags: tags, Importance: 0.5, Type: "Context", Confidence: 0.9,
		Timestamp: ts, TValid: ts, UpdatedAt: ts, LastAccessed: ts, Metadata: map[string]any{},
	}
}

func withVec(m *mnemo.Memory, model string, v ...float32) *mnemo.Memory {
	m.Embedding, m.EmbeddingModel = v, model
	return m
}

func rel(from, to string, typ mnemo.RelationType, strength float64, updated time.Time) mnemo.Relation {
	return mnemo.Relation{From: id(from), To: id(to), Type: typ, Strength: strength, Props: map[string]any{}, UpdatedAt: updated}
}

var ctx = context.Background()

func mustWrite(t *testing.T, s mnemo.MemoryStore, w mnemo.Write) mnemo.TenantStats {
	t.Helper()
	added, err := s.Write(ctx, w, mnemo.Quotas{})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return added
}

func mustCreate(t *testing.T, s mnemo.MemoryStore, mems ...*mnemo.Memory) {
	t.Helper()
	mustWrite(t, s, mnemo.Write{Create: mems})
}

func mustUpdate(t *testing.T, s mnemo.MemoryStore, mems ...*mnemo.Memory) {
	t.Helper()
	mustWrite(t, s, mnemo.Write{Update: mems})
}

func mustRelate(t *testing.T, s mnemo.MemoryStore, rels ...mnemo.Relation) {
	t.Helper()
	mustWrite(t, s, mnemo.Write{Relate: rels})
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

func names(memIDs []string) []string {
	out := make([]string, len(memIDs))
	for i, x := range memIDs {
		out[i] = name(x)
	}
	return out
}

func memNames(mems []*mnemo.Memory) []string {
	out := []string{}
	for _, m := range mems {
		out = append(out, name(m.ID))
	}
	return out
}

func hitNames(hits []mnemo.Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, name(h.Memory.ID))
	}
	return out
}

func sorted(s []string) []string {
	c := append([]string{}, s...)
	slices.Sort(c)
	return c
}

// list returns the names of the memories f selects, oldest first.
func list(t *testing.T, s mnemo.MemoryStore, f mnemo.Filter) []string {
	t.Helper()
	mems, err := s.List(ctx, f, mnemo.OrderTimeAsc, 1000, 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return memNames(mems)
}

func keyword(t *testing.T, s mnemo.MemoryStore, terms []string, f mnemo.Filter, limit int) []mnemo.Hit {
	t.Helper()
	hits, err := s.Keyword(ctx, terms, f, limit)
	if err != nil {
		t.Fatalf("Keyword(%q): %v", terms, err)
	}
	return hits
}

func nearest(t *testing.T, s mnemo.MemoryStore, q []float32, f mnemo.Filter, limit int) []mnemo.Hit {
	t.Helper()
	hits, err := s.Nearest(ctx, q, f, limit)
	if err != nil {
		t.Fatalf("Nearest: %v", err)
	}
	return hits
}

func stats(t *testing.T, s mnemo.MemoryStore) mnemo.TenantStats {
	t.Helper()
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// wantCounts checks the counters a backend keeps exactly. StorageBytes
// (the files or memory a backend uses) and StoredBytes (its own cost
// model) differ between backends and are checked by their deltas.
func wantCounts(t *testing.T, s mnemo.MemoryStore, memories, relations, vectors int64) {
	t.Helper()
	st := stats(t, s)
	if st.Memories != memories || st.Relations != relations || st.Vectors != vectors {
		t.Fatalf("Stats = memories %d, relations %d, vectors %d; want %d, %d, %d",
			st.Memories, st.Relations, st.Vectors, memories, relations, vectors)
	}
}

// stored is what reading m back must return: everything but the write-only
// embedding fields.
func stored(m *mnemo.Memory) *mnemo.Memory {
	c := *m
	c.Embedding, c.EmbeddingModel = nil, ""
	return &c
}

// memDiff describes how got differs from want, field by field; "" when
// they are the same. Times compare as instants, to the microsecond the
// wire format keeps (mnemo.FormatTime): a backend may return them in
// another location.
func memDiff(got, want *mnemo.Memory) string {
	if got == nil {
		return "got nil"
	}
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %#v, want %#v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", name(got.ID), name(want.ID))
	}
	if got.Content != want.Content {
		add("Content", got.Content, want.Content)
	}
	wantTags := want.Tags
	if wantTags == nil {
		wantTags = []string{}
	}
	if got.Tags == nil || !slices.Equal(got.Tags, wantTags) {
		add("Tags", got.Tags, wantTags)
	}
	if got.Importance != want.Importance {
		add("Importance", got.Importance, want.Importance)
	}
	if got.Type != want.Type {
		add("Type", got.Type, want.Type)
	}
	if got.Confidence != want.Confidence {
		add("Confidence", got.Confidence, want.Confidence)
	}
	for _, tf := range []struct {
		field string
		g, w  time.Time
	}{{"Timestamp", got.Timestamp, want.Timestamp}, {"TValid", got.TValid, want.TValid},
		{"UpdatedAt", got.UpdatedAt, want.UpdatedAt}, {"LastAccessed", got.LastAccessed, want.LastAccessed}} {
		if !tf.g.Equal(tf.w.Truncate(time.Microsecond)) {
			add(tf.field, tf.g, tf.w)
		}
	}
	switch {
	case (got.TInvalid == nil) != (want.TInvalid == nil):
		add("TInvalid", got.TInvalid, want.TInvalid)
	case got.TInvalid != nil && !got.TInvalid.Equal(want.TInvalid.Truncate(time.Microsecond)):
		add("TInvalid", *got.TInvalid, *want.TInvalid)
	}
	wantMeta := want.Metadata
	if wantMeta == nil {
		wantMeta = map[string]any{}
	}
	if got.Metadata == nil || !reflect.DeepEqual(got.Metadata, wantMeta) {
		add("Metadata", got.Metadata, wantMeta)
	}
	if got.Archived != want.Archived {
		add("Archived", got.Archived, want.Archived)
	}
	if !slices.Equal(got.Embedding, want.Embedding) || got.EmbeddingModel != want.EmbeddingModel {
		add("Embedding", fmt.Sprint(got.EmbeddingModel, got.Embedding), fmt.Sprint(want.EmbeddingModel, want.Embedding))
	}
	return strings.Join(d, "; ")
}

func wantMemory(t *testing.T, s mnemo.MemoryStore, want *mnemo.Memory) {
	t.Helper()
	got, err := s.Memory(ctx, want.ID)
	if err != nil {
		t.Fatalf("Memory(%s): %v", name(want.ID), err)
	}
	if d := memDiff(got, stored(want)); d != "" {
		t.Errorf("Memory(%s): %s", name(want.ID), d)
	}
}

func wantGone(t *testing.T, s mnemo.MemoryStore, labels ...string) {
	t.Helper()
	for _, l := range labels {
		_, err := s.Memory(ctx, id(l))
		wantCode(t, "Memory("+l+")", err, mnemo.ENOTFOUND)
	}
}

// relDiff compares relations; Props compare as JSON, so that a backend may
// decode numbers as float64 or json.Number.
func relDiff(got, want mnemo.Relation) string {
	if got.From != want.From || got.To != want.To || got.Type != want.Type || got.Strength != want.Strength ||
		!got.UpdatedAt.Equal(want.UpdatedAt.Truncate(time.Microsecond)) || jsonOf(got.Props) != jsonOf(want.Props) || got.Props == nil {
		return fmt.Sprintf("got %s, want %s", relString(got), relString(want))
	}
	return ""
}

func relString(r mnemo.Relation) string {
	return fmt.Sprintf("%s-[%s %v %s %s]->%s", name(r.From), r.Type, r.Strength, jsonOf(r.Props), r.UpdatedAt.Format(time.RFC3339Nano), name(r.To))
}

func relStrings(rels []mnemo.Relation) []string {
	out := []string{}
	for _, r := range rels {
		out = append(out, relString(r))
	}
	return out
}

func wantRelations(t *testing.T, what string, got, want []mnemo.Relation) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %v, want %v", what, relStrings(got), relStrings(want))
	}
	for i := range want {
		if d := relDiff(got[i], want[i]); d != "" {
			t.Fatalf("%s[%d]: %s\n all: %v", what, i, d, relStrings(got))
		}
	}
}

func jsonOf(v any) string {
	if m, ok := v.(map[string]any); ok && m == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("!%v", err)
	}
	return string(b)
}

// Cosine is the exact cosine similarity that a store's vector search is
// held to.
func Cosine(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

// scoreTolerance allows for a backend that scores in float32 (or returns a
// distance it converts back): enough for that, far below the gaps between
// the fixtures' similarities.
const scoreTolerance = 1e-4

// sameCounters compares what a store counts of its data, leaving out
// StorageBytes: a rolled-back write may still grow a file.
func sameCounters(a, b mnemo.TenantStats) bool {
	a.StorageBytes, b.StorageBytes = 0, 0
	return a == b
}
