package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnemohq/mnemo"
)

// recount sums rowBytes over every table, from scratch.
func recount(t *testing.T, s *Store) int64 {
	t.Helper()
	var parts []string
	for table, cost := range rowBytes {
		parts = append(parts, fmt.Sprintf(`(SELECT coalesce(sum(%s), 0) FROM %s r)`, cost("r"), table))
	}
	var n int64
	if err := s.db.reader.QueryRowContext(context.Background(), `SELECT `+strings.Join(parts, " + ")).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// usedBytes is what the database's pages in use take, after a checkpoint.
func usedBytes(t *testing.T, s *Store) int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := s.db.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	var pages, free, size int64
	s.db.reader.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages)
	s.db.reader.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free)
	s.db.reader.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size)
	return (pages - free) * size
}

func storedBytes(t *testing.T, s *Store) int64 {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.StoredBytes
}

// maxTags is a memory with 50 tags of 10 segments: 50 tag rows and 500
// prefix rows, which the bytes counter once left out.
func maxTags(i int) []string {
	var tags []string
	for j := range 50 {
		segs := make([]string, 10)
		for k := range segs {
			segs[k] = fmt.Sprintf("m%d-t%d-s%d", i, j, k)
		}
		tags = append(tags, strings.Join(segs, ":"))
	}
	return tags
}

// The bytes counter, which storage quotas check, follows what the data
// really takes on disk, whatever its shape: many small memories, or
// memories whose tags make hundreds of index rows each.
func TestStoredBytesFollowTheDisk(t *testing.T) {
	ctx := context.Background()
	for _, shape := range []struct {
		name string
		n    int
		mem  func(i int) *mnemo.Memory
	}{
		{"plain", 2000, func(i int) *mnemo.Memory {
			return mem(fmt.Sprintf("00000000-0000-4000-8000-%012d", i), strings.Repeat(fmt.Sprintf("word%d ", i), 40), base, "project:x", "person:y")
		}},
		{"tag-heavy", 100, func(i int) *mnemo.Memory {
			return mem(fmt.Sprintf("00000000-0000-4000-8000-%012d", i), "short", base, maxTags(i)...)
		}},
	} {
		t.Run(shape.name, func(t *testing.T) {
			s, err := OpenStore(ctx, filepath.Join(t.TempDir(), "m.db"), testModel, 4)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			empty := usedBytes(t, s)
			for i := range shape.n {
				m := withVec(shape.mem(i), testModel, 1, 0, 0, 0)
				if _, err := s.Write(ctx, mnemo.Write{Create: []*mnemo.Memory{m}}, mnemo.Quotas{}); err != nil {
					t.Fatal(err)
				}
			}
			counted, used := storedBytes(t, s), usedBytes(t, s)-empty
			if ratio := float64(used) / float64(counted); ratio < 0.7 || ratio > 1.4 {
				t.Fatalf("counted %d bytes for %d on disk (ratio %.2f): a quota would be off by more than 40%%", counted, used, ratio)
			}
		})
	}
}

// Every write keeps the counter equal to a recount from scratch, and a
// delete frees what its memory took at once, index rows included.
func TestStoredBytesStayExact(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(ctx, filepath.Join(t.TempDir(), "m.db"), testModel, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(step string) {
		t.Helper()
		if got, want := storedBytes(t, s), recount(t, s); got != want {
			t.Fatalf("after %s: counter %d, recount %d", step, got, want)
		}
	}
	a := withVec(mem("00000000-0000-4000-8000-00000000000a", "alpha", base, maxTags(1)...), testModel, 1, 0, 0, 0)
	b := mem("00000000-0000-4000-8000-00000000000b", "bravo", base, "x:y")
	if _, err := s.Write(ctx, mnemo.Write{Create: []*mnemo.Memory{a, b}}, mnemo.Quotas{}); err != nil {
		t.Fatal(err)
	}
	check("create")
	if got := storedBytes(t, s); got < 500*2*8 {
		t.Fatalf("a memory with 500 prefix rows counts %d bytes", got)
	}
	a.Tags, a.Content, a.Metadata = maxTags(2)[:10], "alpha, longer now", map[string]any{"k": strings.Repeat("v", 100)}
	if _, err := s.Write(ctx, mnemo.Write{Update: []*mnemo.Memory{a}}, mnemo.Quotas{}); err != nil {
		t.Fatal(err)
	}
	check("update")
	rel := mnemo.Relation{From: a.ID, To: b.ID, Type: "PREFERS_OVER", Strength: 0.5, Props: map[string]any{"reason": "r"}, UpdatedAt: base}
	if _, err := s.Write(ctx, mnemo.Write{Relate: []mnemo.Relation{rel}}, mnemo.Quotas{}); err != nil {
		t.Fatal(err)
	}
	check("relate")
	s.Touch(ctx, []string{a.ID}, base.Add(1))
	if err := s.flushTouches(ctx); err != nil {
		t.Fatal(err)
	}
	check("touch")
	if err := s.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	check("delete")
	if err := s.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if got := storedBytes(t, s); got != 0 {
		t.Fatalf("an empty tenant counts %d bytes", got)
	}
}

// A database of schema version 2 counts its bytes the new way once it
// migrates.
func TestStoredBytesRecountedOnMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	d, err := openDB(ctx, path, 4, 0, storeMigrations[:2])
	if err != nil {
		t.Fatal(err)
	}
	old := &Store{db: d, model: testModel, index: &vectorIndex{dim: 4}}
	m := withVec(mem("00000000-0000-4000-8000-00000000000a", "alpha", base, maxTags(1)...), testModel, 1, 0, 0, 0)
	if _, err := old.Write(ctx, mnemo.Write{Create: []*mnemo.Memory{m}}, mnemo.Quotas{}); err != nil {
		t.Fatal(err)
	}
	before := storedBytes(t, old)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(ctx, path, testModel, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after, want := storedBytes(t, s), recount(t, s)
	if after != want || after <= 10*before {
		t.Fatalf("version 2 counted %d bytes; after the migration %d, want the recount %d", before, after, want)
	}
}
