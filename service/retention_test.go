package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/service"
)

// Each retention gives its cutoff; usage is cut by whole days; a zero
// retention keeps its kind forever, and incarnations are kept while either
// their usage or their audit is.
func TestRetentionCutoffs(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	got := service.DefaultRetention.Cutoffs(now)
	want := mnemo.PruneCutoffs{
		Audit:              now.Add(-365 * 24 * time.Hour),
		UsageDay:           "2025-03-27",
		Idempotency:        now.Add(-24 * time.Hour),
		OAuthGrants:        now.Add(-24 * time.Hour),
		UnusedOAuthClients: now.Add(-24 * time.Hour),
		IdleOAuthClients:   now.Add(-90 * 24 * time.Hour),
		Incarnations:       now.Add(-401 * 24 * time.Hour),
	}
	if got != want {
		t.Fatalf("default cutoffs:\n got  %+v\n want %+v", got, want)
	}
	keep := service.DefaultRetention
	keep.Usage, keep.OAuthGrants = 0, 0
	got = keep.Cutoffs(now)
	if got.UsageDay != "" || !got.OAuthGrants.IsZero() || !got.Incarnations.IsZero() || got.Audit != want.Audit {
		t.Fatalf("zero retentions: %+v; want usage, grants and incarnations kept forever", got)
	}
}

// A delete that found nothing (a 404, or a delete by tag that matched
// nothing) writes no audit row; one that deleted something does, and so
// does an admin action refused for a reason other than a 404.
func TestNoAuditForNotFound(t *testing.T) {
	f := newFixture(t, nil)
	acme := f.tenant("acme")
	id := f.store(acme, map[string]any{"content": "to delete", "tags": []any{"t"}})
	f.store(acme, map[string]any{"content": "tagged", "tags": []any{"gone"}})
	before := f.auditCount("acme")

	del := func(fn func(ctx context.Context) error) error {
		return f.as(acme, mnemo.KindDelete, fn)
	}
	err := del(func(ctx context.Context) error {
		_, err := f.svc.DeleteMemory(ctx, "00000000-0000-4000-8000-000000000000")
		return err
	})
	wantCode(t, "delete of an unknown memory", err, mnemo.ENOTFOUND)
	if err := del(func(ctx context.Context) error { _, err := f.svc.DeleteByTag(ctx, []string{"no-such-tag"}); return err }); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "delete of an unknown tenant", f.svc.DeleteTenant(f.ctx, "ghost"), mnemo.ENOTFOUND)
	wantCode(t, "revoke of an unknown key", f.svc.RevokeKey(f.ctx, "acme", "key_nosuchkey"), mnemo.ENOTFOUND)
	if n := f.auditCount(""); n != before {
		t.Fatalf("audit rows after four 404s and an empty delete: %d, want %d", n, before)
	}

	if err := del(func(ctx context.Context) error { _, err := f.svc.DeleteMemory(ctx, id); return err }); err != nil {
		t.Fatal(err)
	}
	if err := del(func(ctx context.Context) error { _, err := f.svc.DeleteByTag(ctx, []string{"gone"}); return err }); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.CreateTenant(f.ctx, map[string]any{"tenant_id": "acme", "api_token": "another-token-0123456789"})
	wantCode(t, "duplicate tenant", err, mnemo.ECONFLICT)
	events, err := f.svc.Audit(f.ctx, mnemo.AuditFilter{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Action+" "+e.Outcome)
	}
	if want := []string{"tenant.create error: conflict", "memory.delete_by_tag success", "memory.delete success"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audited: %q, want %q", got, want)
	}
}

