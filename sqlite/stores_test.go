package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// This file is a white-box test (package sqlite) so that it can delay a
// store's stats report; its small helpers mirror those of store_test.go and
// registry_test.go, which are in package sqlite_test.

const testModel = "m1"

var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func hours(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }

func mem(id, content string, ts time.Time, tags ...string) *mnemo.Memory {
	if tags == nil {
		tags = []string{}
	}
	return &mnemo.Memory{ID: id, Content: content, Tags: tags, Importance: 0.5, Type: "Context", Confidence: 0.9,
		Timestamp: ts, TValid: ts, UpdatedAt: ts, LastAccessed: ts, Metadata: map[string]any{}}
}

func withVec(m *mnemo.Memory, model string, v ...float32) *mnemo.Memory {
	m.Embedding, m.EmbeddingModel = v, model
	return m
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

func rawCount(t *testing.T, path, query string) int {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func openRegistry(t *testing.T, dir string) *Registry {
	t.Helper()
	r, err := OpenRegistry(context.Background(), dir)
	if err != nil {
		t.Fatalf("OpenRegistry: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func tenant(id string, created time.Time) *mnemo.Tenant {
	return &mnemo.Tenant{ID: id, Name: "Tenant " + id, Status: mnemo.TenantActive, CreatedAt: created, UpdatedAt: created}
}

func mustCreateTenant(t *testing.T, r *Registry, tn *mnemo.Tenant, token string) {
	t.Helper()
	k := &mnemo.Key{ID: "key_" + tn.ID, TenantID: tn.ID, Label: "first", Prefix: mnemo.DisplayPrefix(token, false),
		Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: tn.CreatedAt}
	if err := r.CreateTenant(context.Background(), tn, k, mnemo.HashToken(token)); err != nil {
		t.Fatalf("CreateTenant(%s): %v", tn.ID, err)
	}
}

func newStores(t *testing.T, dataDir string) (*Stores, *Registry) {
	t.Helper()
	reg := openRegistry(t, dataDir)
	p, err := NewStores(context.Background(), dataDir, testModel, 4, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("NewStores: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p, reg
}

func mustOpen(t *testing.T, p *Stores, id string) (mnemo.MemoryStore, func()) {
	t.Helper()
	st, release, err := p.Open(context.Background(), id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	if st == nil || release == nil {
		t.Fatalf("Open(%s) returned a nil store or release", id)
	}
	return st, release
}

// mustCreateStore creates tenant id as the service does: its registry row,
// then its store.
func mustCreateStore(t *testing.T, p *Stores, id string) {
	t.Helper()
	if _, err := p.registry.Tenant(context.Background(), id); err != nil {
		mustCreateTenant(t, p.registry, tenant(id, base), "token-of-"+id)
	}
	if err := p.Create(context.Background(), id); err != nil {
		t.Fatalf("Stores.Create(%s): %v", id, err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func memCount(t *testing.T, st mnemo.MemoryStore) int64 {
	t.Helper()
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return s.Memories
}

func TestStoresCreateOpenRelease(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	p, _ := newStores(t, dataDir)
	mustCreateStore(t, p, "acme")
	path := filepath.Join(dataDir, "tenants", "acme", "memories.db")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Create did not make %s: %v", path, err)
	}

	st, release := mustOpen(t, p, "acme")
	if n := memCount(t, st); n != 0 {
		t.Fatalf("new tenant has %d memories", n)
	}
	if err := create(ctx, st, []*mnemo.Memory{mem("a", "hello tenant", hours(1))}); err != nil {
		t.Fatal(err)
	}
	// A second concurrent holder shares the same store.
	st2, release2 := mustOpen(t, p, "acme")
	if m, err := st2.Memory(ctx, "a"); err != nil || m.Content != "hello tenant" {
		t.Fatalf("second holder: %v, %v", m, err)
	}
	release2()
	release()
	if n := p.OpenCount(); n != 1 {
		t.Errorf("OpenCount after release = %d, want 1 (kept until idle)", n)
	}

	st3, release3 := mustOpen(t, p, "acme")
	defer release3()
	if m, err := st3.Memory(ctx, "a"); err != nil || m.Content != "hello tenant" {
		t.Fatalf("after release and re-open: %v, %v", m, err)
	}

	// A new pool over the same directory (a restart) finds the data.
	p.Close()
	p2, err := NewStores(context.Background(), dataDir, testModel, 4, p.registry, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	st4, release4 := mustOpen(t, p2, "acme")
	defer release4()
	if m, err := st4.Memory(ctx, "a"); err != nil || m.Content != "hello tenant" {
		t.Fatalf("after restart: %v, %v", m, err)
	}
}

func TestStoresOpenMissingTenant(t *testing.T) {
	dataDir := t.TempDir()
	p, _ := newStores(t, dataDir)
	for i := 0; i < 2; i++ {
		st, release, err := p.Open(context.Background(), "ghost")
		wantCode(t, "Open(ghost)", err, mnemo.ENOTFOUND)
		if st != nil || release != nil {
			t.Errorf("failed Open returned store %v, release %v", st, release != nil)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "tenants", "ghost")); !os.IsNotExist(err) {
		t.Errorf("Open of a missing tenant created its directory: %v", err)
	}
	if got := dirNames(t, filepath.Join(dataDir, "tenants")); len(got) != 0 {
		t.Errorf("tenants directory = %v, want empty", got)
	}
	// A failed open holds nothing in the pool.
	if n := p.OpenCount(); n != 0 {
		t.Errorf("OpenCount after failed opens = %d, want 0", n)
	}
	// The tenant can be created afterwards and then opens.
	mustCreateStore(t, p, "ghost")
	_, release := mustOpen(t, p, "ghost")
	release()

	// A registered tenant whose data directory is gone is damaged: a 503
	// that names it, not a 404 that nobody hears about, and never an empty
	// store made in its place.
	mustCreateStore(t, p, "lost")
	p.IdleTimeout = 0
	p.CloseIdle()
	if err := os.RemoveAll(filepath.Join(dataDir, "tenants", "lost")); err != nil {
		t.Fatal(err)
	}
	_, _, err := p.Open(context.Background(), "lost")
	wantCode(t, "Open(lost)", err, mnemo.EUNAVAILABLE)
	if !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("the error does not say the store is damaged: %v", err)
	}
	if d := p.Pool().Damaged; len(d) != 1 || d[0].TenantID != "lost" || !strings.Contains(d[0].Reason, "data directory") {
		t.Fatalf("Pool().Damaged = %+v, want lost with what is missing", d)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "tenants", "lost")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the lost tenant's directory was made again: %v", err)
	}
}

// Each tenant has its own database file (the contract suite checks that
// no read or write crosses tenants).
func TestStoresIsolation(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	p, _ := newStores(t, dataDir)
	mustCreateStore(t, p, "alpha")
	mustCreateStore(t, p, "beta")
	a, ra := mustOpen(t, p, "alpha")
	defer ra()
	b, rb := mustOpen(t, p, "beta")
	defer rb()
	if err := create(ctx, a, []*mnemo.Memory{mem("m1", "alpha secret", hours(1)), mem("m2", "alpha second", hours(2))}); err != nil {
		t.Fatal(err)
	}
	if err := create(ctx, b, []*mnemo.Memory{mem("m1", "beta's own m1", hours(5))}); err != nil {
		t.Fatal(err)
	}

	pa := filepath.Join(dataDir, "tenants", "alpha", "memories.db")
	pb := filepath.Join(dataDir, "tenants", "beta", "memories.db")
	fa, err := os.Stat(pa)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Stat(pb)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(fa, fb) {
		t.Fatal("alpha and beta share a database file")
	}
	if n := rawCount(t, pb, `SELECT COUNT(*) FROM memories`); n != 1 {
		t.Errorf("beta's file holds %d memories, want 1", n)
	}
	if n := rawCount(t, pa, `SELECT COUNT(*) FROM memories WHERE content LIKE 'beta%'`); n != 0 {
		t.Errorf("alpha's file holds beta's memory")
	}
}

func trashEntries(t *testing.T, tenantsDir string) []string {
	t.Helper()
	var out []string
	for _, n := range dirNames(t, tenantsDir) {
		if strings.HasPrefix(n, ".trash-") {
			out = append(out, n)
		}
	}
	return out
}

func TestStoresDrop(t *testing.T) {
	ctx := context.Background()

	t.Run("held store", func(t *testing.T) {
		dataDir := t.TempDir()
		tenants := filepath.Join(dataDir, "tenants")
		p, _ := newStores(t, dataDir)
		mustCreateStore(t, p, "x")
		mustCreateStore(t, p, "keep")
		st, release := mustOpen(t, p, "x")
		st2, release2 := mustOpen(t, p, "x")
		if err := create(ctx, st, []*mnemo.Memory{mem("old", "old data", hours(1))}); err != nil {
			t.Fatal(err)
		}

		if err := p.registry.DeleteTenant(ctx, "x"); err != nil { // the service deletes the registry entry first
			t.Fatal(err)
		}
		if err := p.Drop(ctx, "x"); err != nil {
			t.Fatalf("Drop: %v", err)
		}
		if _, err := os.Stat(filepath.Join(tenants, "x")); !os.IsNotExist(err) {
			t.Fatalf("tenant directory still in place after Drop: %v", err)
		}
		trash := trashEntries(t, tenants)
		if len(trash) != 1 || !strings.HasPrefix(trash[0], ".trash-x-") {
			t.Fatalf("trash after Drop = %v, want one .trash-x-* directory", trash)
		}
		if _, err := os.Stat(filepath.Join(tenants, trash[0], "memories.db")); err != nil {
			t.Fatalf("files removed while still held: %v", err)
		}
		// An in-flight holder finishes its reads.
		if m, err := st.Memory(ctx, "old"); err != nil || m.Content != "old data" {
			t.Errorf("held store after Drop: %v, %v", m, err)
		}
		_, _, err := p.Open(ctx, "x")
		wantCode(t, "Open after Drop", err, mnemo.ENOTFOUND)

		// The id can be created again at once and starts empty.
		mustCreateStore(t, p, "x")
		fresh, rf := mustOpen(t, p, "x")
		if n := memCount(t, fresh); n != 0 {
			t.Fatalf("re-created tenant has %d memories, want 0", n)
		}
		if _, err := fresh.Memory(ctx, "old"); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
			t.Fatalf("re-created tenant sees the dropped memory: %v", err)
		}
		if err := create(ctx, fresh, []*mnemo.Memory{mem("new", "new data", hours(2))}); err != nil {
			t.Fatal(err)
		}
		rf()

		release()
		if got := trashEntries(t, tenants); len(got) != 1 {
			t.Fatalf("trash removed while a holder remains: %v", got)
		}
		_ = st2
		release2()
		if got := dirNames(t, tenants); !reflect.DeepEqual(got, []string{"keep", "x"}) {
			t.Fatalf("tenants after last release = %v, want [keep x]", got)
		}
		// The new tenant's data is untouched by the old one's removal.
		again, ra := mustOpen(t, p, "x")
		defer ra()
		if m, err := again.Memory(ctx, "new"); err != nil || m.Content != "new data" {
			t.Fatalf("re-created tenant lost its data: %v, %v", m, err)
		}
		if n := memCount(t, again); n != 1 {
			t.Fatalf("re-created tenant has %d memories, want 1", n)
		}
	})

	t.Run("idle store", func(t *testing.T) {
		dataDir := t.TempDir()
		tenants := filepath.Join(dataDir, "tenants")
		p, _ := newStores(t, dataDir)
		mustCreateStore(t, p, "y")
		st, release := mustOpen(t, p, "y")
		if err := create(ctx, st, []*mnemo.Memory{mem("a", "a", hours(1))}); err != nil {
			t.Fatal(err)
		}
		release()
		if err := p.registry.DeleteTenant(ctx, "y"); err != nil { // the service deletes the registry entry first
			t.Fatal(err)
		}
		if err := p.Drop(ctx, "y"); err != nil {
			t.Fatal(err)
		}
		if got := dirNames(t, tenants); len(got) != 0 {
			t.Fatalf("tenants after Drop of an idle store = %v, want empty", got)
		}
		if n := p.OpenCount(); n != 0 {
			t.Errorf("OpenCount after Drop = %d, want 0", n)
		}
		if _, err := st.Memory(ctx, "a"); err == nil {
			t.Error("dropped idle store still answers: not closed")
		}
	})

	t.Run("store not in the pool", func(t *testing.T) {
		dataDir := t.TempDir()
		tenants := filepath.Join(dataDir, "tenants")
		p, _ := newStores(t, dataDir)
		mustCreateStore(t, p, "z")
		p.IdleTimeout = 0
		time.Sleep(2 * time.Millisecond)
		p.CloseIdle()
		if n := p.OpenCount(); n != 0 {
			t.Fatalf("OpenCount = %d, want 0", n)
		}
		if err := p.registry.DeleteTenant(ctx, "z"); err != nil { // the service deletes the registry entry first
			t.Fatal(err)
		}
		if err := p.Drop(ctx, "z"); err != nil {
			t.Fatal(err)
		}
		if got := dirNames(t, tenants); len(got) != 0 {
			t.Fatalf("tenants after Drop = %v, want empty", got)
		}
	})

	t.Run("a new pool clears trash left by a crash", func(t *testing.T) {
		dataDir := t.TempDir()
		tenants := filepath.Join(dataDir, "tenants")
		if err := os.MkdirAll(filepath.Join(tenants, ".trash-w-123", "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(tenants, "w"), 0o700); err != nil {
			t.Fatal(err)
		}
		mustCreateTenant(t, openRegistry(t, dataDir), tenant("w", base), "token-of-w")
		newStores(t, dataDir)
		if got := dirNames(t, tenants); !reflect.DeepEqual(got, []string{"w"}) {
			t.Fatalf("tenants after NewStores = %v, want [w]", got)
		}
	})
}

func TestStoresCloseIdle(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	p, _ := newStores(t, dataDir)
	mustCreateStore(t, p, "a")
	mustCreateStore(t, p, "b")
	st, release := mustOpen(t, p, "a")
	if err := create(ctx, st, []*mnemo.Memory{mem("m", "survives closing", hours(1))}); err != nil {
		t.Fatal(err)
	}
	release()

	// Not idle long enough: kept.
	p.IdleTimeout = time.Hour
	p.CloseIdle()
	if n := p.OpenCount(); n != 2 {
		t.Fatalf("OpenCount after CloseIdle with a long timeout = %d, want 2", n)
	}
	if _, err := st.Memory(ctx, "m"); err != nil {
		t.Fatalf("store closed before its idle timeout: %v", err)
	}

	// b is held, so it stays open whatever its idle time.
	held, releaseHeld := mustOpen(t, p, "b")
	p.IdleTimeout = 0
	time.Sleep(5 * time.Millisecond)
	p.CloseIdle()
	if n := p.OpenCount(); n != 1 {
		t.Fatalf("OpenCount after CloseIdle = %d, want 1 (the held store)", n)
	}
	if _, err := st.Memory(ctx, "m"); err == nil {
		t.Fatal("idle store still answers after CloseIdle: not closed")
	}
	if _, err := held.Stats(ctx); err != nil {
		t.Fatalf("held store closed by CloseIdle: %v", err)
	}

	// A later Open reopens with the data.
	again, releaseAgain := mustOpen(t, p, "a")
	if m, err := again.Memory(ctx, "m"); err != nil || m.Content != "survives closing" {
		t.Fatalf("after reopen: %v, %v", m, err)
	}
	releaseAgain()
	releaseHeld()
	time.Sleep(5 * time.Millisecond)
	p.CloseIdle()
	if n := p.OpenCount(); n != 0 {
		t.Fatalf("OpenCount after everything went idle = %d, want 0", n)
	}
	if _, err := held.Stats(ctx); err == nil {
		t.Fatal("released store still answers after CloseIdle")
	}
	final, releaseFinal := mustOpen(t, p, "b")
	defer releaseFinal()
	if n := memCount(t, final); n != 0 {
		t.Fatalf("b has %d memories, want 0", n)
	}
}

func TestStoresRejectInvalidTenantIDs(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	p, _ := newStores(t, dataDir)
	before := dirNames(t, dataDir)
	invalid := []string{
		"", "A", "Acme", "../escape", "..", ".", "a/b", `a\b`, ".trash-x", "-a", "_a", "a b", "a.b",
		"ü", "a\x00b", strings.Repeat("a", 64), "a\n", " a",
	}
	for _, id := range invalid {
		if err := p.Create(ctx, id); mnemo.ErrorCode(err) != mnemo.EINVALID {
			t.Errorf("Create(%q) err = %v, want EINVALID", id, err)
		} else if !strings.Contains(mnemo.ErrorMessage(err), mnemo.TenantIDRule) {
			t.Errorf("Create(%q) message %q does not show the rule", id, mnemo.ErrorMessage(err))
		}
		if _, _, err := p.Open(ctx, id); mnemo.ErrorCode(err) != mnemo.EINVALID {
			t.Errorf("Open(%q) err = %v, want EINVALID", id, err)
		}
		if err := p.Drop(ctx, id); mnemo.ErrorCode(err) != mnemo.EINVALID {
			t.Errorf("Drop(%q) err = %v, want EINVALID", id, err)
		}
	}
	if got := dirNames(t, filepath.Join(dataDir, "tenants")); len(got) != 0 {
		t.Errorf("invalid ids left %v under tenants/", got)
	}
	if got := dirNames(t, dataDir); !reflect.DeepEqual(got, before) {
		t.Errorf("invalid ids changed the data directory: %v, was %v", got, before)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dataDir), "escape")); !os.IsNotExist(err) {
		t.Errorf("../escape created something outside the data directory: %v", err)
	}
	if n := p.OpenCount(); n != 0 {
		t.Errorf("OpenCount = %d, want 0", n)
	}

	for _, id := range []string{"a", "0", "a-b_c", "9lives", strings.Repeat("a", 63)} {
		if err := p.Create(ctx, id); err != nil {
			t.Errorf("Create(%q): %v", id, err)
			continue
		}
		_, release, err := p.Open(ctx, id)
		if err != nil {
			t.Errorf("Open(%q): %v", id, err)
			continue
		}
		release()
		if err := p.Drop(ctx, id); err != nil {
			t.Errorf("Drop(%q): %v", id, err)
		}
	}
}

func TestStoresMirrorStatsIntoRegistry(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	p, reg := newStores(t, dataDir)
	for _, id := range []string{"acme", "other"} {
		mustCreateTenant(t, reg, tenant(id, hours(0)), id+"-token")
		mustCreateStore(t, p, id)
	}
	st, release := mustOpen(t, p, "acme")
	t.Cleanup(func() { release() })

	mirror := func(step string) {
		t.Helper()
		want, err := st.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := reg.Tenant(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if got.Stats != want {
			t.Fatalf("%s: registry stats %+v, store stats %+v", step, got.Stats, want)
		}
	}
	mirror("after Create")
	if got, _ := reg.Tenant(ctx, "acme"); got.Stats.StorageBytes <= 0 {
		t.Fatalf("registry storage bytes after Create = %d, want > 0", got.Stats.StorageBytes)
	}

	steps := []struct {
		name                         string
		do                           func() error
		memories, relations, vectors int64
	}{
		{"create memories", func() error {
			return create(ctx, st, []*mnemo.Memory{
				withVec(mem("a", "a", hours(1), "t"), testModel, 1, 0, 0, 0),
				mem("b", "b", hours(2), "t"),
				mem("c", "c", hours(3), "drop"),
			})
		}, 3, 0, 1},
		{"set embedding", func() error { return st.SetEmbedding(ctx, "b", []float32{0, 1, 0, 0}, testModel) }, 3, 0, 2},
		{"update", func() error {
			return update(ctx, st, withVec(mem("c", "c2", hours(3), "drop"), testModel, 0, 0, 1, 0))
		}, 3, 0, 3},
		{"associate", func() error {
			return relateAll(ctx, st, []mnemo.Relation{{From: "a", To: "b", Type: "RELATES_TO"}, {From: "b", To: "c", Type: "RELATES_TO"}})
		}, 3, 2, 3},
		{"delete", func() error { return st.Delete(ctx, "a") }, 2, 1, 2},
		{"delete matching", func() error { _, err := st.DeleteMatching(ctx, mnemo.Filter{Tags: []string{"drop"}}); return err }, 1, 0, 1},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		mirror(s.name)
		got, _ := reg.Tenant(ctx, "acme")
		if got.Stats.Memories != s.memories || got.Stats.Relations != s.relations || got.Stats.Vectors != s.vectors {
			t.Fatalf("%s: registry stats %+v, want %d memories, %d relations, %d vectors", s.name, got.Stats, s.memories, s.relations, s.vectors)
		}
	}
	// Another tenant's registry row is not touched by acme's writes.
	if other, err := reg.Tenant(ctx, "other"); err != nil || other.Stats.Memories != 0 || other.Stats.Relations != 0 || other.Stats.Vectors != 0 {
		t.Fatalf("other tenant stats = %+v, %v", other, err)
	}
	list, _, err := reg.Tenants(ctx, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range list {
		if tn.ID == "acme" && tn.Stats.Memories != 1 {
			t.Errorf("Tenants lists acme with %d memories, want 1", tn.Stats.Memories)
		}
	}

	// Opening a store reconciles a registry copy that fell behind.
	reg.SetTenantStats("acme", mnemo.TenantStats{Memories: 999, Relations: 999, Vectors: 999, StorageBytes: 1})
	release()
	release = func() {}
	p.IdleTimeout = 0
	time.Sleep(2 * time.Millisecond)
	p.CloseIdle()
	st, release = mustOpen(t, p, "acme")
	mirror("after reopen")
	if got, _ := reg.Tenant(ctx, "acme"); got.Stats.Memories != 1 || got.Stats.Vectors != 1 || got.Stats.Relations != 0 {
		t.Fatalf("registry stats after reopen = %+v, want 1 memory, 1 vector", got.Stats)
	}
}

// The data directory is an operator's choice; a character that is special
// in a URI must not make tenants share a file.
func TestStoresDataDirWithURICharacters(t *testing.T) {
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "data#1")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	p, reg := newStores(t, dataDir)
	mustCreateTenant(t, reg, tenant("alpha", hours(0)), "alpha-token")
	for _, id := range []string{"alpha", "beta"} {
		if err := p.Create(ctx, id); err != nil {
			t.Fatalf("Create(%s) under %q: %v", id, dataDir, err)
		}
	}
	a, ra := mustOpen(t, p, "alpha")
	defer ra()
	b, rb := mustOpen(t, p, "beta")
	defer rb()
	if err := create(ctx, a, []*mnemo.Memory{mem("m1", "alpha only", hours(1))}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Memory(ctx, "m1"); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("beta sees alpha's memory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "tenants", "alpha", "memories.db")); err != nil {
		t.Fatalf("alpha's database is not in its directory: %v", err)
	}
}

// Concurrent requests share one store per tenant; CloseIdle running at the
// same time closes nothing in use, and every write is counted.
func TestStoresConcurrentUse(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	p, reg := newStores(t, dataDir)
	tenants := []string{"one", "two"}
	for _, id := range tenants {
		mustCreateTenant(t, reg, tenant(id, hours(0)), id+"-token")
		mustCreateStore(t, p, id)
	}
	p.IdleTimeout = 0

	const workers, perWorker = 16, 20
	stop := make(chan struct{})
	sweeperDone := make(chan struct{})
	go func() {
		defer close(sweeperDone)
		for {
			select {
			case <-stop:
				return
			default:
				p.CloseIdle()
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	errs := make(chan error, workers*perWorker)
	done := make(chan struct{})
	for w := 0; w < workers; w++ {
		go func(w int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < perWorker; i++ {
				id := tenants[(w+i)%2]
				st, release, err := p.Open(ctx, id)
				if err != nil {
					errs <- err
					continue
				}
				m := withVec(mem(id+"-"+strings.Repeat("x", w+1)+"-"+time.Duration(i).String(), "concurrent write", hours(i)), testModel, 1, float32(w), float32(i), 0)
				if err := create(ctx, st, []*mnemo.Memory{m}); err != nil {
					errs <- err
				}
				if _, err := st.Memory(ctx, m.ID); err != nil {
					errs <- err
				}
				release()
			}
		}(w)
	}
	for w := 0; w < workers; w++ {
		<-done
	}
	close(stop)
	<-sweeperDone
	close(errs)
	for err := range errs {
		t.Errorf("concurrent use: %v", err)
	}

	want := int64(workers * perWorker / 2)
	for _, id := range tenants {
		st, release := mustOpen(t, p, id)
		s, err := st.Stats(ctx)
		release()
		if err != nil {
			t.Fatal(err)
		}
		if s.Memories != want || s.Vectors != want {
			t.Errorf("%s: store stats %+v, want %d memories and vectors", id, s, want)
		}
	}
}

// Two writes that commit in one order may report their counters to the
// registry in the other: a request can be descheduled between reading the
// counters after its commit and recording them. The registry must still end
// with the final counters, not those of whichever report landed last.
func TestStoresRegistryStatsWhenReportsArriveOutOfOrder(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	p, reg := newStores(t, dataDir)
	mustCreateTenant(t, reg, tenant("busy", hours(0)), "busy-token")
	mustCreateStore(t, p, "busy")
	ms, release := mustOpen(t, p, "busy")
	defer release()
	st := ms.(*Store)

	// Hold back the report of the first write until the second is done.
	gate, held := make(chan struct{}), make(chan struct{})
	report := st.onChange
	st.onChange = func(ctx context.Context, s mnemo.TenantStats) {
		if s.Memories == 1 {
			close(held)
			<-gate
		}
		report(ctx, s)
	}
	first := make(chan error)
	go func() { first <- create(ctx, st, []*mnemo.Memory{mem("a", "first", hours(1))}) }()
	select {
	case <-held: // the first write has committed and read its counters
	case err := <-first:
		t.Fatalf("first write returned without reporting 1 memory: %v", err)
	}
	second := make(chan error)
	go func() { second <- create(ctx, st, []*mnemo.Memory{mem("b", "second", hours(2))}) }()
	select {
	case err := <-second:
		if err != nil {
			t.Fatal(err)
		}
		close(gate)
	case <-time.After(500 * time.Millisecond):
		// The second write waits for the first report: the reports are
		// serialised, which is a valid design too.
		close(gate)
		if err := <-second; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}

	want, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want.Memories != 2 {
		t.Fatalf("store has %d memories, want 2", want.Memories)
	}
	tn, err := reg.Tenant(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if tn.Stats.Memories != want.Memories {
		t.Fatalf("registry says %d memories; the store has %d", tn.Stats.Memories, want.Memories)
	}
}

// Directories set aside are deleted once older than the retention, and
// nothing else is: not a younger one, not a tenant's, not a name that only
// looks like one.
func TestRemoveSetAside(t *testing.T) {
	p, _ := newStores(t, t.TempDir())
	mustCreateStore(t, p, "acme")
	now := time.Now()
	dirs := map[string]bool{ // name: removed
		fmt.Sprintf(".orphan-gone-%d", now.Add(-40*24*time.Hour).UnixNano()):         true,
		fmt.Sprintf(".orphan-acme-damaged-%d", now.Add(-31*24*time.Hour).UnixNano()): true,
		fmt.Sprintf(".orphan-young-%d", now.Add(-29*24*time.Hour).UnixNano()):        false,
		".orphan-no-time": false,
		".orphan-short-5": false,
	}
	for name := range dirs {
		if err := os.Mkdir(filepath.Join(p.dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	n, err := p.RemoveSetAside(now.Add(-30 * 24 * time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("RemoveSetAside = %d, %v; want 2 removed", n, err)
	}
	for name, removed := range dirs {
		if _, err := os.Stat(filepath.Join(p.dir, name)); os.IsNotExist(err) != removed {
			t.Errorf("%s: removed %v, want %v", name, os.IsNotExist(err), removed)
		}
	}
	wantHealthy(t, p, "acme", 0)
}
