package registrytest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// TestOAuth is the contract of mnemo.OAuthStore: clients that expire
// unused and a cap that makes room from the oldest of them, codes and
// refresh tokens that work once, a reuse that revokes the whole family,
// rotation, grants that die with their key, and the pruning of both. Keys
// are made with CreateTenant, so a backend runs it once it keeps tenants.
func TestOAuth(t *testing.T, newReg New) {
	t.Run("ClientRoundTrip", func(t *testing.T) { testOAuthClientRoundTrip(t, newReg(t)) })
	t.Run("UnusedClientsExpire", func(t *testing.T) { testOAuthUnusedClientsExpire(t, newReg(t)) })
	t.Run("Cap", func(t *testing.T) { testOAuthCap(t, newReg(t)) })
	t.Run("CapOrder", func(t *testing.T) { testOAuthCapOrder(t, newReg(t)) })
	t.Run("SaveNeedsKey", func(t *testing.T) { testOAuthSaveNeedsKey(t, newReg(t)) })
	t.Run("ConsumeOnce", func(t *testing.T) { testOAuthConsumeOnce(t, newReg(t)) })
	t.Run("Expiry", func(t *testing.T) { testOAuthExpiry(t, newReg(t)) })
	t.Run("Rotation", func(t *testing.T) { testOAuthRotation(t, newReg(t)) })
	t.Run("Reuse", func(t *testing.T) { testOAuthReuse(t, newReg(t)) })
	t.Run("IssueNeedsKey", func(t *testing.T) { testOAuthIssueNeedsKey(t, newReg(t)) })
	t.Run("Revoke", func(t *testing.T) { testOAuthRevoke(t, newReg(t)) })
	t.Run("DeleteTenant", func(t *testing.T) { testOAuthDeleteTenant(t, newReg(t)) })
	t.Run("PruneExpiredGrants", func(t *testing.T) { testOAuthPruneExpiredGrants(t, newReg(t)) })
	t.Run("PruneClients", func(t *testing.T) { testOAuthPruneClients(t, newReg(t)) })
	t.Run("PruneIdleBehindHolding", func(t *testing.T) { testOAuthPruneIdleBehindHolding(t, newReg(t)) })
}

var oauthBase = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// oauthKey creates the tenant id with one key and returns the key.
func oauthKey(t *testing.T, r Registry, id string) *mnemo.Key {
	t.Helper()
	tn := &mnemo.Tenant{ID: id, Name: "Tenant " + id, Status: mnemo.TenantActive, CreatedAt: oauthBase, UpdatedAt: oauthBase}
	k := &mnemo.Key{ID: "key_" + id, TenantID: id, Label: "oauth", Prefix: id[:min(4, len(id))],
		Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: oauthBase}
	if err := r.CreateTenant(context.Background(), tn, k, mnemo.HashToken(id+"-token")); err != nil {
		t.Fatalf("CreateTenant(%s): %v", id, err)
	}
	return k
}

func oauthRegister(r Registry, id string, at, unusedBefore time.Time, max int) error {
	return r.RegisterOAuthClient(context.Background(), &mnemo.OAuthClient{ID: id, Name: "client " + id,
		RedirectURIs: []string{"https://claude.ai/cb"}, CreatedAt: at}, unusedBefore, max)
}

func mustOAuthRegister(t *testing.T, r Registry, id string, at time.Time) {
	t.Helper()
	if err := oauthRegister(r, id, at, time.Time{}, 0); err != nil {
		t.Fatalf("RegisterOAuthClient(%s): %v", id, err)
	}
}

func oauthClientExists(t *testing.T, r Registry, id string) bool {
	t.Helper()
	_, err := r.OAuthClient(context.Background(), id)
	if err != nil && mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("OAuthClient(%s): %v", id, err)
	}
	return err == nil
}

// oauthGrant is a grant of client c1 for token, which it is the hash of.
func oauthGrant(kind, token, family, keyID string, expires time.Time) *mnemo.OAuthGrant {
	return &mnemo.OAuthGrant{Hash: mnemo.HashToken(token), Kind: kind, ClientID: "c1", KeyID: keyID,
		Scopes: []string{mnemo.ScopeRead}, ExpiresAt: expires, Family: family}
}

func mustSave(t *testing.T, r Registry, g *mnemo.OAuthGrant) {
	t.Helper()
	if err := r.SaveOAuthGrant(context.Background(), g); err != nil {
		t.Fatalf("SaveOAuthGrant: %v", err)
	}
}

