package sqlite_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/sqlite"
)

func registerAt(t *testing.T, r *sqlite.Registry, id string, at, unusedBefore time.Time, max int) error {
	t.Helper()
	return r.RegisterOAuthClient(context.Background(), &mnemo.OAuthClient{ID: id, Name: id, RedirectURIs: []string{"https://claude.ai/cb"}, CreatedAt: at}, unusedBefore, max)
}

func clientExists(t *testing.T, r *sqlite.Registry, id string) bool {
	t.Helper()
	_, err := r.OAuthClient(context.Background(), id)
	if err != nil && mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatal(err)
	}
	return err == nil
}

func grant(kind, token, family, keyID string, expires time.Time) *mnemo.OAuthGrant {
	return &mnemo.OAuthGrant{Hash: mnemo.HashToken(token), Kind: kind, ClientID: "c1", KeyID: keyID, Scopes: []string{mnemo.ScopeRead},
		ExpiresAt: expires, Family: family}
}

// Clients never used expire with their codes; at the cap the oldest never
// used make room; clients that obtained a token stay, and when they fill
// the cap registration is refused.
func TestOAuthClientsExpireAndAreCapped(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, t.TempDir())
	k := mustCreateTenant(t, r, tenant("acme", base), "acme-token")
	for i, id := range []string{"c1", "c2", "c3"} {
		if err := registerAt(t, r, id, base.Add(time.Duration(i)*time.Hour), time.Time{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	// c1 obtains a token; c2 holds a code only.
	if err := r.SaveOAuthGrant(ctx, grant(mnemo.GrantCode, "code1", "f1", k.ID, base.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code1"), base); err != nil {
		t.Fatal(err)
	}
	if err := r.IssueOAuthTokens(ctx, grant(mnemo.GrantAccess, "at1", "f1", k.ID, base.Add(time.Hour)),
		grant(mnemo.GrantRefresh, "rt1", "f1", k.ID, base.Add(time.Hour)), base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c2code := grant(mnemo.GrantCode, "code2", "f2", k.ID, base.Add(10*time.Hour))
	c2code.ClientID = "c2"
	if err := r.SaveOAuthGrant(ctx, c2code); err != nil {
		t.Fatal(err)
	}
	c1, err := r.OAuthClient(ctx, "c1")
	if err != nil || c1.UsedAt == nil || !c1.UsedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("c1 after its first token: %+v, %v", c1, err)
	}

	// Registered before 1h30 and never used: c2 goes, with its code; c1
	// (used) and c3 (newer) stay.
	if err := registerAt(t, r, "c4", base.Add(3*time.Hour), base.Add(90*time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"c1": true, "c2": false, "c3": true, "c4": true} {
		if got := clientExists(t, r, id); got != want {
			t.Errorf("client %s exists = %v, want %v", id, got, want)
		}
	}
	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code2"), base.Add(4*time.Hour)); mnemo.ErrorCode(err) != mnemo.EINVALID {
		t.Errorf("code of an expired client: %v, want EINVALID (removed)", err)
	}

	// At a cap of 3 (c1, c3, c4), c5 takes the place of c3, the oldest
	// never used.
	if err := registerAt(t, r, "c5", base.Add(4*time.Hour), time.Time{}, 3); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"c1": true, "c3": false, "c4": true, "c5": true} {
		if got := clientExists(t, r, id); got != want {
			t.Errorf("at the cap: client %s exists = %v, want %v", id, got, want)
		}
	}
	// A cap of 1 held by c1, which is used: refused, nothing removed.
	err = registerAt(t, r, "c6", base.Add(5*time.Hour), time.Time{}, 1)
	if mnemo.ErrorCode(err) != mnemo.ETOOMANY || clientExists(t, r, "c6") || !clientExists(t, r, "c4") {
		t.Fatalf("registration over a cap of used clients: %v", err)
	}
}

// A refresh rotates: the family's earlier access token goes. A refresh
// token (or code) used twice revokes its family, and only it; tokens of a
// revoked family cannot be issued any more.
func TestOAuthRotationAndReuse(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, t.TempDir())
	k := mustCreateTenant(t, r, tenant("acme", base), "acme-token")
	if err := registerAt(t, r, "c1", base, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	exp := base.Add(time.Hour)
	for _, f := range []string{"f1", "other"} {
		if err := r.SaveOAuthGrant(ctx, grant(mnemo.GrantCode, "code-"+f, f, k.ID, exp)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code-"+f), base); err != nil {
			t.Fatal(err)
		}
		if err := r.IssueOAuthTokens(ctx, grant(mnemo.GrantAccess, "at1-"+f, f, k.ID, exp), grant(mnemo.GrantRefresh, "rt1-"+f, f, k.ID, exp), base); err != nil {
			t.Fatal(err)
		}
	}
	live := func(token string) bool {
		_, err := r.AccessGrant(ctx, mnemo.HashToken(token), base)
		return err == nil
	}
	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, mnemo.HashToken("rt1-f1"), base); err != nil {
		t.Fatal(err)
	}
	if err := r.IssueOAuthTokens(ctx, grant(mnemo.GrantAccess, "at2-f1", "f1", k.ID, exp), grant(mnemo.GrantRefresh, "rt2-f1", "f1", k.ID, exp), base); err != nil {
		t.Fatal(err)
	}
	if live("at1-f1") || !live("at2-f1") {
		t.Fatalf("after a refresh: old access live=%v, new live=%v; want false, true", live("at1-f1"), live("at2-f1"))
	}
	if g, err := r.OAuthToken(ctx, mnemo.HashToken("rt1-f1")); err != nil || g.Family != "f1" || g.Kind != mnemo.GrantRefresh {
		t.Fatalf("OAuthToken of a used refresh token: %+v, %v", g, err)
	}
	if _, err := r.OAuthToken(ctx, mnemo.HashToken("code-f1")); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("OAuthToken of a code: %v, want ENOTFOUND", err)
	}

	_, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, mnemo.HashToken("rt1-f1"), base)
	var reused *mnemo.GrantReusedError
	if !errors.As(err, &reused) || mnemo.ErrorCode(err) != mnemo.EINVALID || reused.Grant.KeyID != k.ID || reused.Grant.Family != "f1" {
		t.Fatalf("refresh token used twice: %v, want a GrantReusedError of f1", err)
	}
	if live("at2-f1") || !live("at1-other") {
		t.Fatalf("after reuse: f1 live=%v, other family live=%v; want false, true", live("at2-f1"), live("at1-other"))
	}
	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, mnemo.HashToken("rt2-f1"), base); mnemo.ErrorCode(err) != mnemo.EINVALID {
		t.Fatalf("newest refresh token of a revoked family: %v", err)
	}
	err = r.IssueOAuthTokens(ctx, grant(mnemo.GrantAccess, "at3-f1", "f1", k.ID, exp), grant(mnemo.GrantRefresh, "rt3-f1", "f1", k.ID, exp), base)
	if mnemo.ErrorCode(err) != mnemo.EINVALID || live("at3-f1") {
		t.Fatalf("issue into a revoked family: %v", err)
	}

	// A code used twice revokes what it gave, too; RevokeOAuthFamily
	// revokes a family on request.
	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code-other"), base); !errors.As(err, &reused) {
		t.Fatalf("code used twice: %v", err)
	}
	if live("at1-other") {
		t.Fatal("the access token of a reused code still works")
	}
	if err := r.RevokeOAuthFamily(ctx, "never-issued"); err != nil {
		t.Fatal(err)
	}
}

