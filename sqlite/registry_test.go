package sqlite_test

import (
	"context"
	"reflect"
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

func TestRegistryCreateTenant(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, t.TempDir())
	acme := tenant("acme", base.Add(123*time.Microsecond))
	k := mustCreateTenant(t, r, acme, "acme-token")

	got, err := r.Tenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, acme) {
		t.Fatalf("Tenant(acme) = %+v, want %+v", got, acme)
	}
	gk, gt, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token"))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if !reflect.DeepEqual(gk, k) || !reflect.DeepEqual(gt, acme) {
		t.Fatalf("Authenticate = %+v, %+v; want %+v, %+v", gk, gt, k, acme)
	}

	conflicts := []struct {
		name  string
		id    string
		token string
	}{
		{"duplicate id", "acme", "fresh-token-1"},
		{"token in use", "other", "acme-token"},
		{"both taken", "acme", "acme-token"},
	}
	for _, tc := range conflicts {
		t.Run(tc.name, func(t *testing.T) {
			tn := tenant(tc.id, base.Add(time.Hour))
			tn.Name = "replacement"
			err := r.CreateTenant(ctx, tn, key("key_"+tc.name, tc.id, tc.token, nil), mnemo.HashToken(tc.token))
			wantCode(t, "CreateTenant", err, mnemo.ECONFLICT)

			// Nothing half-created: the existing tenant is unchanged, no
			// new tenant exists, and the new token does not authenticate
			// unless it was acme's own.
			got, err := r.Tenant(ctx, "acme")
			if err != nil || !reflect.DeepEqual(got, acme) {
				t.Fatalf("acme after conflict = %+v, %v", got, err)
			}
			_, err = r.Tenant(ctx, "other")
			wantCode(t, "Tenant(other)", err, mnemo.ENOTFOUND)
			list, total, err := r.Tenants(ctx, 10, 0)
			if err != nil || total != 1 || len(list) != 1 {
				t.Fatalf("Tenants after conflict = %d listed, total %d, %v; want 1", len(list), total, err)
			}
			gk, gt, err := r.KeyByHash(ctx, mnemo.HashToken(tc.token))
			if tc.token == "acme-token" {
				if err != nil || gt.ID != "acme" || gk.ID != k.ID {
					t.Fatalf("acme's token after conflict: %+v %+v %v", gk, gt, err)
				}
			} else {
				wantCode(t, "Authenticate(new token)", err, mnemo.EUNAUTHORIZED)
			}
		})
	}

	_, err = r.Tenant(ctx, "nobody")
	wantCode(t, "Tenant(nobody)", err, mnemo.ENOTFOUND)
}

func TestRegistryTenantsPaging(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, t.TempDir())
	// Created out of order; two share a creation time, so id breaks the tie.
	mustCreateTenant(t, r, tenant("t3", hours(3)), "token-t3")
	mustCreateTenant(t, r, tenant("t1", hours(1)), "token-t1")
	mustCreateTenant(t, r, tenant("t2b", hours(2)), "token-t2b")
	mustCreateTenant(t, r, tenant("t2a", hours(2)), "token-t2a")
	mustCreateTenant(t, r, tenant("t0", hours(0)), "token-t0")
	all := []string{"t0", "t1", "t2a", "t2b", "t3"}

	cases := []struct {
		limit, offset int
		want          []string
	}{
		{10, 0, all},
		{2, 0, all[0:2]},
		{2, 2, all[2:4]},
		{2, 4, all[4:5]},
		{2, 5, []string{}},
		{1, 100, []string{}},
		{0, 0, []string{}},
	}
	for _, tc := range cases {
		list, total, err := r.Tenants(ctx, tc.limit, tc.offset)
		if err != nil {
			t.Fatalf("Tenants(%d, %d): %v", tc.limit, tc.offset, err)
		}
		if total != 5 {
			t.Errorf("Tenants(%d, %d) total = %d, want 5", tc.limit, tc.offset, total)
		}
		if list == nil {
			t.Errorf("Tenants(%d, %d) = nil slice, want empty", tc.limit, tc.offset)
		}
		got := []string{}
		for _, tn := range list {
			got = append(got, tn.ID)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Tenants(%d, %d) = %v, want %v", tc.limit, tc.offset, got, tc.want)
		}
	}
	empty := openRegistry(t, t.TempDir())
	list, total, err := empty.Tenants(ctx, 10, 0)
	if err != nil || total != 0 || list == nil || len(list) != 0 {
		t.Errorf("empty registry Tenants = %v, %d, %v", list, total, err)
	}
}

