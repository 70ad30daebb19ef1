package service_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/service"
)

const strongAdmin = "admin-token-for-tests-0123456789"

// throttled is a fixture whose throttle refuses after 3 failures.
func throttled(t *testing.T) *fixture {
	return newFixture(t, func(_ *service.Backend, cfg *service.Config) {
		cfg.AuthFailuresPerMinute = 3
		cfg.AdminToken = strongAdmin
	})
}

func (f *fixture) fail(token, addr string, n int) {
	f.t.Helper()
	for i := range n {
		if _, err := f.svc.Authenticate(f.ctx, token, addr); mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED && mnemo.ErrorCode(err) != mnemo.ETOOMANY {
			f.t.Fatalf("bad attempt %d from %s: %v", i, addr, err)
		}
	}
}

// A valid credential that cannot be guessed (24 characters or more) is
// never refused because of its address: only failed attempts are
// throttled there. A short one, which a guesser could have found, is.
func TestAuthThrottleRefusesOnlyFailuresAndGuessableKeys(t *testing.T) {
	f := throttled(t)
	f.tenant("acme") // its key, "token-of-acme", is 13 characters
	strong, err := f.svc.CreateKey(f.ctx, "acme", map[string]any{"label": "generated"})
	if err != nil {
		t.Fatal(err)
	}
	const addr = "203.0.113.7"
	f.fail("wrong-token-0001", addr, 3)
	if _, err := f.svc.Authenticate(f.ctx, strong.Token, addr); err != nil {
		t.Fatalf("a generated key from a throttled address: %v", err)
	}
	if err := f.svc.AuthenticateAdmin(f.ctx, strongAdmin, addr); err != nil {
		t.Fatalf("the admin token from a throttled address: %v", err)
	}
	_, err = f.svc.Authenticate(f.ctx, "wrong-token-0001-but-long-enough", addr)
	wantCode(t, "a wrong strong token from a throttled address", err, mnemo.ETOOMANY)
	_, err = f.svc.Authenticate(f.ctx, "token-of-acme", addr)
	wantCode(t, "a guessable key from a throttled address", err, mnemo.ETOOMANY)
	if mnemo.RetryAfter(err) <= 0 || mnemo.RetryAfter(err) > time.Minute {
		t.Fatalf("Retry-After %v", mnemo.RetryAfter(err))
	}
	// Another address is not throttled, and the window ends.
	f.caller("token-of-acme")
	f.clock.Set(f.clock.Now().Add(time.Minute))
	if _, err := f.svc.Authenticate(f.ctx, "token-of-acme", addr); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if n := f.svc.Refusals()["auth_throttle"]; n != 2 {
		t.Fatalf("auth_throttle refusals %d, want 2", n)
	}
}

// A missing credential guesses nothing and is not counted.
func TestAuthThrottleIgnoresMissingCredentials(t *testing.T) {
	f := throttled(t)
	f.tenant("acme")
	for range 10 {
		_, err := f.svc.Authenticate(f.ctx, "", "203.0.113.7")
		wantCode(t, "no credential", err, mnemo.EUNAUTHORIZED)
		wantCode(t, "no admin credential", f.svc.AuthenticateAdmin(f.ctx, "", "203.0.113.7"), mnemo.EUNAUTHORIZED)
	}
	if _, err := f.svc.Authenticate(f.ctx, "token-of-acme", "203.0.113.7"); err != nil {
		t.Fatalf("after requests without a credential: %v", err)
	}
}

// Guessing the variants of one key is throttled across addresses: the
// count is kept per prefix of the presented token too.
func TestAuthThrottlePerKeyPrefix(t *testing.T) {
	f := throttled(t)
	f.tenant("acme")
	f.tenant("bravo")
	for i := range 3 {
		f.fail(fmt.Sprintf("token-of-acm%d", i), fmt.Sprintf("198.51.100.%d", i), 1)
	}
	_, err := f.svc.Authenticate(f.ctx, "token-of-acme", "192.0.2.200")
	wantCode(t, "a guessed-at key from a fresh address", err, mnemo.ETOOMANY)
	if _, err := f.svc.Authenticate(f.ctx, "token-of-bravo", "192.0.2.200"); err != nil {
		t.Fatalf("a key with another prefix: %v", err)
	}
}

