package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/service"
)

// An HTTP request to /mcp is admitted as KindMCP (status, rate limit,
// concurrency, any scope, no usage); the first tool call within it takes
// no second token or slot and counts its own usage; a further one (a
// batch) takes its own token.
func TestMCPAdmission(t *testing.T) {
	f := newFixture(t, func(_ *service.Backend, cfg *service.Config) { cfg.TenantConcurrency = 2 })
	c := f.tenant("acme")
	if _, err := f.svc.UpdateTenant(f.ctx, "acme", map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.001, "burst": 3.0}}); err != nil {
		t.Fatal(err)
	}
	c = f.caller("token-of-acme")
	outer, adm, err := f.svc.Admit(f.ctx, c, mnemo.KindMCP)
	if err != nil || adm.Rate.Remaining != 2 {
		t.Fatalf("the HTTP request: %+v %v", adm, err)
	}
	// The MCP request itself reaches no memory.
	_, err = f.svc.Recall(outer, nil)
	wantCode(t, "recall with the MCP admission itself", err, mnemo.EUNAUTHORIZED)

	tool, inner, err := f.svc.Admit(outer, c, mnemo.KindStore)
	if err != nil || inner.Rate != nil {
		t.Fatalf("the first tool call: %+v %v (it takes no token)", inner, err)
	}
	if _, err := f.svc.StoreMemory(tool, map[string]any{"content": "via a tool"}); err != nil {
		t.Fatal(err)
	}
	// A second one in the same HTTP request (a batch) takes a token and a
	// slot, the last of the cap of 2 if the first took none.
	_, second, err := f.svc.Admit(outer, c, mnemo.KindRecall)
	if err != nil || second.Rate == nil || second.Rate.Remaining != 1 {
		t.Fatalf("the second tool call: %+v %v", second, err)
	}
	_, _, err = f.svc.Admit(outer, c, mnemo.KindRecall)
	wantCode(t, "a third tool call past the concurrency cap", err, mnemo.ETOOMANY)
	second.End()
	inner.End()
	adm.End()
	if u := f.usage("acme"); u[mnemo.KindStore] != 1 || u[mnemo.KindMCP] != 0 || u[mnemo.KindRecall] != 1 {
		t.Fatalf("usage %v, want one store, one recall and nothing for the MCP request", u)
	}

	// Any scope opens MCP; a tool still needs its own.
	ck, err := f.svc.CreateKey(f.ctx, "acme", map[string]any{"label": "writer", "scopes": []any{"write"}})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(f.clock.Now().Add(time.Hour)) // a full bucket
	writer := f.caller(ck.Token)
	outer, adm, err = f.svc.Admit(f.ctx, writer, mnemo.KindMCP)
	if err != nil {
		t.Fatalf("a write-only key on /mcp: %v", err)
	}
	_, _, err = f.svc.Admit(outer, writer, mnemo.KindRecall)
	wantCode(t, "a recall tool call with a write-only key", err, mnemo.EFORBIDDEN)
	adm.End()
	none := &mnemo.Caller{Key: &mnemo.Key{ID: "k", Scopes: nil}, Tenant: writer.Tenant}
	_, _, err = f.svc.Admit(f.ctx, none, mnemo.KindMCP)
	wantCode(t, "a token without scopes on /mcp", err, mnemo.EFORBIDDEN)

	if _, err := f.svc.UpdateTenant(f.ctx, "acme", map[string]any{"status": "read_only"}); err != nil {
		t.Fatal(err)
	}
	if _, adm, err := f.svc.Admit(f.ctx, f.caller("token-of-acme"), mnemo.KindMCP); err != nil {
		t.Fatalf("a read-only tenant on /mcp: %v", err)
	} else {
		adm.End()
	}
	if _, err := f.svc.UpdateTenant(f.ctx, "acme", map[string]any{"status": "suspended"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.Admit(f.ctx, f.caller("token-of-acme"), mnemo.KindMCP)
	wantCode(t, "a suspended tenant on /mcp", err, mnemo.ELOCKED)
}

// Sessions are capped per tenant and in all; a release gives a place back
// once, however often it is called.
func TestOpenSessionCaps(t *testing.T) {
	f := newFixture(t, func(_ *service.Backend, cfg *service.Config) {
		cfg.MCPSessionsPerTenant, cfg.MCPMaxSessions = 2, 3
	})
	a, b := f.tenant("alpha"), f.tenant("bravo")
	ctx := context.Background()
	r1, err := f.svc.OpenSession(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.OpenSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.OpenSession(ctx, a)
	wantCode(t, "a third session of alpha", err, mnemo.ETOOMANY)
	if _, err := f.svc.OpenSession(ctx, b); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.OpenSession(ctx, b)
	wantCode(t, "a fourth session in all", err, mnemo.ETOOMANY)
	r1()
	r1()
	if _, err := f.svc.OpenSession(ctx, b); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	_, err = f.svc.OpenSession(ctx, a)
	wantCode(t, "a release counted twice", err, mnemo.ETOOMANY)
	if n := f.svc.Refusals()["mcp_sessions"]; n != 3 {
		t.Fatalf("mcp_sessions refusals %d, want 3", n)
	}
}
