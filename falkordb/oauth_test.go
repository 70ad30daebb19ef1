package falkordb

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/internal/falkortest"
	"github.com/mnemohq/mnemo/internal/registrytest"
)

// These tests run on a real FalkorDB (falkortest), never a fake. They are
// internal to the package because they call the retention hooks that
// Prune and CleanOrphans (retention.go, on another branch) call.

var oauthT0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func oauthTestRegistry(t *testing.T) (*Registry, *falkortest.Server) {
	t.Helper()
	srv := falkortest.Start(t)
	return NewRegistry(New(srv.Client())), srv
}

// scaffoldKey gives tenant tenantID (created when missing) the key keyID.
func scaffoldKey(t *testing.T, r *Registry, tenantID, keyID string) {
	t.Helper()
	ctx := context.Background()
	k := &mnemo.Key{ID: keyID, TenantID: tenantID, Prefix: "test", Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: oauthT0}
	var err error
	if _, terr := r.Tenant(ctx, tenantID); terr == nil {
		err = r.AddKey(ctx, k, mnemo.HashToken(keyID))
	} else {
		err = r.CreateTenant(ctx, &mnemo.Tenant{ID: tenantID, Name: tenantID, Status: mnemo.TenantActive, CreatedAt: oauthT0, UpdatedAt: oauthT0}, k, mnemo.HashToken(keyID))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// scaffoldDeleteTenant deletes the tenant with DeleteTenant.
func scaffoldDeleteTenant(t *testing.T, r *Registry, tenantID string, _ ...string) {
	t.Helper()
	if err := r.DeleteTenant(context.Background(), tenantID); err != nil {
		t.Fatal(err)
	}
}

// oauthContractRegistry is a new registry on a server of its own for the
// contracts.
func oauthContractRegistry(t *testing.T) registrytest.Registry {
	r, _ := oauthTestRegistry(t)
	return r
}

func TestOAuthContract(t *testing.T) { registrytest.TestOAuth(t, oauthContractRegistry) }

func TestIdempotencyContract(t *testing.T) {
	registrytest.TestIdempotency(t, oauthContractRegistry)
}

// The key layout that DeleteTenant (tenants.go) and the operators rely on:
// names, fields and index scores, in microseconds.
func TestOAuthKeyLayout(t *testing.T) {
	ctx := context.Background()
	r, _ := oauthTestRegistry(t)
	scaffoldKey(t, r, "acme", "key_acme")
	created := oauthT0.Add(7 * time.Microsecond)
	if err := r.RegisterOAuthClient(ctx, &mnemo.OAuthClient{ID: "c1", Name: "Claude", RedirectURIs: []string{"https://claude.ai/cb"}, CreatedAt: created}, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	micros := func(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }
	wantHash := func(key string, want map[string]string) {
		t.Helper()
		got, err := r.rdb.HGetAll(ctx, key).Result()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("HGETALL %s = %v, %v; want %v", key, got, err, want)
		}
	}
	wantScore := func(key, member string, want time.Time) {
		t.Helper()
		got, err := r.rdb.ZScore(ctx, key, member).Result()
		if err != nil || int64(got) != want.UnixMicro() {
			t.Fatalf("ZSCORE %s %s = %v, %v; want %d", key, member, int64(got), err, want.UnixMicro())
		}
	}
	wantMembers := func(key string, want ...string) {
		t.Helper()
		got, err := r.rdb.SMembers(ctx, key).Result()
		if err != nil || len(got) != len(want) {
			t.Fatalf("SMEMBERS %s = %v, %v; want %v", key, got, err, want)
		}
		for _, w := range want {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+w+" ") {
				t.Fatalf("SMEMBERS %s = %v; want %v", key, got, want)
			}
		}
	}
	wantHash("mnemo:oauth:client:c1", map[string]string{"id": "c1", "name": "Claude", "redirect_uris": `["https://claude.ai/cb"]`, "created_at": micros(created)})
	wantScore("mnemo:oauth:clients:unused", "c1", created)

	exp := oauthT0.Add(10 * time.Minute)
	code := &mnemo.OAuthGrant{Hash: mnemo.HashToken("code"), Kind: mnemo.GrantCode, ClientID: "c1", KeyID: "key_acme", Scopes: []string{"read"},
		RedirectURI: "https://claude.ai/cb", CodeChallenge: "ch", ExpiresAt: exp, Family: "f1"}
	if err := r.SaveOAuthGrant(ctx, code); err != nil {
		t.Fatal(err)
	}
	codeHex := hex.EncodeToString(code.Hash)
	wantHash("mnemo:oauth:grant:"+codeHex, map[string]string{"kind": "code", "client_id": "c1", "key_id": "key_acme", "scopes": `["read"]`,
		"redirect_uri": "https://claude.ai/cb", "code_challenge": "ch", "expires_at": micros(exp), "family": "f1", "used": "0"})
	wantMembers("mnemo:oauth:keygrants:key_acme", codeHex)
	wantMembers("mnemo:oauth:family:f1", codeHex)
	wantMembers("mnemo:oauth:clientgrants:c1", codeHex)
	wantScore("mnemo:oauth:expiry", codeHex, exp)

	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, code.Hash, oauthT0); err != nil {
		t.Fatal(err)
	}
	if used := r.rdb.HGet(ctx, "mnemo:oauth:grant:"+codeHex, "used").Val(); used != "1" {
		t.Fatalf("a consumed code's used = %q, want 1", used)
	}
	at := &mnemo.OAuthGrant{Hash: mnemo.HashToken("at"), Kind: mnemo.GrantAccess, ClientID: "c1", KeyID: "key_acme", ExpiresAt: exp, Family: "f1"}
	rt := &mnemo.OAuthGrant{Hash: mnemo.HashToken("rt"), Kind: mnemo.GrantRefresh, ClientID: "c1", KeyID: "key_acme", ExpiresAt: exp, Family: "f1"}
	issued := oauthT0.Add(time.Second)
	if err := r.IssueOAuthTokens(ctx, at, rt, issued); err != nil {
		t.Fatal(err)
	}
	atHex, rtHex := hex.EncodeToString(at.Hash), hex.EncodeToString(rt.Hash)
	wantMembers("mnemo:oauth:keygrants:key_acme", codeHex, atHex, rtHex)
	wantMembers("mnemo:oauth:family:f1", codeHex, atHex, rtHex)
	wantHash("mnemo:oauth:client:c1", map[string]string{"id": "c1", "name": "Claude", "redirect_uris": `["https://claude.ai/cb"]`,
		"created_at": micros(created), "used_at": micros(issued), "active_at": micros(issued)})
	wantScore("mnemo:oauth:clients:used", "c1", issued)
	if n := r.rdb.ZCard(ctx, "mnemo:oauth:clients:unused").Val(); n != 0 {
		t.Fatalf("a used client is still indexed as unused (%d)", n)
	}

	// Idempotency: one hash per tenant, and the pruner's index.
	fp := []byte{0xde, 0xad}
	if ok, _, err := r.ReserveIdempotency(ctx, "acme", "k:1", fp, created, time.Hour, time.Minute); err != nil || !ok {
		t.Fatalf("reserve: %v, %v", ok, err)
	}
	wantHash("mnemo:idem:acme", map[string]string{"k:1": "1:" + micros(created) + ":0:dead:"})
	wantScore("mnemo:idem-index", "acme\x00k:1", created)
	if err := r.CompleteIdempotency(ctx, "acme", "k:1", mnemo.IdempotentAnswer{Status: 201, Body: []byte("a:b\x00")}); err != nil {
		t.Fatal(err)
	}
	wantHash("mnemo:idem:acme", map[string]string{"k:1": "1:" + micros(created) + ":201:dead:a:b\x00"})
}