func mustConsume(t *testing.T, r Registry, kind, token string, now time.Time) *mnemo.OAuthGrant {
	t.Helper()
	g, err := r.ConsumeOAuthGrant(context.Background(), kind, mnemo.HashToken(token), now)
	if err != nil {
		t.Fatalf("ConsumeOAuthGrant(%s): %v", token, err)
	}
	return g
}

func mustIssue(t *testing.T, r Registry, access, refresh *mnemo.OAuthGrant, now time.Time) {
	t.Helper()
	if err := r.IssueOAuthTokens(context.Background(), access, refresh, now); err != nil {
		t.Fatalf("IssueOAuthTokens: %v", err)
	}
}

// oauthAuthorize runs the code flow of a family for client: code-<family>
// consumed at now for at1-<family> and rt1-<family>, all expiring at exp.
func oauthAuthorize(t *testing.T, r Registry, client, family, keyID string, now, exp time.Time) {
	t.Helper()
	code := oauthGrant(mnemo.GrantCode, "code-"+family, family, keyID, exp)
	at := oauthGrant(mnemo.GrantAccess, "at1-"+family, family, keyID, exp)
	rt := oauthGrant(mnemo.GrantRefresh, "rt1-"+family, family, keyID, exp)
	code.ClientID, at.ClientID, rt.ClientID = client, client, client
	mustSave(t, r, code)
	mustConsume(t, r, mnemo.GrantCode, "code-"+family, now)
	mustIssue(t, r, at, rt, now)
}

// oauthExp is when the grants of oauthFamilies and oauthIssue expire.
var oauthExp = oauthBase.Add(time.Hour)

// oauthFamilies makes tenant acme's key and client c1, and authorizes each
// family for it at oauthBase.
func oauthFamilies(t *testing.T, r Registry, families ...string) *mnemo.Key {
	t.Helper()
	k := oauthKey(t, r, "acme")
	mustOAuthRegister(t, r, "c1", oauthBase)
	for _, f := range families {
		oauthAuthorize(t, r, "c1", f, k.ID, oauthBase, oauthExp)
	}
	return k
}

// oauthIssue issues at<n>-<family> and rt<n>-<family> for keyID.
func oauthIssue(r Registry, family, keyID, n string) error {
	return r.IssueOAuthTokens(context.Background(), oauthGrant(mnemo.GrantAccess, "at"+n+"-"+family, family, keyID, oauthExp),
		oauthGrant(mnemo.GrantRefresh, "rt"+n+"-"+family, family, keyID, oauthExp), oauthBase)
}

// oauthLive reports whether the access token works.
func oauthLive(t *testing.T, r Registry, token string) bool {
	t.Helper()
	_, err := r.AccessGrant(context.Background(), mnemo.HashToken(token), oauthBase)
	if err != nil && mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
		t.Fatalf("AccessGrant(%s): %v", token, err)
	}
	return err == nil
}

// oauthTokenGone reports whether OAuthToken no longer finds the token.
func oauthTokenGone(t *testing.T, r Registry, token string) bool {
	t.Helper()
	_, err := r.OAuthToken(context.Background(), mnemo.HashToken(token))
	if err != nil && mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("OAuthToken(%s): %v", token, err)
	}
	return err != nil
}

// wantInvalid fails unless err is a plain EINVALID: not a reuse.
func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	var reused *mnemo.GrantReusedError
	if mnemo.ErrorCode(err) != mnemo.EINVALID || errors.As(err, &reused) {
		t.Fatalf("%s: %v, want EINVALID (not a reuse)", what, err)
	}
}

// A client reads back as registered, unused; an unknown one is ENOTFOUND.
func testOAuthClientRoundTrip(t *testing.T, r Registry) {
	ctx := context.Background()
	c := &mnemo.OAuthClient{ID: "mcp_1", Name: "Claude", RedirectURIs: []string{"https://claude.ai/api/mcp/auth_callback", "http://localhost:6274/cb"},
		CreatedAt: oauthBase.Add(123 * time.Microsecond)}
	if err := r.RegisterOAuthClient(ctx, c, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	got, err := r.OAuthClient(ctx, "mcp_1")
	want := &mnemo.OAuthClient{ID: "mcp_1", Name: "Claude", RedirectURIs: c.RedirectURIs, CreatedAt: c.CreatedAt}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("OAuthClient = %+v, %v; want %+v", got, err, want)
	}
	if _, err := r.OAuthClient(ctx, "mcp_2"); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("an unknown client: %v, want ENOTFOUND", err)
	}
}

