package sqlite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/export"
	"github.com/mnemohq/mnemo/sqlite"
)

// exportFixture stores memories that use every field: tags with prefixes,
// nested metadata, t_invalid, archived, a vector of the store's model, one
// of another model, and none; plus relations with properties.
func exportFixture(t *testing.T, s *sqlite.Store) {
	t.Helper()
	a := withVec(mem("00000000-0000-4000-8000-00000000000a", "alpha <likes> tea & \"coffee\"", hours(1), "Drink:Tea", "morning"), testModel, 1, 0, 0, 0.5)
	a.Importance, a.Confidence, a.Type = 0.8, 0.75, "Preference"
	a.Metadata = map[string]any{"source": "chat", "nested": map[string]any{"n": 3.5, "list": []any{"x", true}}}
	b := withVec(mem("00000000-0000-4000-8000-00000000000b", "beta moved to Berlin", hours(2)), "other-model", 0.25, 0.5, 0.75, 1)
	inv := hours(5)
	b.TInvalid = &inv
	b.Archived = true
	b.LastAccessed = hours(7).Add(123456 * time.Microsecond)
	c := mem("00000000-0000-4000-8000-00000000000c", "gamma has no vector yet", hours(3), "project/mnemo")
	c.TValid = hours(-24)
	mustCreate(t, s, a, b, c)
	mustAssociate(t, s,
		mnemo.Relation{From: a.ID, To: b.ID, Type: "PREFERS_OVER", Strength: 0.9, Props: map[string]any{"reason": "taste", "context": "home"}, UpdatedAt: hours(4)},
		mnemo.Relation{From: b.ID, To: c.ID, Type: "EVOLVED_INTO", Strength: 0.5, Props: map[string]any{}, UpdatedAt: hours(5)},
	)
}

// exportStore writes s's snapshot as an export, as the service does.
func exportStore(ctx context.Context, s *sqlite.Store, w io.Writer, tenantID string, vectors bool, at time.Time) error {
	sn, err := s.Snapshot(ctx, vectors)
	if err != nil {
		return err
	}
	defer sn.Close()
	return export.Write(w, sn, export.Header{TenantID: tenantID, ExportedAt: at, WithVectors: vectors, EmbeddingModel: testModel})
}

func exportLines(t *testing.T, s *sqlite.Store, tenantID string, vectors bool) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := exportStore(context.Background(), s, &buf, tenantID, vectors, base); err != nil {
		t.Fatalf("Export: %v", err)
	}
	out := strings.Split(buf.String(), "\n")
	if out[len(out)-1] != "" {
		t.Fatalf("export does not end with a newline: %q", buf.String())
	}
	return out[:len(out)-1]
}