// What DeleteTenant leaves (grants gone, their hashes still in family,
// clientgrants and expiry indexes) changes no answer, and
// cleanOAuthOrphans removes it along with grants whose key or client is
// gone without DeleteTenant (a hand edit, a crash of a tool).
func TestOAuthOrphans(t *testing.T) {
	ctx := context.Background()
	r, _ := oauthTestRegistry(t)
	for _, k := range []string{"key_acme", "key_beta", "key_gamma"} {
		scaffoldKey(t, r, strings.TrimPrefix(k, "key_"), k)
	}
	for _, c := range []string{"c1", "c2"} {
		if err := r.RegisterOAuthClient(ctx, &mnemo.OAuthClient{ID: c, CreatedAt: oauthT0}, time.Time{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	exp := oauthT0.Add(time.Hour)
	grant := func(kind, token, family, key, client string) *mnemo.OAuthGrant {
		return &mnemo.OAuthGrant{Hash: mnemo.HashToken(token), Kind: kind, ClientID: client, KeyID: key, ExpiresAt: exp, Family: family}
	}
	flow := func(family, key, client string) {
		t.Helper()
		if err := r.SaveOAuthGrant(ctx, grant(mnemo.GrantCode, "code-"+family, family, key, client)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken("code-"+family), oauthT0); err != nil {
			t.Fatal(err)
		}
		if err := r.IssueOAuthTokens(ctx, grant(mnemo.GrantAccess, "at-"+family, family, key, client), grant(mnemo.GrantRefresh, "rt-"+family, family, key, client), oauthT0); err != nil {
			t.Fatal(err)
		}
	}
	flow("fa", "key_acme", "c1")
	flow("fa2", "key_acme", "c1")
	flow("fb", "key_beta", "c1")
	flow("fg", "key_gamma", "c2")
	flow("live", "key_beta", "c1")

	scaffoldDeleteTenant(t, r, "acme", "key_acme")
	// Hand edits: beta's key gone without its grants, client c2 gone
	// without its grants.
	if err := r.rdb.Del(ctx, "mnemo:key:key_beta", "mnemo:oauth:client:c2").Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.IssueOAuthTokens(ctx, grant(mnemo.GrantAccess, "at2-fa", "fa", "key_acme", "c1"), grant(mnemo.GrantRefresh, "rt2-fa", "fa", "key_acme", "c1"), oauthT0); mnemo.ErrorCode(err) != mnemo.EINVALID {
		t.Fatalf("issuing into a deleted tenant's family: %v, want EINVALID", err)
	}
	if n := r.rdb.SCard(ctx, "mnemo:oauth:family:fa2").Val(); n != 3 {
		t.Fatalf("the deleted tenant's family fa2 lists %d grants, want 3 dangling (as DeleteTenant leaves them)", n)
	}

	removed := map[string]int64{}
	if err := r.cleanOAuthOrphans(ctx, oauthT0, removed); err != nil {
		t.Fatal(err)
	}
	// beta's code, access and refresh of fb and of live; gamma's three (of c2).
	if want := map[string]int64{"oauth_grants": 9}; !reflect.DeepEqual(removed, want) {
		t.Fatalf("cleanOAuthOrphans removed %v, want %v", removed, want)
	}
	// Nothing is left: every index entry pointed at a grant now gone.
	keys, err := r.rdb.Keys(ctx, "mnemo:oauth:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mnemo:oauth:client:c1", "mnemo:oauth:clients:used"}; !oauthSameStrings(keys, want) {
		t.Fatalf("keys left: %v, want %v", keys, want)
	}
	if used := r.rdb.ZRange(ctx, "mnemo:oauth:clients:used", 0, -1).Val(); !oauthSameStrings(used, []string{"c1"}) {
		t.Fatalf("used clients indexed: %v, want c1 (c2 is gone)", used)
	}
	removed = map[string]int64{}
	if err := r.cleanOAuthOrphans(ctx, oauthT0, removed); err != nil || removed["oauth_grants"] != 0 {
		t.Fatalf("second run: %v, %v", removed, err)
	}
}

func oauthSameStrings(a, b []string) bool {
	set := map[string]int{}
	for _, s := range a {
		set[s]++
	}
	for _, s := range b {
		set[s]--
	}
	for _, n := range set {
		if n != 0 {
			return false
		}
	}
	return true
}

// An index entry whose tenant was deleted (its hash DELed) is dropped by
// the pruner without being counted, and Release drops its entry at once.
func TestIdempotencyIndexFollowsRecords(t *testing.T) {
	ctx := context.Background()
	r, _ := oauthTestRegistry(t)
	scaffoldKey(t, r, "acme", "key_acme")
	for _, tenant := range []string{"acme", "beta"} {
		if ok, _, err := r.ReserveIdempotency(ctx, tenant, "k", []byte("fp"), oauthT0, time.Hour, time.Minute); err != nil || !ok {
			t.Fatalf("reserve: %v, %v", ok, err)
		}
	}
	if err := r.ReleaseIdempotency(ctx, "beta", "k"); err != nil {
		t.Fatal(err)
	}
	if n := r.rdb.ZCard(ctx, idemIndex).Val(); n != 1 {
		t.Fatalf("index after a release: %d entries, want 1", n)
	}
	scaffoldDeleteTenant(t, r, "acme")
	n, err := r.pruneIdempotency(ctx, oauthT0.Add(48*time.Hour), 10)
	if err != nil || n != 0 {
		t.Fatalf("pruneIdempotency: %d, %v; want 0 records (the tenant's hash is gone)", n, err)
	}
	if n := r.rdb.ZCard(ctx, idemIndex).Val(); n != 0 {
		t.Fatalf("index after pruning: %d entries, want none", n)
	}
}

// Replicas share nothing but the server: two clients (two connection
// pools, as two processes have) racing for one code get it once; the
// other presentation is a reuse, and the family is revoked. Racing for one
// Idempotency-Key, exactly one reserves.
func TestRaceAcrossClients(t *testing.T) {
	ctx := context.Background()
	srv := falkortest.Start(t)
	regs := [2]*Registry{NewRegistry(New(srv.Client())), NewRegistry(New(srv.Client()))}
	scaffoldKey(t, regs[0], "acme", "key_acme")
	if err := regs[0].RegisterOAuthClient(ctx, &mnemo.OAuthClient{ID: "c1", CreatedAt: oauthT0}, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	exp := oauthT0.Add(time.Hour)
	race := func(fn func(r *Registry) error) [2]error {
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, r := range regs {
			wg.Go(func() {
				<-start
				errs[i] = fn(r)
			})
		}
		close(start)
		wg.Wait()
		return errs
	}
	for i := range 30 {
		family, code := fmt.Sprintf("f%d", i), fmt.Sprintf("code%d", i)
		if err := regs[0].SaveOAuthGrant(ctx, &mnemo.OAuthGrant{Hash: mnemo.HashToken(code), Kind: mnemo.GrantCode, ClientID: "c1", KeyID: "key_acme", ExpiresAt: exp, Family: family}); err != nil {
			t.Fatal(err)
		}
		errs := race(func(r *Registry) error {
			_, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken(code), oauthT0)
			return err
		})
		var reused *mnemo.GrantReusedError
		ok0, ok1 := errs[0] == nil, errs[1] == nil
		other := errs[0]
		if ok0 {
			other = errs[1]
		}
		if ok0 == ok1 || !errors.As(other, &reused) || reused.Grant.Family != family {
			t.Fatalf("round %d: %v and %v; want one grant and one reuse", i, errs[0], errs[1])
		}
		err := regs[0].IssueOAuthTokens(ctx, &mnemo.OAuthGrant{Hash: mnemo.HashToken("at" + code), Kind: mnemo.GrantAccess, ClientID: "c1", KeyID: "key_acme", ExpiresAt: exp, Family: family},
			&mnemo.OAuthGrant{Hash: mnemo.HashToken("rt" + code), Kind: mnemo.GrantRefresh, ClientID: "c1", KeyID: "key_acme", ExpiresAt: exp, Family: family}, oauthT0)
		if mnemo.ErrorCode(err) != mnemo.EINVALID {
			t.Fatalf("round %d: issuing after the race: %v, want EINVALID (family revoked)", i, err)
		}
		if n := regs[0].rdb.Exists(ctx, oauthGrantKey+hex.EncodeToString(mnemo.HashToken(code)), "mnemo:oauth:family:"+family).Val(); n != 0 {
			t.Fatalf("round %d: the code or its family set is left (%d)", i, n)
		}

		key := fmt.Sprintf("idem%d", i)
		var reserved [2]bool
		errs = race(func(r *Registry) error {
			ok, a, err := r.ReserveIdempotency(ctx, "acme", key, []byte("fp"), oauthT0, time.Hour, time.Minute)
			if a != nil {
				return fmt.Errorf("an answer %+v", a)
			}
			if r == regs[0] {
				reserved[0] = ok
			} else {
				reserved[1] = ok
			}
			return err
		})
		if errs[0] != nil || errs[1] != nil || reserved[0] == reserved[1] {
			t.Fatalf("round %d: reservations %v, errors %v; want exactly one reserved", i, reserved, errs)
		}
	}
}

// A server that cannot answer is EUNAVAILABLE (503, Retry-After 1s) from
// every method, in ErrUnavailable's chain, and the error says nothing of
// the tokens or hashes asked about.
func TestOAuthUnavailable(t *testing.T) {
	ctx := context.Background()
	r, srv := oauthTestRegistry(t)
	scaffoldKey(t, r, "acme", "key_acme")
	token := "mnemo_at_secret-token"
	hash := mnemo.HashToken(token)
	g := &mnemo.OAuthGrant{Hash: hash, Kind: mnemo.GrantCode, ClientID: "c1", KeyID: "key_acme", ExpiresAt: oauthT0.Add(time.Hour), Family: "fam-secret"}
	if err := r.SaveOAuthGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	access := *g
	access.Kind = mnemo.GrantAccess
	calls := map[string]func() error{
		"RegisterOAuthClient": func() error {
			return r.RegisterOAuthClient(ctx, &mnemo.OAuthClient{ID: "c2", CreatedAt: oauthT0}, oauthT0, 10)
		},
		"OAuthClient":    func() error { _, err := r.OAuthClient(ctx, "c1"); return err },
		"SaveOAuthGrant": func() error { return r.SaveOAuthGrant(ctx, g) },
		"ConsumeOAuthGrant": func() error {
			_, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, hash, oauthT0)
			return err
		},
		"IssueOAuthTokens":  func() error { return r.IssueOAuthTokens(ctx, &access, g, oauthT0) },
		"AccessGrant":       func() error { _, err := r.AccessGrant(ctx, hash, oauthT0); return err },
		"OAuthToken":        func() error { _, err := r.OAuthToken(ctx, hash); return err },
		"RevokeOAuthFamily": func() error { return r.RevokeOAuthFamily(ctx, "fam-secret") },
		"ReserveIdempotency": func() error {
			_, _, err := r.ReserveIdempotency(ctx, "acme", "k", hash, oauthT0, time.Hour, time.Minute)
			return err
		},
		"CompleteIdempotency": func() error {
			return r.CompleteIdempotency(ctx, "acme", "k", mnemo.IdempotentAnswer{Status: 201, Body: []byte(token)})
		},
		"ReleaseIdempotency": func() error { return r.ReleaseIdempotency(ctx, "acme", "k") },
		"pruneIdempotency":   func() error { _, err := r.pruneIdempotency(ctx, oauthT0, 10); return err },
		"pruneOAuth": func() error {
			return r.pruneOAuth(ctx, mnemo.PruneCutoffs{OAuthGrants: oauthT0, UnusedOAuthClients: oauthT0, IdleOAuthClients: oauthT0}, 10, map[string]int64{})
		},
		"cleanOAuthOrphans": func() error { return r.cleanOAuthOrphans(ctx, oauthT0, map[string]int64{}) },
	}
	for name, call := range calls {
		err := call()
		var me *mnemo.Error
		if !errors.Is(err, ErrUnavailable) || !errors.As(err, &me) || me.Code != mnemo.EUNAVAILABLE || me.RetryAfter != time.Second {
			t.Errorf("%s on a dead server: %v; want EUNAVAILABLE, Retry-After 1s, in ErrUnavailable's chain", name, err)
			continue
		}
		for _, secret := range []string{token, hex.EncodeToString(hash), "fam-secret"} {
			if strings.Contains(err.Error(), secret) || strings.Contains(mnemo.ErrorMessage(err), secret) {
				t.Errorf("%s: the error %q shows %q", name, err, secret)
			}
		}
	}
	// The same client works again once the server is back.
	srv.Restart()
	if _, err := r.ConsumeOAuthGrant(ctx, mnemo.GrantCode, hash, oauthT0); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}