// Clients never used that were registered before unusedBefore go, with
// their codes, when another registers; a used client stays, and keeps the
// time of its first token.
func testOAuthUnusedClientsExpire(t *testing.T, r Registry) {
	ctx := context.Background()
	k := oauthKey(t, r, "acme")
	for i, id := range []string{"c1", "c2", "c3"} {
		mustOAuthRegister(t, r, id, oauthBase.Add(time.Duration(i)*time.Hour))
	}
	// c1 obtains tokens (at +1m, then again at +2h); c2 holds a code only.
	oauthAuthorize(t, r, "c1", "f1", k.ID, oauthBase.Add(time.Minute), oauthBase.Add(24*time.Hour))
	mustConsume(t, r, mnemo.GrantRefresh, "rt1-f1", oauthBase.Add(2*time.Hour))
	mustIssue(t, r, oauthGrant(mnemo.GrantAccess, "at2-f1", "f1", k.ID, oauthBase.Add(24*time.Hour)),
		oauthGrant(mnemo.GrantRefresh, "rt2-f1", "f1", k.ID, oauthBase.Add(24*time.Hour)), oauthBase.Add(2*time.Hour))
	code2 := oauthGrant(mnemo.GrantCode, "code2", "f2", k.ID, oauthBase.Add(10*time.Hour))
	code2.ClientID = "c2"
	mustSave(t, r, code2)
	c1, err := r.OAuthClient(ctx, "c1")
	if err != nil || c1.UsedAt == nil || !c1.UsedAt.Equal(oauthBase.Add(time.Minute)) {
		t.Fatalf("c1 after its tokens: %+v, %v; want used at its first token, +1m", c1, err)
	}
	if c2, err := r.OAuthClient(ctx, "c2"); err != nil || c2.UsedAt != nil {
		t.Fatalf("c2, which holds a code only: %+v, %v; want never used", c2, err)
	}

	// Registered before +2h and never used: c2 goes, with its code; c1
	// (used) and c3 (registered at +2h exactly) stay.
	if err := oauthRegister(r, "c4", oauthBase.Add(3*time.Hour), oauthBase.Add(2*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"c1": true, "c2": false, "c3": true, "c4": true} {
		if got := oauthClientExists(t, r, id); got != want {
			t.Errorf("client %s exists = %v, want %v", id, got, want)
		}
	}
	_, err = r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code2"), oauthBase.Add(4*time.Hour))
	wantInvalid(t, "the code of an expired client", err)
	// However old, a used client is not "unused".
	if err := oauthRegister(r, "c5", oauthBase.Add(5*time.Hour), oauthBase.Add(1000*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"c1": true, "c3": false, "c4": false, "c5": true} {
		if got := oauthClientExists(t, r, id); got != want {
			t.Errorf("after a far cutoff: client %s exists = %v, want %v", id, got, want)
		}
	}
	if !oauthLive(t, r, "at2-f1") {
		t.Error("the used client's access token went with the unused clients")
	}
}

// At the cap, the oldest never used client makes room; when every client
// has been used, registration is ETOOMANY and changes nothing.
func testOAuthCap(t *testing.T, r Registry) {
	k := oauthKey(t, r, "acme")
	for i, id := range []string{"c1", "c3", "c4"} {
		mustOAuthRegister(t, r, id, oauthBase.Add(time.Duration(i)*time.Hour))
	}
	oauthAuthorize(t, r, "c1", "f1", k.ID, oauthBase, oauthBase.Add(time.Hour))
	if err := oauthRegister(r, "c5", oauthBase.Add(4*time.Hour), time.Time{}, 3); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"c1": true, "c3": false, "c4": true, "c5": true} {
		if got := oauthClientExists(t, r, id); got != want {
			t.Errorf("at the cap: client %s exists = %v, want %v", id, got, want)
		}
	}
	// Under the cap, nothing goes.
	if err := oauthRegister(r, "c6", oauthBase.Add(5*time.Hour), time.Time{}, 10); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"c1", "c4", "c5", "c6"} {
		if !oauthClientExists(t, r, id) {
			t.Errorf("under the cap: client %s removed", id)
		}
	}
	// A cap of 1, held by c1, which is used: refused, nothing removed.
	err := oauthRegister(r, "c7", oauthBase.Add(6*time.Hour), time.Time{}, 1)
	if mnemo.ErrorCode(err) != mnemo.ETOOMANY {
		t.Fatalf("registration over a cap of used clients: %v, want ETOOMANY", err)
	}
	for id, want := range map[string]bool{"c1": true, "c4": true, "c5": true, "c6": true, "c7": false} {
		if got := oauthClientExists(t, r, id); got != want {
			t.Errorf("after a refused registration: client %s exists = %v, want %v", id, got, want)
		}
	}
}

