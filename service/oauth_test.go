package service_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/service"
)

const verifier = "a-verifier-of-at-least-forty-three-characters-0123456789"

func challenge() string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func oauthCode(err error) string {
	var oe *mnemo.OAuthError
	if errors.As(err, &oe) {
		return oe.Code
	}
	return ""
}

// register registers a client redirecting to redirect from a fresh
// address.
func (f *fixture) register(name, redirect string) *mnemo.OAuthClient {
	f.t.Helper()
	c, err := f.svc.RegisterClient(f.ctx, map[string]any{"client_name": name, "redirect_uris": []any{redirect}}, "192.0.2.1")
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) authorize(c *mnemo.OAuthClient, key string) (string, error) {
	f.t.Helper()
	a, err := f.svc.CheckAuthorization(f.ctx, mnemo.AuthorizationParams{ClientID: c.ID, RedirectURI: c.RedirectURIs[0],
		ResponseType: "code", CodeChallenge: challenge(), CodeChallengeMethod: "S256"})
	if err != nil {
		f.t.Fatal(err)
	}
	return f.svc.Authorize(f.ctx, a, key, "192.0.2.1")
}

func (f *fixture) exchange(c *mnemo.OAuthClient, code string) (*mnemo.TokenPair, error) {
	return f.svc.Token(f.ctx, mnemo.TokenParams{GrantType: "authorization_code", Code: code, CodeVerifier: verifier,
		ClientID: c.ID, RedirectURI: c.RedirectURIs[0]})
}

func (f *fixture) refresh(c *mnemo.OAuthClient, token string) (*mnemo.TokenPair, error) {
	return f.svc.Token(f.ctx, mnemo.TokenParams{GrantType: "refresh_token", RefreshToken: token, ClientID: c.ID})
}

// connect runs the flow for a client of tenant id's key.
func (f *fixture) connect(c *mnemo.OAuthClient, id string) *mnemo.TokenPair {
	f.t.Helper()
	code, err := f.authorize(c, "token-of-"+id)
	if err != nil {
		f.t.Fatal(err)
	}
	p, err := f.exchange(c, code)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) works(token string) bool {
	f.t.Helper()
	_, err := f.svc.Authenticate(f.ctx, token, "192.0.2.9")
	if err != nil && mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED {
		f.t.Fatal(err)
	}
	return err == nil
}

func TestRegisterClientSizeLimits(t *testing.T) {
	f := newFixture(t, nil)
	uri := func(n int) string { return "https://claude.ai/" + strings.Repeat("a", n-len("https://claude.ai/")) }
	uris := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = "https://claude.ai/cb"
		}
		return out
	}
	for _, c := range []struct {
		name   string
		fields map[string]any
		want   string // OAuth error code; "" registers
	}{
		{"largest", map[string]any{"client_name": strings.Repeat("n", mnemo.MaxClientNameBytes), "redirect_uris": append(uris(mnemo.MaxRedirectURIs-1), uri(mnemo.MaxRedirectURIBytes))}, ""},
		{"loopback http", map[string]any{"redirect_uris": []any{"http://127.0.0.1:33418/callback"}}, ""},
		{"name too long", map[string]any{"client_name": strings.Repeat("n", mnemo.MaxClientNameBytes+1), "redirect_uris": uris(1)}, "invalid_client_metadata"},
		{"name not a string", map[string]any{"client_name": map[string]any{"a": 1}, "redirect_uris": uris(1)}, "invalid_client_metadata"},
		{"too many redirect URIs", map[string]any{"redirect_uris": uris(mnemo.MaxRedirectURIs + 1)}, "invalid_redirect_uri"},
		{"no redirect URI", map[string]any{"client_name": "x"}, "invalid_redirect_uri"},
		{"redirect URI too long", map[string]any{"redirect_uris": []any{uri(mnemo.MaxRedirectURIBytes + 1)}}, "invalid_redirect_uri"},
		{"redirect URI not a string", map[string]any{"redirect_uris": []any{7}}, "invalid_redirect_uri"},
		{"plain http", map[string]any{"redirect_uris": []any{"http://evil.example/cb"}}, "invalid_redirect_uri"},
		{"fragment", map[string]any{"redirect_uris": []any{"https://claude.ai/cb#x"}}, "invalid_redirect_uri"},
		{"user information", map[string]any{"redirect_uris": []any{"https://claude.ai@evil.example/cb"}}, "invalid_redirect_uri"},
		{"non-ASCII host", map[string]any{"redirect_uris": []any{"https://clаude.ai/cb"}}, "invalid_redirect_uri"},
		{"confidential client", map[string]any{"redirect_uris": uris(1), "token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"},
		{"no object", nil, "invalid_client_metadata"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := f.svc.RegisterClient(f.ctx, c.fields, "192.0.2.1")
			if oauthCode(err) != c.want || (c.want == "" && (err != nil || got.ID == "")) {
				t.Fatalf("RegisterClient = %+v, %v; want error %q", got, err, c.want)
			}
		})
	}
}