func TestRegistryAuthenticate(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, t.TempDir())
	mustCreateTenant(t, r, tenant("acme", base), "acme-token")
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	for _, k := range []struct {
		k     *mnemo.Key
		token string
	}{
		{key("expired", "acme", "expired-token", &past), "expired-token"},
		{key("later", "acme", "later-token", &future), "later-token"},
	} {
		if err := r.AddKey(ctx, k.k, mnemo.HashToken(k.token)); err != nil {
			t.Fatalf("AddKey(%s): %v", k.k.ID, err)
		}
	}

	cases := []struct {
		name    string
		hash    []byte
		wantKey string
	}{
		{"right token", mnemo.HashToken("acme-token"), "key_acme"},
		{"key with a future expiry", mnemo.HashToken("later-token"), "later"},
		{"wrong token", mnemo.HashToken("acme-token2"), ""},
		// Expired keys are found: whether a key is live is the caller's
		// clock's to say (Key.Live).
		{"expired key", mnemo.HashToken("expired-token"), "expired"},
		{"empty hash", []byte{}, ""},
		{"nil hash", nil, ""},
		{"truncated hash", mnemo.HashToken("acme-token")[:16], ""},
		{"raw token instead of hash", []byte("acme-token"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, tn, err := r.KeyByHash(ctx, tc.hash)
			if tc.wantKey == "" {
				wantCode(t, "Authenticate", err, mnemo.EUNAUTHORIZED)
				if k != nil || tn != nil {
					t.Errorf("failed Authenticate returned %+v, %+v", k, tn)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if k.ID != tc.wantKey || k.TenantID != "acme" || tn.ID != "acme" {
				t.Errorf("Authenticate = key %s of %s, tenant %s; want key %s of acme", k.ID, k.TenantID, tn.ID, tc.wantKey)
			}
			if live := k.Live(time.Now()); live != (tc.wantKey != "expired") {
				t.Errorf("key %s live = %v", k.ID, live)
			}
		})
	}

	// The registry returns an expiring key with its expiry, to the
	// microsecond; whether it is still live is the caller's clock's to say
	// (Key.Live), so no test waits for it.
	soon := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	if err := r.AddKey(ctx, key("soon", "acme", "soon-token", &soon), mnemo.HashToken("soon-token")); err != nil {
		t.Fatal(err)
	}
	k, _, err := r.KeyByHash(ctx, mnemo.HashToken("soon-token"))
	if err != nil {
		t.Fatalf("an expiring key: %v", err)
	}
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(soon) {
		t.Fatalf("ExpiresAt = %v, want %v", k.ExpiresAt, soon)
	}
	if !k.Live(soon.Add(-time.Microsecond)) || k.Live(soon) {
		t.Fatalf("Live around the expiry: %v before, %v at it", k.Live(soon.Add(-time.Microsecond)), k.Live(soon))
	}
}

func TestRegistryDeleteTenant(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, t.TempDir())
	mustCreateTenant(t, r, tenant("acme", hours(1)), "acme-token")
	mustCreateTenant(t, r, tenant("other", hours(2)), "other-token")
	if err := r.AddKey(ctx, key("second", "acme", "acme-second", nil), mnemo.HashToken("acme-second")); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"acme-token", "acme-second"} {
		if _, _, err := r.KeyByHash(ctx, mnemo.HashToken(tok)); err != nil {
			t.Fatalf("Authenticate(%s) before delete: %v", tok, err)
		}
	}

	if err := r.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	for _, tok := range []string{"acme-token", "acme-second"} {
		_, _, err := r.KeyByHash(ctx, mnemo.HashToken(tok))
		wantCode(t, "Authenticate("+tok+") after delete", err, mnemo.EUNAUTHORIZED)
	}
	_, err := r.Tenant(ctx, "acme")
	wantCode(t, "Tenant(acme) after delete", err, mnemo.ENOTFOUND)
	list, total, err := r.Tenants(ctx, 10, 0)
	if err != nil || total != 1 || len(list) != 1 || list[0].ID != "other" {
		t.Fatalf("Tenants after delete = %v, %d, %v; want only other", list, total, err)
	}
	if _, tn, err := r.KeyByHash(ctx, mnemo.HashToken("other-token")); err != nil || tn.ID != "other" {
		t.Fatalf("other tenant's key after deleting acme: %v, %v", tn, err)
	}

	err = r.DeleteTenant(ctx, "acme")
	wantCode(t, "DeleteTenant(acme) twice", err, mnemo.ENOTFOUND)
	err = r.DeleteTenant(ctx, "never")
	wantCode(t, "DeleteTenant(never)", err, mnemo.ENOTFOUND)

	// The keys are gone, not just hidden: their tokens are free again, and a
	// re-created tenant of the same id starts with only its new key.
	mustCreateTenant(t, r, tenant("acme", hours(3)), "acme-second")
	if _, _, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token")); mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
		t.Fatalf("old key of a re-created tenant: err = %v, want EUNAUTHORIZED", err)
	}
	if err := r.AddKey(ctx, key("again", "acme", "acme-token", nil), mnemo.HashToken("acme-token")); err != nil {
		t.Fatalf("old token should be free after delete: %v", err)
	}
}