// The cap removes the oldest never-used clients first, and of those
// registered at the same time, the lowest id.
func testOAuthCapOrder(t *testing.T, r Registry) {
	for _, id := range []string{"cb", "ca", "cc"} {
		mustOAuthRegister(t, r, id, oauthBase)
	}
	mustOAuthRegister(t, r, "aa", oauthBase.Add(time.Hour))
	if err := oauthRegister(r, "cd", oauthBase.Add(2*time.Hour), time.Time{}, 3); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"ca": false, "cb": false, "cc": true, "aa": true, "cd": true} {
		if got := oauthClientExists(t, r, id); got != want {
			t.Errorf("client %s exists = %v, want %v", id, got, want)
		}
	}
}

// A code is stored only while its key exists.
func testOAuthSaveNeedsKey(t *testing.T, r Registry) {
	ctx := context.Background()
	oauthKey(t, r, "acme")
	mustOAuthRegister(t, r, "c1", oauthBase)
	err := r.SaveOAuthGrant(ctx, oauthGrant(mnemo.GrantCode, "code", "f1", "key_nobody", oauthBase.Add(time.Hour)))
	if mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("a code for a key that does not exist: %v, want ENOTFOUND", err)
	}
	_, err = r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code"), oauthBase)
	wantInvalid(t, "the code refused", err)
}

// A code comes back whole once, by its kind only; then it is used.
func testOAuthConsumeOnce(t *testing.T, r Registry) {
	ctx := context.Background()
	k := oauthKey(t, r, "acme")
	mustOAuthRegister(t, r, "c1", oauthBase)
	code := &mnemo.OAuthGrant{Hash: mnemo.HashToken("code"), Kind: mnemo.GrantCode, ClientID: "c1", KeyID: k.ID,
		Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, RedirectURI: "https://claude.ai/cb", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		ExpiresAt: oauthBase.Add(10*time.Minute + 7*time.Microsecond), Family: "f1"}
	mustSave(t, r, code)
	_, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, code.Hash, oauthBase)
	wantInvalid(t, "a code presented as a refresh token", err)
	_, err = r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("another"), oauthBase)
	wantInvalid(t, "an unknown code", err)
	got, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, code.Hash, oauthBase)
	if err != nil || !reflect.DeepEqual(got, code) {
		t.Fatalf("ConsumeOAuthGrant = %+v, %v; want %+v", got, err, code)
	}
	if _, err := r.OAuthToken(ctx, code.Hash); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("OAuthToken of a code: %v, want ENOTFOUND (tokens only)", err)
	}
	if _, err := r.AccessGrant(ctx, code.Hash, oauthBase); mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
		t.Fatalf("AccessGrant of a code: %v, want EUNAUTHORIZED", err)
	}
}

// A grant works until the instant it expires, excluded; a used one
// presented after its expiry is refused without revoking anything.
func testOAuthExpiry(t *testing.T, r Registry) {
	ctx := context.Background()
	k := oauthKey(t, r, "acme")
	mustOAuthRegister(t, r, "c1", oauthBase)
	exp := oauthBase.Add(10 * time.Minute)
	mustSave(t, r, oauthGrant(mnemo.GrantCode, "late", "f0", k.ID, exp))
	_, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("late"), exp)
	wantInvalid(t, "a code at its expiry", err)

	mustSave(t, r, oauthGrant(mnemo.GrantCode, "code-f1", "f1", k.ID, exp))
	mustConsume(t, r, mnemo.GrantCode, "code-f1", exp.Add(-time.Microsecond))
	mustIssue(t, r, oauthGrant(mnemo.GrantAccess, "at1-f1", "f1", k.ID, exp.Add(time.Hour)),
		oauthGrant(mnemo.GrantRefresh, "rt1-f1", "f1", k.ID, exp.Add(time.Hour)), exp.Add(-time.Microsecond))
	_, err = r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code-f1"), exp)
	wantInvalid(t, "a used code presented after its expiry", err)
	if !oauthLive(t, r, "at1-f1") {
		t.Fatal("a used code presented after its expiry revoked its family")
	}
	// An expired access token is still found: expiry is the caller's.
	g, err := r.AccessGrant(ctx, mnemo.HashToken("at1-f1"), exp.Add(2*time.Hour))
	if err != nil || !g.ExpiresAt.Equal(exp.Add(time.Hour)) || g.Kind != mnemo.GrantAccess {
		t.Fatalf("AccessGrant of an expired token: %+v, %v; want it returned", g, err)
	}
}