// Registrations are counted per address, an IPv6 /64 as one, and per
// minute on the service's clock.
func TestRegisterClientRateLimitPerAddress(t *testing.T) {
	f := newFixture(t, func(_ *service.Backend, c *service.Config) { c.OAuth.RegistrationsPerMinute = 2 })
	reg := func(addr string) error {
		_, err := f.svc.RegisterClient(f.ctx, map[string]any{"redirect_uris": []any{"https://claude.ai/cb"}}, addr)
		return err
	}
	for _, addr := range []string{"198.51.100.7", "198.51.100.7", "2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if err := reg(addr); err != nil {
			t.Fatalf("from %s: %v", addr, err)
		}
	}
	for _, addr := range []string{"198.51.100.7", "2001:db8:1:2::abcd"} {
		err := reg(addr)
		if mnemo.ErrorCode(err) != mnemo.ETOOMANY || mnemo.RetryAfter(err) != time.Minute {
			t.Fatalf("third from %s: %v (retry after %v), want ETOOMANY for a minute", addr, err, mnemo.RetryAfter(err))
		}
	}
	if err := reg("2001:db8:1:3::1"); err != nil {
		t.Fatalf("another /64 was refused: %v", err)
	}
	if n := f.svc.Refusals()["oauth_registration"]; n != 2 {
		t.Fatalf("oauth_registration refusals = %d, want 2", n)
	}
	f.clock.Set(f.clock.Now().Add(time.Minute))
	if err := reg("198.51.100.7"); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
}

// A client that has not obtained a token within the TTL is gone; one that
// has stays.
func TestUnusedClientsExpire(t *testing.T) {
	f := newFixture(t, func(_ *service.Backend, c *service.Config) { c.OAuth.UnusedClientTTL = time.Hour })
	f.tenant("acme")
	unused, used := f.register("Unused", "https://claude.ai/cb"), f.register("Used", "https://claude.ai/cb")
	f.connect(used, "acme")
	f.clock.Set(f.clock.Now().Add(time.Hour + time.Second))
	for _, c := range []struct {
		client *mnemo.OAuthClient
		want   string
	}{{unused, "invalid_client"}, {used, ""}} {
		_, err := f.svc.CheckAuthorization(f.ctx, mnemo.AuthorizationParams{ClientID: c.client.ID, RedirectURI: c.client.RedirectURIs[0],
			ResponseType: "code", CodeChallenge: challenge(), CodeChallengeMethod: "S256"})
		if oauthCode(err) != c.want || (c.want == "" && err != nil) {
			t.Fatalf("%s an hour later: %v, want %q", c.client.Name, err, c.want)
		}
	}
	// The next registration removes it for good.
	f.register("Next", "https://claude.ai/cb")
	if _, err := f.reg.OAuthClient(f.ctx, unused.ID); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("expired client still stored: %v", err)
	}
}

// Only listed hosts (and loopback) are verified: the consent page marks
// the others, and their errors are shown, never redirected.
func TestRedirectVerification(t *testing.T) {
	f := newFixture(t, func(_ *service.Backend, c *service.Config) {
		c.OAuth.RedirectHosts = []string{"claude.ai", "chatgpt.com"}
	})
	for _, c := range []struct {
		redirect, host string
		verified       bool
	}{
		{"https://claude.ai/api/mcp/auth_callback", "claude.ai", true},
		{"https://CHATGPT.com/connector_platform_oauth_redirect", "CHATGPT.com", true},
		{"http://localhost:8765/callback", "localhost:8765", true},
		{"https://claude.ai.evil.example/cb", "claude.ai.evil.example", false},
		{"https://evil.example:8443/cb", "evil.example:8443", false},
	} {
		client := f.register("Claude", c.redirect)
		p := mnemo.AuthorizationParams{ClientID: client.ID, RedirectURI: c.redirect, ResponseType: "code", CodeChallenge: challenge(), CodeChallengeMethod: "S256"}
		a, err := f.svc.CheckAuthorization(f.ctx, p)
		if err != nil || a.RedirectHost != c.host || a.Verified != c.verified {
			t.Fatalf("%s: %+v, %v; want host %s verified %v", c.redirect, a, err, c.host, c.verified)
		}
		p.ResponseType = "token"
		_, err = f.svc.CheckAuthorization(f.ctx, p)
		var oe *mnemo.OAuthError
		if !errors.As(err, &oe) || oe.Code != "unsupported_response_type" || oe.Redirect != c.verified {
			t.Fatalf("%s, bad response_type: %+v, want redirect=%v", c.redirect, err, c.verified)
		}
	}
}

