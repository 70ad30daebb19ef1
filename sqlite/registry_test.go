package sqlite_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/sqlite"
)

func openRegistry(t *testing.T, dir string) *sqlite.Registry {
	t.Helper()
	r, err := sqlite.OpenRegistry(context.Background(), dir)
	if err != nil {
		t.Fatalf("OpenRegistry: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func tenant(id string, created time.Time) *mnemo.Tenant {
	return &mnemo.Tenant{ID: id, Name: "Tenant " + id, Status: mnemo.TenantActive, CreatedAt: created, UpdatedAt: created.Add(time.Minute)}
}

func key(id, tenantID, token string, expires *time.Time) *mnemo.Key {
	return &mnemo.Key{ID: id, TenantID: tenantID, Label: "label " + id, Prefix: mnemo.DisplayPrefix(token, false),
		Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: base.Add(time.Second), ExpiresAt: expires}
}

func mustCreateTenant(t *testing.T, r *sqlite.Registry, tn *mnemo.Tenant, token string) *mnemo.Key {
	t.Helper()
	k := key("key_"+tn.ID, tn.ID, token, nil)
	if err := r.CreateTenant(context.Background(), tn, k, mnemo.HashToken(token)); err != nil {
		t.Fatalf("CreateTenant(%s): %v", tn.ID, err)
	}
	return k
}

func TestRegistrySetTenantStats(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := openRegistry(t, dir)
	mustCreateTenant(t, r, tenant("acme", hours(1)), "acme-token")
	mustCreateTenant(t, r, tenant("other", hours(2)), "other-token")
	st := mnemo.TenantStats{Memories: 12, Relations: 3, Vectors: 11, StorageBytes: 40960}
	r.SetTenantStats("acme", st)
	check := func(r *sqlite.Registry) {
		t.Helper()
		got, err := r.Tenant(ctx, "acme")
		if err != nil || got.Stats != st {
			t.Fatalf("Tenant(acme).Stats = %+v, %v; want %+v", got.Stats, err, st)
		}
		list, _, err := r.Tenants(ctx, 10, 0)
		if err != nil || len(list) != 2 {
			t.Fatalf("Tenants = %v, %v", list, err)
		}
		if list[0].ID != "acme" || list[0].Stats != st {
			t.Errorf("Tenants[0] = %s %+v, want acme %+v", list[0].ID, list[0].Stats, st)
		}
		if list[1].Stats != (mnemo.TenantStats{}) {
			t.Errorf("other tenant's stats = %+v, want zero", list[1].Stats)
		}
		_, tn, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token"))
		if err != nil || tn.Stats != st {
			t.Errorf("Authenticate tenant stats = %+v, %v", tn, err)
		}
	}
	check(r)

	// Stats replace, not add.
	st = mnemo.TenantStats{Memories: 1, Relations: 0, Vectors: 1, StorageBytes: 4096}
	r.SetTenantStats("acme", st)
	check(r)

	// They persist across a reopen.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	check(openRegistry(t, dir))
}

// Usage is buffered: a count is readable as soon as AddUsage returns, once
// (never missed, never twice) while flushes write it; a clean Close writes
// it all; another process sees it only once it is flushed.
func TestRegistryUsageBuffered(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := openRegistry(t, dir)
	r.SetFlushInterval(time.Hour) // flushed below by hand
	total := func(r *sqlite.Registry) int64 {
		t.Helper()
		rows, err := r.Usage(ctx, "acme", 0, "2026-01-01", "2026-01-31")
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, u := range rows {
			n += u.Count
		}
		return n
	}
	add := func(n int64) {
		t.Helper()
		if err := r.AddUsage(ctx, []mnemo.Usage{{TenantID: "acme", Day: "2026-01-05", Kind: "store", Count: n}}); err != nil {
			t.Fatal(err)
		}
	}

	stop := make(chan struct{})
	done := make(chan struct{})
	var flushes atomic.Int64
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				if err := r.Flush(ctx); err != nil {
					t.Error(err)
				}
				flushes.Add(1)
			}
		}
	}()
	// Adds and reads go on until several flushes have run among them,
	// however the goroutines are scheduled.
	var want int64
	for i := 0; i < 300 || flushes.Load() < 3; i++ {
		add(int64(i % 3))
		want += int64(i % 3)
		if got := total(r); got != want {
			t.Fatalf("after %d adds: usage %d, want %d", i+1, got, want)
		}
	}
	close(stop)
	<-done

	// Another process reads only what is on disk.
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	other := openRegistry(t, dir)
	add(5)
	if got := total(other); got != want {
		t.Fatalf("another process reads %d before the flush, want %d", got, want)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want += 5
	if got := total(other); got != want {
		t.Fatalf("another process reads %d after the flush, want %d", got, want)
	}

	// A clean close loses nothing.
	add(7)
	want += 7
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := total(openRegistry(t, dir)); got != want {
		t.Fatalf("after close and reopen: %d, want %d", got, want)
	}
}

// Tenant counters and key touches are buffered too: readable at once,
// on disk after a flush or a clean close.
func TestRegistryStatsAndTouchesBuffered(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := openRegistry(t, dir)
	r.SetFlushInterval(time.Hour)
	mustCreateTenant(t, r, tenant("acme", hours(1)), "acme-token")
	st := mnemo.TenantStats{Memories: 4, Relations: 1, Vectors: 3, StorageBytes: 8192, StoredBytes: 900}
	r.SetTenantStats("acme", st)
	at := base.Add(90 * time.Minute)
	if err := r.TouchKey(ctx, "key_acme", at); err != nil {
		t.Fatal(err)
	}
	k, tn, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token"))
	if err != nil || tn.Stats != st || k.LastUsedAt == nil || !k.LastUsedAt.Equal(at) {
		t.Fatalf("buffered reads: key %+v, tenant %+v, %v", k, tn, err)
	}
	other := openRegistry(t, dir)
	if got, _ := other.Tenant(ctx, "acme"); got.Stats != (mnemo.TenantStats{}) {
		t.Fatalf("another process sees unflushed stats %+v", got.Stats)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	k, tn, err = openRegistry(t, dir).KeyByHash(ctx, mnemo.HashToken("acme-token"))
	if err != nil || tn.Stats != st || k.LastUsedAt == nil || !k.LastUsedAt.Equal(at) {
		t.Fatalf("after close: key %+v, tenant %+v, %v", k, tn, err)
	}
}