// A refresh rotates: the family's earlier access token goes, the new one
// works, and the used refresh token is still found for revocation.
func testOAuthRotation(t *testing.T, r Registry) {
	ctx := context.Background()
	k := oauthFamilies(t, r, "f1", "f2")
	exp := oauthExp
	rt := mustConsume(t, r, mnemo.GrantRefresh, "rt1-f1", oauthBase)
	if want := oauthGrant(mnemo.GrantRefresh, "rt1-f1", "f1", k.ID, exp); !reflect.DeepEqual(rt, want) {
		t.Fatalf("the refresh token consumed: %+v, want %+v", rt, want)
	}
	at2 := oauthGrant(mnemo.GrantAccess, "at2-f1", "f1", k.ID, exp.Add(time.Hour))
	mustIssue(t, r, at2, oauthGrant(mnemo.GrantRefresh, "rt2-f1", "f1", k.ID, exp.Add(time.Hour)), oauthBase)
	if oauthLive(t, r, "at1-f1") || !oauthLive(t, r, "at2-f1") || !oauthLive(t, r, "at1-f2") {
		t.Fatalf("after a refresh: old access live=%v, new live=%v, other family live=%v; want false, true, true",
			oauthLive(t, r, "at1-f1"), oauthLive(t, r, "at2-f1"), oauthLive(t, r, "at1-f2"))
	}
	if g, err := r.AccessGrant(ctx, at2.Hash, oauthBase); err != nil || !reflect.DeepEqual(g, at2) {
		t.Fatalf("AccessGrant = %+v, %v; want %+v", g, err, at2)
	}
	if g, err := r.OAuthToken(ctx, at2.Hash); err != nil || !reflect.DeepEqual(g, at2) {
		t.Fatalf("OAuthToken of an access token = %+v, %v; want %+v", g, err, at2)
	}
	if g, err := r.OAuthToken(ctx, mnemo.HashToken("rt1-f1")); err != nil || g.Family != "f1" || g.Kind != mnemo.GrantRefresh {
		t.Fatalf("OAuthToken of a used refresh token: %+v, %v", g, err)
	}
	if _, err := r.AccessGrant(ctx, mnemo.HashToken("rt2-f1"), oauthBase); mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
		t.Fatalf("AccessGrant of a refresh token: %v, want EUNAUTHORIZED", err)
	}
	if _, err := r.OAuthToken(ctx, mnemo.HashToken("nothing")); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("OAuthToken of an unknown token: %v, want ENOTFOUND", err)
	}
}