func TestRegistryAddKey(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, t.TempDir())
	mustCreateTenant(t, r, tenant("acme", hours(1)), "acme-token")
	mustCreateTenant(t, r, tenant("other", hours(2)), "other-token")
	exp := time.Now().Add(24 * time.Hour).Truncate(time.Microsecond).UTC()
	k := key("added", "acme", "added-token", &exp)
	k.Scopes = []string{mnemo.ScopeRead}
	if err := r.AddKey(ctx, k, mnemo.HashToken("added-token")); err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	gk, gt, err := r.KeyByHash(ctx, mnemo.HashToken("added-token"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gk, k) || gt.ID != "acme" {
		t.Fatalf("Authenticate(added) = %+v of %s, want %+v", gk, gt.ID, k)
	}
	if gk.HasScope(mnemo.ScopeWrite) {
		t.Error("read-only key has the write scope")
	}
	// The first key still works.
	if _, _, err := r.KeyByHash(ctx, mnemo.HashToken("acme-token")); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		tenant string
		token  string
		code   string
	}{
		{"token of the same tenant", "acme", "acme-token", mnemo.ECONFLICT},
		{"token of another tenant", "acme", "other-token", mnemo.ECONFLICT},
		{"token just added", "other", "added-token", mnemo.ECONFLICT},
		{"missing tenant", "ghost", "ghost-token", mnemo.ENOTFOUND},
	}
	for _, tc := range cases {
		err := r.AddKey(ctx, key("k_"+tc.name, tc.tenant, tc.token, nil), mnemo.HashToken(tc.token))
		wantCode(t, "AddKey "+tc.name, err, tc.code)
	}
	// The conflicting tokens still belong to their first owners.
	for tok, owner := range map[string]string{"acme-token": "acme", "other-token": "other", "added-token": "acme"} {
		_, tn, err := r.KeyByHash(ctx, mnemo.HashToken(tok))
		if err != nil || tn.ID != owner {
			t.Errorf("Authenticate(%s) = %v, %v; want %s", tok, tn, err, owner)
		}
	}
	_, _, err = r.KeyByHash(ctx, mnemo.HashToken("ghost-token"))
	wantCode(t, "key for a missing tenant", err, mnemo.EUNAUTHORIZED)
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