func (f *fixture) auditCount(tenant string) int {
	f.t.Helper()
	events, err := f.svc.Audit(f.ctx, mnemo.AuditFilter{TenantID: tenant, Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(events)
}

// A tenant id deleted and created again starts with no usage and no audit;
// the old tenant's usage and audit are read by its incarnation.
func TestRecreatedTenantStartsClean(t *testing.T) {
	f := newFixture(t, nil)
	acme := f.tenant("acme")
	f.store(acme, map[string]any{"content": "first life"})
	f.store(acme, map[string]any{"content": "first life, again"})
	if err := f.svc.DeleteTenant(f.ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	acme = f.tenant("acme")
	if acme.Tenant.Incarnation != 2 {
		t.Fatalf("the id created again: incarnation %d, want 2", acme.Tenant.Incarnation)
	}
	f.store(acme, map[string]any{"content": "second life"})

	usage := func(inc int64) map[string]int64 {
		rows, err := f.svc.Usage(f.ctx, "acme", inc, "2026-01-01", "2026-12-31")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		want := inc
		if want == 0 {
			want = 2 // the latest
		}
		for _, u := range rows {
			if u.Incarnation != want {
				t.Errorf("a row of incarnation %d among incarnation %d's usage", u.Incarnation, want)
			}
			if u.Kind != mnemo.UsageBytesStored {
				out[u.Kind] += u.Count
			}
		}
		return out
	}
	// Reading the usage is admin work: it counts itself, before the read.
	if got, want := usage(0), map[string]int64{"store": 1, "memories_stored": 1, "embedding_calls": 1, "admin": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("current usage %v, want %v", got, want)
	}
	if got, want := usage(1), map[string]int64{"store": 2, "memories_stored": 2, "embedding_calls": 2, "admin": 1}; !reflect.DeepEqual(got, want) {
		// The first life's admin row is its DeleteTenant.
		t.Fatalf("first incarnation's usage %v, want %v", got, want)
	}
	actions := func(inc int64) []string {
		events, err := f.svc.TenantAudit(f.ctx, "acme", mnemo.AuditFilter{Incarnation: inc, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range events {
			out = append(out, e.Action)
		}
		return out
	}
	if got, want := actions(0), []string{"key.create", "tenant.create"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("current audit %v, want %v", got, want)
	}
	if got, want := actions(1), []string{"tenant.delete", "key.create", "tenant.create"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("first incarnation's audit %v, want %v", got, want)
	}
	_, err := f.svc.Usage(f.ctx, "acme", -1, "2026-01-01", "2026-12-31")
	wantCode(t, "a negative incarnation", err, mnemo.EINVALID)
}

// A pass prunes with the configured retentions on the service's clock,
// logs what it removed by kind, and counts it; a pass with nothing to do
// logs nothing. CleanOrphans logs and counts too.
func TestPrunerPass(t *testing.T) {
	f := newFixture(t, nil)
	f.tenant("acme")
	var logs bytes.Buffer
	p := &service.Pruner{Store: f.reg, Retention: service.Retention{Audit: time.Hour, Idempotency: time.Hour}, Interval: time.Hour, Batch: 1,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Now: func() time.Time { return f.clock.Now().Add(2 * time.Hour) }}
	removed, err := p.Pass(f.ctx)
	if err != nil || !reflect.DeepEqual(removed, map[string]int64{"audit": 2, "idempotency": 0}) {
		t.Fatalf("Pass: %v, %v; want the two creation events", removed, err)
	}
	var line struct {
		Msg         string
		Audit       int64 `json:"audit"`
		Idempotency *int64
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Msg != "pruned records past their retention" || line.Audit != 2 {
		t.Fatalf("log of the pass: %q, %v", logs.String(), err)
	}
	logs.Reset()
	if _, err := p.Pass(f.ctx); err != nil || logs.Len() != 0 {
		t.Fatalf("a pass with nothing to do: %v, logged %q", err, logs.String())
	}
	if err := p.CleanOrphans(f.ctx); err != nil || logs.Len() != 0 {
		t.Fatalf("CleanOrphans with nothing to do: %v, logged %q", err, logs.String())
	}
	if got := p.Removed(); !reflect.DeepEqual(got, map[string]int64{"audit": 2, "idempotency": 0, "keys": 0, "oauth_grants": 0, "incarnations": 0}) {
		t.Fatalf("Removed: %v", got)
	}
}