// A refresh token or code presented twice while unexpired revokes its
// family, and only it, and says which grant it was; the family cannot be
// issued tokens any more.
func testOAuthReuse(t *testing.T, r Registry) {
	ctx := context.Background()
	k := oauthFamilies(t, r, "f1", "other")
	mustConsume(t, r, mnemo.GrantRefresh, "rt1-f1", oauthBase)
	if err := oauthIssue(r, "f1", k.ID, "2"); err != nil {
		t.Fatal(err)
	}

	_, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, mnemo.HashToken("rt1-f1"), oauthBase.Add(time.Minute))
	var reused *mnemo.GrantReusedError
	if !errors.As(err, &reused) || mnemo.ErrorCode(err) != mnemo.EINVALID {
		t.Fatalf("a refresh token used twice: %v, want a GrantReusedError (EINVALID)", err)
	}
	if want := oauthGrant(mnemo.GrantRefresh, "rt1-f1", "f1", k.ID, oauthExp); !reflect.DeepEqual(reused.Grant, want) {
		t.Fatalf("the reused grant: %+v, want %+v", reused.Grant, want)
	}
	if oauthLive(t, r, "at2-f1") || !oauthTokenGone(t, r, "rt2-f1") || !oauthTokenGone(t, r, "rt1-f1") {
		t.Fatal("a token of the revoked family is left")
	}
	if !oauthLive(t, r, "at1-other") || oauthTokenGone(t, r, "rt1-other") {
		t.Fatal("another family was revoked with it")
	}
	_, err = r.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, mnemo.HashToken("rt2-f1"), oauthBase)
	wantInvalid(t, "the newest refresh token of a revoked family", err)
	if err := oauthIssue(r, "f1", k.ID, "3"); mnemo.ErrorCode(err) != mnemo.EINVALID || oauthLive(t, r, "at3-f1") || !oauthTokenGone(t, r, "rt3-f1") {
		t.Fatalf("issuing into a revoked family: %v, want EINVALID and nothing stored", err)
	}
	// A second reuse finds nothing: the grant went with its family.
	_, err = r.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, mnemo.HashToken("rt1-f1"), oauthBase)
	wantInvalid(t, "a reused refresh token presented again", err)

	// A code used twice revokes what it gave.
	_, err = r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code-other"), oauthBase)
	if !errors.As(err, &reused) || reused.Grant.Kind != mnemo.GrantCode || reused.Grant.Family != "other" {
		t.Fatalf("a code used twice: %v, want a GrantReusedError of the code", err)
	}
	if oauthLive(t, r, "at1-other") || !oauthTokenGone(t, r, "rt1-other") {
		t.Fatal("the tokens of a reused code still work")
	}
}

// Tokens are issued only for a key that exists; a refusal changes nothing.
func testOAuthIssueNeedsKey(t *testing.T, r Registry) {
	oauthFamilies(t, r, "f1")
	mustConsume(t, r, mnemo.GrantRefresh, "rt1-f1", oauthBase)
	if err := oauthIssue(r, "f1", "key_nobody", "2"); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("tokens for a key that does not exist: %v, want ENOTFOUND", err)
	}
	if !oauthLive(t, r, "at1-f1") || oauthLive(t, r, "at2-f1") || !oauthTokenGone(t, r, "rt2-f1") {
		t.Fatal("a refused issue changed the family's tokens")
	}
}