// Generated tokens share their marker (mnemo_, mnemo_at_): the prefix is
// taken past it, so failures with one do not throttle the others.
func TestAuthThrottlePrefixSkipsTheMarker(t *testing.T) {
	f := throttled(t)
	f.tenant("acme")
	for i := range 5 {
		f.fail(fmt.Sprintf("mnemo_%08dxxxxxxxxxxxxxxxxxxxxxxxxxxx", i), fmt.Sprintf("198.51.100.%d", i), 1)
		f.fail(fmt.Sprintf("%s%08dxxxxxxxxxxxxxxxxxxxxxxxxxxx", mnemo.AccessTokenPrefix, i), fmt.Sprintf("198.51.101.%d", i), 1)
	}
	_, err := f.svc.Authenticate(f.ctx, "mnemo_99999999xxxxxxxxxxxxxxxxxxxxxxxxxxx", "192.0.2.200")
	wantCode(t, "another generated-looking token", err, mnemo.EUNAUTHORIZED)
	_, err = f.svc.Authenticate(f.ctx, mnemo.AccessTokenPrefix+"99999999xxxxxxxxxxxxxxxxxxxxxxxxxxx", "192.0.2.201")
	wantCode(t, "another access-token-looking token", err, mnemo.EUNAUTHORIZED)
}

// IPv6 addresses are counted by their /64: one host usually holds all of
// it, and would otherwise have 2^64 fresh addresses to fail from.
func TestAuthThrottleGroupsIPv6By64(t *testing.T) {
	f := throttled(t)
	f.tenant("acme")
	for i := range 3 {
		f.fail("wrong-token-0001", fmt.Sprintf("2001:db8:1:2::%x", i+1), 1)
	}
	_, err := f.svc.Authenticate(f.ctx, "token-of-acme", "2001:db8:1:2:ffff:ffff:ffff:ffff")
	wantCode(t, "same /64", err, mnemo.ETOOMANY)
	if _, err := f.svc.Authenticate(f.ctx, "token-of-acme", "2001:db8:1:3::1"); err != nil {
		t.Fatalf("the next /64: %v", err)
	}
	// IPv4 addresses stay one by one, also written as IPv4-mapped IPv6.
	f.fail("other-wrong-token", "192.0.2.1", 3)
	_, err = f.svc.Authenticate(f.ctx, "token-of-acme", "::ffff:192.0.2.1")
	wantCode(t, "the same IPv4 address, mapped", err, mnemo.ETOOMANY)
	if _, err := f.svc.Authenticate(f.ctx, "token-of-acme", "192.0.2.2"); err != nil {
		t.Fatalf("the next IPv4 address: %v", err)
	}
}

// A known OAuth access token that expired answers EUNAUTHORIZED, so that
// the client refreshes it, and is not a failure; an unknown one is. The
// same goes for an expired key.
func TestExpiredCredentialsAreNotFailures(t *testing.T) {
	f := throttled(t)
	f.tenant("acme")
	ck, err := f.svc.CreateKey(f.ctx, "acme", map[string]any{"label": "short-lived", "expires_at": f.clock.Now().Add(time.Hour).Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.reg.RegisterOAuthClient(f.ctx, &mnemo.OAuthClient{ID: "client-1", Name: "c", RedirectURIs: []string{"https://x.example/cb"}, CreatedAt: f.clock.Now()}, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	access := mnemo.AccessTokenPrefix + "an-access-token-of-forty-three-characters-x"
	refresh := mnemo.AccessTokenPrefix + "a-refresh-token-of-forty-three-characters-"
	grant := func(token, kind string, ttl time.Duration) *mnemo.OAuthGrant {
		return &mnemo.OAuthGrant{Hash: mnemo.HashToken(token), Kind: kind, ClientID: "client-1", KeyID: ck.Key.ID,
			Scopes: []string{mnemo.ScopeRead}, ExpiresAt: f.clock.Now().Add(ttl), Family: "family-1"}
	}
	// The family starts with a code, as an authorization does.
	if err := f.reg.SaveOAuthGrant(f.ctx, grant("a-code", mnemo.GrantCode, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.IssueOAuthTokens(f.ctx, grant(access, mnemo.GrantAccess, time.Minute), grant(refresh, mnemo.GrantRefresh, 24*time.Hour), f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if c, err := f.svc.Authenticate(f.ctx, access, "203.0.113.7"); err != nil || c.Tenant.ID != "acme" {
		t.Fatalf("a fresh access token: %v", err)
	}
	f.clock.Set(f.clock.Now().Add(2 * time.Hour))
	for range 10 {
		_, err := f.svc.Authenticate(f.ctx, access, "203.0.113.7")
		wantCode(t, "an expired access token", err, mnemo.EUNAUTHORIZED)
		_, err = f.svc.Authenticate(f.ctx, ck.Token, "203.0.113.7")
		wantCode(t, "an expired key", err, mnemo.EUNAUTHORIZED)
	}
	if _, err := f.svc.Authenticate(f.ctx, "token-of-acme", "203.0.113.7"); err != nil {
		t.Fatalf("expired credentials throttled the address: %v", err)
	}
	f.fail(mnemo.AccessTokenPrefix+"never-issued-token-xxxxxxxxxxxxxxxxxxxxxxx", "203.0.113.7", 3)
	_, err = f.svc.Authenticate(f.ctx, "token-of-acme", "203.0.113.7")
	wantCode(t, "after unknown access tokens", err, mnemo.ETOOMANY)
}