func TestRefuseUnverifiedClients(t *testing.T) {
	f := newFixture(t, func(_ *service.Backend, c *service.Config) {
		c.OAuth.RedirectHosts, c.OAuth.RefuseUnverified = []string{"claude.ai"}, true
	})
	for redirect, want := range map[string]string{"https://claude.ai/cb": "", "http://127.0.0.1:9/cb": "", "https://evil.example/cb": "invalid_redirect_uri"} {
		_, err := f.svc.RegisterClient(f.ctx, map[string]any{"redirect_uris": []any{redirect}}, "192.0.2.1")
		if oauthCode(err) != want || (want == "" && err != nil) {
			t.Fatalf("%s: %v, want %q", redirect, err, want)
		}
	}
}

// A refresh rotates and revokes the access token it replaces; the old
// refresh token presented again revokes the whole family, audited.
func TestRefreshReuseRevokesTheFamily(t *testing.T) {
	f := newFixture(t, nil)
	f.tenant("acme")
	c := f.register("Claude", "https://claude.ai/cb")
	first := f.connect(c, "acme")
	other := f.connect(c, "acme") // another authorization: another family
	second, err := f.refresh(c, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if f.works(first.AccessToken) || !f.works(second.AccessToken) {
		t.Fatal("after a refresh the old access token must stop and the new one work")
	}
	if _, err := f.refresh(c, first.RefreshToken); oauthCode(err) != "invalid_grant" {
		t.Fatalf("reused refresh token: %v", err)
	}
	if f.works(second.AccessToken) || !f.works(other.AccessToken) {
		t.Fatal("reuse must revoke its family's tokens, and only them")
	}
	if _, err := f.refresh(c, second.RefreshToken); oauthCode(err) != "invalid_grant" {
		t.Fatalf("newest refresh token of a revoked family: %v", err)
	}
	events, _ := f.svc.Audit(f.ctx, mnemo.AuditFilter{Action: "oauth.reuse", Limit: 10})
	if len(events) != 1 || events[0].TenantID != "acme" || events[0].Target != c.ID {
		t.Fatalf("oauth.reuse audit: %+v", events)
	}
}

// A suspended tenant authorizes nothing and refreshes nothing; its refresh
// token is not used up, so it works again once the tenant is reinstated.
func TestSuspendedTenantCannotAuthorize(t *testing.T) {
	f := newFixture(t, nil)
	f.tenant("acme")
	c := f.register("Claude", "https://claude.ai/cb")
	pair := f.connect(c, "acme")
	code, err := f.authorize(c, "token-of-acme") // before the suspension
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateTenant(f.ctx, "acme", map[string]any{"status": "suspended"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.authorize(c, "token-of-acme"); mnemo.ErrorCode(err) != mnemo.ELOCKED {
		t.Fatalf("authorize while suspended: %v, want ELOCKED", err)
	}
	if _, err := f.exchange(c, code); oauthCode(err) != "invalid_grant" {
		t.Fatalf("code exchange while suspended: %v", err)
	}
	if _, err := f.refresh(c, pair.RefreshToken); oauthCode(err) != "invalid_grant" {
		t.Fatalf("refresh while suspended: %v", err)
	}
	if _, err := f.svc.UpdateTenant(f.ctx, "acme", map[string]any{"status": "active"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.refresh(c, pair.RefreshToken); err != nil {
		t.Fatalf("refresh once reinstated: %v", err)
	}
}

// RFC 7009: revoking either token revokes the family; an unknown token is
// fine; another client's token is refused and stays.
func TestRevoke(t *testing.T) {
	f := newFixture(t, nil)
	f.tenant("acme")
	c, other := f.register("Claude", "https://claude.ai/cb"), f.register("Other", "https://claude.ai/cb")
	p := f.connect(c, "acme")
	if err := f.svc.Revoke(f.ctx, p.AccessToken, other.ID); oauthCode(err) != "invalid_client" || !f.works(p.AccessToken) {
		t.Fatalf("revoke by another client: %v", err)
	}
	if err := f.svc.Revoke(f.ctx, "mnemo_rt_never-issued", c.ID); err != nil {
		t.Fatalf("unknown token: %v", err)
	}
	if err := f.svc.Revoke(f.ctx, p.RefreshToken, c.ID); err != nil {
		t.Fatal(err)
	}
	if f.works(p.AccessToken) {
		t.Fatal("the access token works after its refresh token was revoked")
	}
	if _, err := f.refresh(c, p.RefreshToken); oauthCode(err) != "invalid_grant" {
		t.Fatalf("refresh after revocation: %v", err)
	}
	if events, _ := f.svc.Audit(f.ctx, mnemo.AuditFilter{Action: "oauth.revoke", Limit: 10}); len(events) != 1 || events[0].TenantID != "acme" {
		t.Fatalf("oauth.revoke audit: %+v", events)
	}
}