// Revoking a family removes all its grants and only them; an unknown
// family is no error.
func testOAuthRevoke(t *testing.T, r Registry) {
	ctx := context.Background()
	k := oauthFamilies(t, r, "f1", "f2")
	mustSave(t, r, oauthGrant(mnemo.GrantCode, "code2-f1", "f1", k.ID, oauthExp))
	if err := r.RevokeOAuthFamily(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	if oauthLive(t, r, "at1-f1") || !oauthTokenGone(t, r, "rt1-f1") {
		t.Fatal("a token of the revoked family is left")
	}
	_, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code2-f1"), oauthBase)
	wantInvalid(t, "an unused code of the revoked family", err)
	if err := oauthIssue(r, "f1", k.ID, "2"); mnemo.ErrorCode(err) != mnemo.EINVALID {
		t.Fatalf("issuing into a revoked family: %v, want EINVALID", err)
	}
	if !oauthLive(t, r, "at1-f2") || oauthTokenGone(t, r, "rt1-f2") {
		t.Fatal("another family was revoked")
	}
	if err := r.RevokeOAuthFamily(ctx, "never-issued"); err != nil {
		t.Fatalf("revoking an unknown family: %v", err)
	}
}

// A deleted tenant's grants go with its keys; another tenant's stay, and
// no orphan is left for CleanOrphans.
func testOAuthDeleteTenant(t *testing.T, r Registry) {
	ctx := context.Background()
	acme := oauthFamilies(t, r, "fa")
	beta := oauthKey(t, r, "beta")
	oauthAuthorize(t, r, "c1", "fb", beta.ID, oauthBase, oauthExp)
	mustSave(t, r, oauthGrant(mnemo.GrantCode, "code2-fa", "fa", acme.ID, oauthExp))
	mustConsume(t, r, mnemo.GrantRefresh, "rt1-fa", oauthBase)
	if err := r.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if oauthLive(t, r, "at1-fa") || !oauthTokenGone(t, r, "rt1-fa") {
		t.Fatal("a token of a deleted tenant is left")
	}
	_, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code2-fa"), oauthBase)
	wantInvalid(t, "a code of a deleted tenant", err)
	if err := oauthIssue(r, "fa", acme.ID, "2"); mnemo.ErrorCode(err) != mnemo.EINVALID || oauthLive(t, r, "at2-fa") {
		t.Fatalf("issuing into the family of a deleted tenant: %v, want EINVALID (its grants are gone)", err)
	}
	if !oauthLive(t, r, "at1-fb") || oauthTokenGone(t, r, "rt1-fb") {
		t.Fatal("another tenant's tokens went too")
	}
	removed, err := r.CleanOrphans(ctx, oauthBase.Add(time.Hour))
	if err != nil || removed["oauth_grants"] != 0 {
		t.Fatalf("CleanOrphans after DeleteTenant: %v, %v; want no OAuth grant left to remove", removed, err)
	}
	if !oauthLive(t, r, "at1-fb") || !oauthClientExists(t, r, "c1") {
		t.Fatal("CleanOrphans removed a live token or client")
	}
}

// Grants expired before the cutoff go, in batches; the used refresh token
// of a live family stays, for reuse detection, and so does a grant that
// expires at the cutoff exactly.
func testOAuthPruneExpiredGrants(t *testing.T, r Registry) {
	ctx := context.Background()
	k := oauthKey(t, r, "acme")
	mustOAuthRegister(t, r, "c1", oauthBase)
	oauthAuthorize(t, r, "c1", "old", k.ID, oauthBase, oauthBase.Add(time.Hour))
	oauthAuthorize(t, r, "c1", "new", k.ID, oauthBase, oauthBase.Add(48*time.Hour))
	later := oauthBase.Add(25*time.Hour + time.Second)
	cutoff := later.Add(-24 * time.Hour)
	mustConsume(t, r, mnemo.GrantRefresh, "rt1-new", later)
	mustIssue(t, r, oauthGrant(mnemo.GrantAccess, "at2-new", "new", k.ID, later.Add(time.Hour)),
		oauthGrant(mnemo.GrantRefresh, "rt2-new", "new", k.ID, later.Add(time.Hour)), later)
	mustSave(t, r, oauthGrant(mnemo.GrantCode, "edge", "edge", k.ID, cutoff))

	removed, err := r.Prune(ctx, mnemo.PruneCutoffs{OAuthGrants: cutoff}, 1)
	if err != nil || removed["oauth_grants"] != 3 || removed["oauth_clients"] != 0 {
		t.Fatalf("Prune: %v, %v; want the old family's code, access and refresh token removed", removed, err)
	}
	if !oauthTokenGone(t, r, "rt1-old") || !oauthTokenGone(t, r, "at1-old") {
		t.Fatal("a token expired before the cutoff is left")
	}
	if oauthTokenGone(t, r, "rt1-new") || !oauthLive(t, r, "at2-new") {
		t.Fatal("an unexpired token was pruned")
	}
	mustConsume(t, r, mnemo.GrantCode, "edge", cutoff.Add(-time.Microsecond))
	if removed, err := r.Prune(ctx, mnemo.PruneCutoffs{OAuthGrants: cutoff}, 1); err != nil || removed["oauth_grants"] != 0 {
		t.Fatalf("second pass: %v, %v; want nothing", removed, err)
	}
}

// Clients never used go after their cutoff with their codes; used clients
// go once idle past theirs and holding no grant; a used client still
// holding a grant stays.
func testOAuthPruneClients(t *testing.T, r Registry) {
	ctx := context.Background()
	now := oauthBase.Add(400 * 24 * time.Hour)
	k := oauthKey(t, r, "acme")
	for _, c := range []struct {
		id string
		at time.Time
	}{{"unused-old", now.Add(-72 * time.Hour)}, {"idle", now.Add(-200 * 24 * time.Hour)}, {"holding", now.Add(-200 * 24 * time.Hour)}, {"unused-new", now.Add(-time.Hour)}} {
		mustOAuthRegister(t, r, c.id, c.at)
	}
	g := oauthGrant(mnemo.GrantCode, "code-unused-old", "f-unused", k.ID, now.Add(time.Hour))
	g.ClientID = "unused-old"
	mustSave(t, r, g)
	for _, client := range []string{"idle", "holding"} {
		old := now.Add(-199 * 24 * time.Hour)
		code := oauthGrant(mnemo.GrantCode, "code-"+client, "f-"+client, k.ID, old)
		at := oauthGrant(mnemo.GrantAccess, "at-"+client, "f-"+client, k.ID, old)
		rt := oauthGrant(mnemo.GrantRefresh, "rt-"+client, "f-"+client, k.ID, old)
		code.ClientID, at.ClientID, rt.ClientID = client, client, client
		if client == "holding" {
			rt.ExpiresAt = now.Add(24 * time.Hour) // a long-lived refresh token
		}
		mustSave(t, r, code)
		mustIssue(t, r, at, rt, now.Add(-200*24*time.Hour))
	}

	cutoffs := mnemo.PruneCutoffs{OAuthGrants: now.Add(-24 * time.Hour), UnusedOAuthClients: now.Add(-24 * time.Hour), IdleOAuthClients: now.Add(-90 * 24 * time.Hour)}
	removed, err := r.Prune(ctx, cutoffs, 2)
	// Grants: idle's code, access and refresh, holding's code and access
	// (expired), unused-old's code (with its client). Clients: unused-old
	// and idle.
	if err != nil || removed["oauth_grants"] != 6 || removed["oauth_clients"] != 2 {
		t.Fatalf("Prune: %v, %v; want 6 oauth_grants and 2 oauth_clients", removed, err)
	}
	for id, kept := range map[string]bool{"unused-old": false, "idle": false, "holding": true, "unused-new": true} {
		if oauthClientExists(t, r, id) != kept {
			t.Errorf("client %s: kept %v, want %v", id, !kept, kept)
		}
	}
	if oauthTokenGone(t, r, "rt-holding") {
		t.Fatal("an unexpired refresh token was pruned")
	}
	if removed, err := r.Prune(ctx, cutoffs, 2); err != nil || removed["oauth_grants"] != 0 || removed["oauth_clients"] != 0 {
		t.Fatalf("second pass: %v, %v; want nothing", removed, err)
	}
	if removed, err := r.Prune(ctx, mnemo.PruneCutoffs{}, 1); err != nil || removed["oauth_grants"] != 0 || removed["oauth_clients"] != 0 {
		t.Fatalf("zero cutoffs: %v, %v; want nothing", removed, err)
	}
	if !oauthClientExists(t, r, "unused-new") || !oauthClientExists(t, r, "holding") {
		t.Fatal("zero cutoffs removed a client")
	}
}

// Idle clients are found however many clients that still hold grants come
// before them, more than a batch of them included.
func testOAuthPruneIdleBehindHolding(t *testing.T, r Registry) {
	// A pass that never gets past the holders fails here rather than hang.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := oauthBase.Add(400 * 24 * time.Hour)
	old := now.Add(-200 * 24 * time.Hour)
	k := oauthKey(t, r, "acme")
	for _, client := range []string{"a1", "a2", "a3", "b1", "b2"} {
		mustOAuthRegister(t, r, client, old)
		code := oauthGrant(mnemo.GrantCode, "code-"+client, "f-"+client, k.ID, old)
		at := oauthGrant(mnemo.GrantAccess, "at-"+client, "f-"+client, k.ID, old)
		rt := oauthGrant(mnemo.GrantRefresh, "rt-"+client, "f-"+client, k.ID, old)
		code.ClientID, at.ClientID, rt.ClientID = client, client, client
		if client[0] == 'a' {
			rt.ExpiresAt = now.Add(24 * time.Hour) // still held
		}
		mustSave(t, r, code)
		mustIssue(t, r, at, rt, old)
	}
	removed, err := r.Prune(ctx, mnemo.PruneCutoffs{OAuthGrants: now, IdleOAuthClients: now.Add(-90 * 24 * time.Hour)}, 2)
	// Grants: the a's codes and access tokens, the b's three each.
	if err != nil || removed["oauth_grants"] != 12 || removed["oauth_clients"] != 2 {
		t.Fatalf("Prune: %v, %v; want 12 oauth_grants and 2 oauth_clients", removed, err)
	}
	for id, kept := range map[string]bool{"a1": true, "a2": true, "a3": true, "b1": false, "b2": false} {
		if oauthClientExists(t, r, id) != kept {
			t.Errorf("client %s: kept %v, want %v", id, !kept, kept)
		}
	}
}