// Grants expired for more than the grant retention are removed by the
// pruner, in batches; the used refresh token of a live family stays for
// reuse detection.
func TestOAuthExpiredGrantsAreRemoved(t *testing.T) {
	ctx := context.Background()
	r := openRegistry(t, t.TempDir())
	k := mustCreateTenant(t, r, tenant("acme", base), "acme-token")
	registerAt(t, r, "c1", base, time.Time{}, 0)
	for _, c := range []struct {
		code string
		exp  time.Time
	}{{"old", base.Add(time.Hour)}, {"new", base.Add(48 * time.Hour)}} {
		if err := r.SaveOAuthGrant(ctx, grant(mnemo.GrantCode, c.code, c.code, k.ID, c.exp)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken(c.code), base); err != nil {
			t.Fatal(err)
		}
		if err := r.IssueOAuthTokens(ctx, grant(mnemo.GrantAccess, "at-"+c.code, c.code, k.ID, c.exp),
			grant(mnemo.GrantRefresh, "rt-"+c.code, c.code, k.ID, c.exp), base); err != nil {
			t.Fatal(err)
		}
	}
	// 25h later: "old" expired 24h ago and more, and goes.
	later := base.Add(25*time.Hour + time.Second)
	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, mnemo.HashToken("rt-new"), later); err != nil {
		t.Fatal(err)
	}
	if err := r.IssueOAuthTokens(ctx, grant(mnemo.GrantAccess, "at2-new", "new", k.ID, later.Add(time.Hour)),
		grant(mnemo.GrantRefresh, "rt2-new", "new", k.ID, later.Add(time.Hour)), later); err != nil {
		t.Fatal(err)
	}
	removed, err := r.Prune(ctx, mnemo.PruneCutoffs{OAuthGrants: later.Add(-24 * time.Hour)}, 1)
	if err != nil || removed["oauth_grants"] != 3 {
		t.Fatalf("Prune: %v, %v; want the old family's code, access and refresh token removed", removed, err)
	}
	if _, err := r.OAuthToken(ctx, mnemo.HashToken("rt-old")); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("grant expired for more than a day: %v, want removed", err)
	}
	if _, err := r.OAuthToken(ctx, mnemo.HashToken("rt-new")); err != nil {
		t.Fatalf("used refresh token of a live family: %v, want kept for reuse detection", err)
	}
}
