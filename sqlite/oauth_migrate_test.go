package sqlite

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// A registry of version 4 gains client use times and grant families: a
// client holding tokens counts as used, so the first registration after
// the upgrade does not expire the connectors in service; each grant of
// before is a family of its own, so a refresh token issued before the
// upgrade still refreshes, and its reuse still revokes it.
func TestOAuthMigrationGivesOldGrantsAFamily(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rt := mnemo.HashToken("old-refresh")
	registryAtVersion(t, dir, 4, []seed{
		{`INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ('acme', 'Acme', 'active', 0, 0)`, nil},
		{`INSERT INTO keys (id, tenant_id, hash, prefix, label, scopes, created_at) VALUES ('k1', 'acme', x'01', 'acme', '', '["read"]', 0)`, nil},
		{`INSERT INTO oauth_clients (id, name, redirect_uris, created_at) VALUES ('c1', 'Claude', '["https://claude.ai/cb"]', 0)`, nil},
		{`INSERT INTO oauth_clients (id, name, redirect_uris, created_at) VALUES ('c2', 'Never used', '["https://x.example/cb"]', 0)`, nil},
		{`INSERT INTO oauth_grants (hash, kind, client_id, key_id, scopes, expires_at) VALUES (?, 'refresh', 'c1', 'k1', '["read"]', ?)`,
			[]any{rt, micros(now.Add(time.Hour))}},
	})

	r, err := OpenRegistry(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := r.OAuthClient(ctx, "c1")
	if err != nil || c.UsedAt == nil || !c.UsedAt.Equal(c.CreatedAt) {
		t.Fatalf("migrated client holding tokens: %+v, %v; want it used since its registration", c, err)
	}
	if c, err := r.OAuthClient(ctx, "c2"); err != nil || c.UsedAt != nil {
		t.Fatalf("migrated client without tokens: %+v, %v; want it never used", c, err)
	}
	// A registration expires the never-used client, not the connector.
	if err := r.RegisterOAuthClient(ctx, &mnemo.OAuthClient{ID: "c3", Name: "new", RedirectURIs: []string{"https://claude.ai/cb"}, CreatedAt: now}, now, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := r.OAuthClient(ctx, "c1"); err != nil {
		t.Fatalf("the first registration after the upgrade removed a connector in service: %v", err)
	}
	if _, err := r.OAuthClient(ctx, "c2"); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("the never-used client after a registration: %v", err)
	}
	g, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, rt, now)
	if err != nil || g.Family != hex.EncodeToString(rt) {
		t.Fatalf("migrated refresh token: %+v, %v", g, err)
	}
	issue := func(token string) *mnemo.OAuthGrant {
		return &mnemo.OAuthGrant{Hash: mnemo.HashToken(token), Kind: mnemo.GrantAccess, ClientID: "c1", KeyID: "k1", ExpiresAt: now.Add(time.Hour), Family: g.Family}
	}
	refresh := issue("new-refresh")
	refresh.Kind = mnemo.GrantRefresh
	if err := r.IssueOAuthTokens(ctx, issue("new-access"), refresh, now); err != nil {
		t.Fatalf("refresh of a migrated token: %v", err)
	}
	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, rt, now); err == nil {
		t.Fatal("a migrated refresh token worked twice")
	}
	if _, err := r.AccessGrant(ctx, mnemo.HashToken("new-access"), now); mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
		t.Fatalf("access token after its migrated refresh token was reused: %v", err)
	}
}

// An unknown code or refresh token costs a read, never a write: the token
// endpoint needs no key, and a failed write would roll back the registry's
// whole commit group. It is refused while the writer is busy.
func TestUnknownGrantsAreRefusedWithoutAWrite(t *testing.T) {
	ctx := context.Background()
	r, err := OpenRegistry(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	release := make(chan struct{})
	held := make(chan error, 1)
	go func() { held <- r.db.write(ctx, func(*txn) error { <-release; return nil }) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		r.db.wmu.Lock()
		busy := r.db.committing
		r.db.wmu.Unlock()
		if busy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the holding write never started")
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("never-issued"), time.Now())
		done <- err
	}()
	select {
	case err := <-done:
		if mnemo.ErrorCode(err) != mnemo.EINVALID {
			t.Fatalf("an unknown code: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an unknown code waited for the writer")
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}