// decodeExport turns the lines of an export back into memories and
// relations, as an importer does.
func decodeExport(t *testing.T, lines []string) ([]*mnemo.Memory, []mnemo.Relation) {
	t.Helper()
	var mems []*mnemo.Memory
	var rels []mnemo.Relation
	parse := func(s string) time.Time {
		v, err := mnemo.ParseTime(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, line := range lines[1:] {
		var row struct {
			Kind, ID, Content, Type, Timestamp, TValid, UpdatedAt, LastAccessed, EmbeddingModel string
			Tags                                                                                []string
			Importance, Confidence                                                              float64
			TInvalid                                                                            *string
			Metadata                                                                            map[string]any
			Archived                                                                            bool
			Embedding                                                                           []float32
			Memory1ID, Memory2ID                                                                string
			Strength                                                                            float64
			Properties                                                                          map[string]any
		}
		// The JSON names are snake_case; map them onto the struct.
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		fixed := map[string]any{}
		for k, v := range raw {
			fixed[strings.ReplaceAll(k, "_", "")] = v
		}
		delete(fixed, "tagprefixes")
		b, _ := json.Marshal(fixed)
		if err := json.Unmarshal(b, &row); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		switch row.Kind {
		case "memory":
			m := &mnemo.Memory{ID: row.ID, Content: row.Content, Tags: row.Tags, Importance: row.Importance, Type: row.Type,
				Confidence: row.Confidence, Timestamp: parse(row.Timestamp), TValid: parse(row.TValid), UpdatedAt: parse(row.UpdatedAt),
				LastAccessed: parse(row.LastAccessed), Metadata: row.Metadata, Archived: row.Archived,
				Embedding: row.Embedding, EmbeddingModel: row.EmbeddingModel}
			if row.TInvalid != nil {
				v := parse(*row.TInvalid)
				m.TInvalid = &v
			}
			mems = append(mems, m)
		case "relation":
			rels = append(rels, mnemo.Relation{From: row.Memory1ID, To: row.Memory2ID, Type: mnemo.RelationType(row.Type),
				Strength: row.Strength, Props: row.Properties, UpdatedAt: parse(row.UpdatedAt)})
		default:
			t.Fatalf("unknown kind in %q", line)
		}
	}
	return mems, rels
}

func TestExportFormat(t *testing.T) {
	s, _ := openStore(t)
	exportFixture(t, s)
	lines := exportLines(t, s, "acme", true)
	want := []string{
		`{"embedding_model":"m1","exported_at":"2024-03-01T12:00:00+00:00","format":"mnemo-export","memories":3,"relations":2,"tenant_id":"acme","vectors":true,"version":1}`,
		`{"kind":"memory","archived":false,"confidence":0.75,"content":"alpha \u003clikes\u003e tea \u0026 \"coffee\"","id":"00000000-0000-4000-8000-00000000000a","importance":0.8,"last_accessed":"2024-03-01T13:00:00+00:00","metadata":{"nested":{"list":["x",true],"n":3.5},"source":"chat"},"t_invalid":null,"t_valid":"2024-03-01T13:00:00+00:00","tag_prefixes":["drink","drink:tea","morning"],"tags":["Drink:Tea","morning"],"timestamp":"2024-03-01T13:00:00+00:00","type":"Preference","updated_at":"2024-03-01T13:00:00+00:00","embedding":[1,0,0,0.5],"embedding_model":"m1"}`,
		`{"kind":"memory","archived":true,"confidence":0.9,"content":"beta moved to Berlin","id":"00000000-0000-4000-8000-00000000000b","importance":0.5,"last_accessed":"2024-03-01T19:00:00.123456+00:00","metadata":{},"t_invalid":"2024-03-01T17:00:00+00:00","t_valid":"2024-03-01T14:00:00+00:00","tag_prefixes":[],"tags":[],"timestamp":"2024-03-01T14:00:00+00:00","type":"Context","updated_at":"2024-03-01T14:00:00+00:00","embedding":[0.25,0.5,0.75,1],"embedding_model":"other-model"}`,
		`{"kind":"memory","archived":false,"confidence":0.9,"content":"gamma has no vector yet","id":"00000000-0000-4000-8000-00000000000c","importance":0.5,"last_accessed":"2024-03-01T15:00:00+00:00","metadata":{},"t_invalid":null,"t_valid":"2024-02-29T12:00:00+00:00","tag_prefixes":["project","project:mnemo"],"tags":["project/mnemo"],"timestamp":"2024-03-01T15:00:00+00:00","type":"Context","updated_at":"2024-03-01T15:00:00+00:00"}`,
		`{"kind":"relation","memory1_id":"00000000-0000-4000-8000-00000000000a","memory2_id":"00000000-0000-4000-8000-00000000000b","properties":{"context":"home","reason":"taste"},"strength":0.9,"type":"PREFERS_OVER","updated_at":"2024-03-01T16:00:00+00:00"}`,
		`{"kind":"relation","memory1_id":"00000000-0000-4000-8000-00000000000b","memory2_id":"00000000-0000-4000-8000-00000000000c","properties":{},"strength":0.5,"type":"EVOLVED_INTO","updated_at":"2024-03-01T17:00:00+00:00"}`,
	}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("export:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// Without vectors: the same lines minus the embedding fields.
	noVec := exportLines(t, s, "acme", false)
	if !strings.Contains(noVec[0], `"vectors":false`) || len(noVec) != len(want) {
		t.Fatalf("header without vectors: %v", noVec)
	}
	for i, line := range noVec[1:] {
		if strings.Contains(line, "embedding") {
			t.Fatalf("line %d has an embedding: %s", i+2, line)
		}
	}
	if noVec[3] != want[3] || noVec[4] != want[4] {
		t.Fatalf("lines without vectors differ: %v", noVec)
	}

	// Every line is valid JSON.
	for i, line := range lines {
		if !json.Valid([]byte(line)) {
			t.Fatalf("line %d is not JSON: %s", i+1, line)
		}
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src, _ := openStore(t)
	exportFixture(t, src)
	lines := exportLines(t, src, "src", true)
	mems, rels := decodeExport(t, lines)

	dst, dstPath := openStore(t)
	created, relsCreated, err := dst.Import(ctx, mems, rels, mnemo.Quotas{})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	wantIDs := []string{"00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000c"}
	if !reflect.DeepEqual(created, wantIDs) || relsCreated != 2 {
		t.Fatalf("Import = %v, %d relations; want %v, 2", created, relsCreated, wantIDs)
	}
	wantStats(t, dst, dstPath, 3, 2, 2)

	// The import exports to the same lines: every field, vector and
	// relation came across, in the same order.
	again := exportLines(t, dst, "src", true)
	if !reflect.DeepEqual(again, lines) {
		t.Fatalf("re-export differs:\n%s\nwant:\n%s", strings.Join(again, "\n"), strings.Join(lines, "\n"))
	}
	for _, id := range wantIDs {
		a, _ := src.Memory(ctx, id)
		b, _ := dst.Memory(ctx, id)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("memory %s: %+v, want %+v", id, b, a)
		}
	}
	// The imported vector of the current model is searchable; the one of
	// another model is not (as in the source).
	for _, st := range []*sqlite.Store{src, dst} {
		hits, err := st.Nearest(ctx, []float32{1, 0, 0, 0.5}, mnemo.Filter{}, 10)
		if err != nil || len(hits) != 1 || hits[0].Memory.ID != wantIDs[0] {
			t.Fatalf("Nearest: %v %v", hitIDs(hits), err)
		}
		unemb, err := st.Unembedded(ctx, 10)
		if err != nil || !reflect.DeepEqual(memIDs(unemb), wantIDs[1:]) {
			t.Fatalf("Unembedded: %v %v", memIDs(unemb), err)
		}
	}

	// A second import creates nothing and changes nothing.
	created, relsCreated, err = dst.Import(ctx, mems, rels, mnemo.Quotas{})
	if err != nil || len(created) != 0 || relsCreated != 0 {
		t.Fatalf("second Import = %v, %d, %v; want nothing", created, relsCreated, err)
	}
	wantStats(t, dst, dstPath, 3, 2, 2)
	if again := exportLines(t, dst, "src", true); !reflect.DeepEqual(again, lines) {
		t.Fatalf("second import changed the data:\n%s", strings.Join(again, "\n"))
	}
}

// hookWriter calls hook before its first write, then writes to w.
type hookWriter struct {
	w    io.Writer
	hook func()
}

func (h *hookWriter) Write(p []byte) (int, error) {
	if h.hook != nil {
		h.hook()
		h.hook = nil
	}
	return h.w.Write(p)
}

// TestExportIsASnapshot: writes that commit while an export streams are not
// in it, and deletes do not take anything out of it.
func TestExportIsASnapshot(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.OpenStore(ctx, filepath.Join(t.TempDir(), "memories.db"), testModel, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mems []*mnemo.Memory
	vec := make([]float32, 256)
	for i := range vec {
		vec[i] = float32(i) / 3
	}
	for i := 0; i < 300; i++ {
		mems = append(mems, withVec(mem(fmt.Sprintf("00000000-0000-4000-8000-%012d", i), fmt.Sprintf("memory %d", i), hours(i)), testModel, vec...))
	}
	mustCreate(t, s, mems...)
	mustAssociate(t, s, mnemo.Relation{From: mems[0].ID, To: mems[299].ID, Type: "RELATES_TO", Strength: 0.5, UpdatedAt: hours(1)})

	var buf bytes.Buffer
	// The export is larger than its 64 KiB buffer, so its first write to
	// the destination happens while it is still reading memories.
	w := &hookWriter{w: &buf, hook: func() {
		mustCreate(t, s, mem("00000000-0000-4000-8000-999999999999", "written during the export", hours(400)))
		if err := s.Delete(ctx, mems[299].ID); err != nil {
			t.Fatal(err)
		}
	}}
	if err := exportStore(ctx, s, w, "t", true, base); err != nil {
		t.Fatalf("Export: %v", err)
	}
	if w.hook != nil {
		t.Fatal("the hook never ran")
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1+300+1 {
		t.Fatalf("export has %d lines, want 302", len(lines))
	}
	if !strings.Contains(lines[0], `"memories":300,"relations":1,`) {
		t.Fatalf("header: %s", lines[0])
	}
	if strings.Contains(buf.String(), "written during the export") {
		t.Fatal("a memory written during the export is in it")
	}
	if !strings.Contains(lines[300], `"id":"`+mems[299].ID+`"`) || !strings.Contains(lines[301], `"kind":"relation"`) {
		t.Fatalf("a memory deleted during the export is missing from it: %.200s / %.200s", lines[300], lines[301])
	}
}
