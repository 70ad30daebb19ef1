package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The abuse suite's OAuth part: what anyone can do to mnemo's OAuth server
// without a key (register clients, forge Host), what a malicious client can
// do to a customer (phishing for their key, open redirects), and what a
// thief can do with a leaked refresh token.

const abuseVerifier = "abuse-suite-verifier-of-at-least-forty-three-characters"

// register registers a client from the address X-Forwarded-For names (""
// for the peer's own).
func register(t *testing.T, s *Server, body any, forwardedFor string) (*http.Response, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", s.URL+"/oauth/register", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, _, out := rawRequest(t, req)
	return resp, out
}

// authorizeParams are a well-formed authorization request of client.
func authorizeParams(clientID, redirect string) url.Values {
	sum := sha256.Sum256([]byte(abuseVerifier))
	return url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"s1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "scope": {"read write"}}
}

func getPage(t *testing.T, s *Server, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	resp, raw, _ := rawRequest(t, req)
	return resp, string(raw)
}

// connect registers a client redirecting to claude.ai and runs the flow
// with a tenant key; it returns the client id and the token answer.
func connect(t *testing.T, s *Server, key string) (string, map[string]any) {
	t.Helper()
	redirect := "https://claude.ai/api/mcp/auth_callback"
	resp, reg := register(t, s, map[string]any{"client_name": "Claude", "redirect_uris": []string{redirect}}, "")
	if resp.StatusCode != 201 {
		t.Fatalf("register: %d %v", resp.StatusCode, reg)
	}
	clientID := reg["client_id"].(string)
	form := authorizeParams(clientID, redirect)
	form.Set("api_key", key)
	r, _ := formPost(t, s.URL+"/oauth/authorize", form, s.URL)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.StatusCode != 302 || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	r, tok := formPost(t, s.URL+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {clientID}, "redirect_uri": {redirect}, "code_verifier": {abuseVerifier}}, "")
	if r.StatusCode != 200 {
		t.Fatalf("exchange: %d %v", r.StatusCode, tok)
	}
	return clientID, tok
}

func refresh(t *testing.T, s *Server, clientID, token string) (int, map[string]any) {
	t.Helper()
	r, out := formPost(t, s.URL+"/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {clientID}}, "")
	return r.StatusCode, out
}

// Anyone, without a key, could fill the disk through /oauth/register. Now
// one address gets MNEMO_OAUTH_REGISTRATIONS_PER_MINUTE registrations and
// then 429, the address being the one a trusted proxy names, so another
// client behind the same proxy still registers; the disk stays bounded.
func TestAbuseOAuthRegistrationFlood(t *testing.T) {
	t.Parallel()
	s := Start(t, map[string]string{"MNEMO_TRUSTED_PROXIES": "127.0.0.1/32"})
	before := s.Footprint(t)
	uris := make([]string, 10) // the largest metadata accepted
	for i := range uris {
		uris[i] = "https://claude.ai/" + strings.Repeat("p", 1000)
	}
	body := map[string]any{"client_name": strings.Repeat("n", 200), "redirect_uris": uris}
	created, refused := 0, 0
	for range 300 {
		resp, out := register(t, s, body, "203.0.113.7")
		switch resp.StatusCode {
		case 201:
			created++
		case 429:
			refused++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After: %v", out)
			}
		default:
			t.Fatalf("registration: %d %v", resp.StatusCode, out)
		}
	}
	if created != 10 || refused != 290 {
		t.Fatalf("from one address: %d registered, %d refused; want 10 and 290", created, refused)
	}
	if resp, out := register(t, s, body, "203.0.113.8"); resp.StatusCode != 201 {
		t.Fatalf("another client behind the proxy: %d %v", resp.StatusCode, out)
	}
	s.ExpectBounded(t, before, 64<<20, 1<<20)
	if m := s.Admin("GET", "/metrics", nil).Expect(t, 200); !strings.Contains(string(m.Raw), `mnemo_refusals_total{reason="oauth_registration"} 290`) {
		t.Fatalf("refusals not counted:\n%s", m.Raw)
	}
}

// Oversized metadata is refused (400, or 413 for the body) and stores
// nothing.
func TestAbuseOAuthOversizedMetadata(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	before := s.Footprint(t)
	ok := []string{"https://claude.ai/cb"}
	many := make([]string, 11)
	for i := range many {
		many[i] = "https://claude.ai/cb"
	}
	for _, c := range []struct {
		name string
		body any
		code int
		err  string
	}{
		{"client_name", map[string]any{"client_name": strings.Repeat("n", 201), "redirect_uris": ok}, 400, "invalid_client_metadata"},
		{"redirect URI", map[string]any{"redirect_uris": []string{"https://claude.ai/" + strings.Repeat("p", 2000)}}, 400, "invalid_redirect_uri"},
		{"redirect URIs", map[string]any{"redirect_uris": many}, 400, "invalid_redirect_uri"},
		{"body", map[string]any{"redirect_uris": ok, "logo_uri": strings.Repeat("l", 7<<20)}, 413, "invalid_client_metadata"},
	} {
		resp, out := register(t, s, c.body, "")
		if resp.StatusCode != c.code || out["error"] != c.err {
			t.Errorf("oversized %s: %d %v, want %d %s", c.name, resp.StatusCode, out, c.code, c.err)
		}
	}
	s.ExpectBounded(t, before, 32<<20, 64<<10)
}

// OAuth consent phishing: anyone may register a client named "Claude" that
// redirects to their own host. The consent page names that host and marks
// the client unverified; the real connector's page does not.
func TestAbuseOAuthConsentPhishing(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	page := func(redirect string) string {
		_, reg := register(t, s, map[string]any{"client_name": "Claude", "redirect_uris": []string{redirect}}, "")
		resp, body := getPage(t, s, "/oauth/authorize?"+authorizeParams(reg["client_id"].(string), redirect).Encode())
		if resp.StatusCode != 200 {
			t.Fatalf("consent page for %s: %d %s", redirect, resp.StatusCode, body)
		}
		return body
	}
	phish := page("https://claude-connect.evil.example/cb")
	if !strings.Contains(phish, "<code>claude-connect.evil.example</code>") || !strings.Contains(phish, "Unverified application") {
		t.Fatalf("the phishing client's page does not show its host and that it is unverified:\n%s", phish)
	}
	real := page("https://claude.ai/api/mcp/auth_callback")
	if strings.Contains(real, "Unverified") || !strings.Contains(real, "<code>claude.ai</code>") {
		t.Fatalf("the real connector's page:\n%s", real)
	}
	// With MNEMO_OAUTH_REFUSE_UNVERIFIED the phishing client cannot even
	// register.
	strict := Start(t, map[string]string{"MNEMO_OAUTH_REFUSE_UNVERIFIED": "true"})
	if resp, out := register(t, strict, map[string]any{"redirect_uris": []string{"https://evil.example/cb"}}, ""); resp.StatusCode != 400 || out["error"] != "invalid_redirect_uri" {
		t.Fatalf("unverified client on a strict server: %d %v", resp.StatusCode, out)
	}
}

// A self-registered client was an open redirect: a bad request of its
// sent the browser to its redirect URI. An unverified redirect's error is
// now a page; a verified one's is still redirected, as OAuth asks.
func TestAbuseOAuthOpenRedirect(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	for _, c := range []struct {
		redirect string
		verified bool
	}{{"https://evil.example/landing", false}, {"https://chatgpt.com/connector_platform_oauth_redirect", true}} {
		_, reg := register(t, s, map[string]any{"redirect_uris": []string{c.redirect}}, "")
		p := authorizeParams(reg["client_id"].(string), c.redirect)
		p.Set("response_type", "token")
		resp, body := getPage(t, s, "/oauth/authorize?"+p.Encode())
		loc := resp.Header.Get("Location")
		if c.verified {
			if resp.StatusCode != 302 || !strings.HasPrefix(loc, c.redirect+"?error=unsupported_response_type") {
				t.Fatalf("verified client's error: %d %q", resp.StatusCode, loc)
			}
			continue
		}
		if resp.StatusCode != 400 || loc != "" || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, "unsupported_response_type") || !strings.Contains(body, "evil.example") {
			t.Fatalf("unverified client's error: %d Location %q\n%s", resp.StatusCode, loc, body)
		}
	}
}

// A refresh token used twice means it leaked: the whole family is revoked,
// so neither the thief's tokens nor the victim's work, and the operator
// sees it in the audit.
func TestAbuseOAuthRefreshReuse(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("alpha", "alpha-tenant-key-0123456789")
	clientID, first := connect(t, s, "alpha-tenant-key-0123456789")
	code, thief := refresh(t, s, clientID, first["refresh_token"].(string))
	if code != 200 {
		t.Fatalf("refresh: %d %v", code, thief)
	}
	s.As(thief["access_token"].(string), "GET", "/recall?query=x", nil).Expect(t, 200)
	s.As(first["access_token"].(string), "GET", "/recall?query=x", nil).Expect(t, 401) // rotated away
	if code, out := refresh(t, s, clientID, first["refresh_token"].(string)); code != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v", code, out)
	}
	s.As(thief["access_token"].(string), "GET", "/recall?query=x", nil).Expect(t, 401)
	if code, out := refresh(t, s, clientID, thief["refresh_token"].(string)); code != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("the family's newest refresh token: %d %v", code, out)
	}
	if a := s.Admin("GET", "/admin/tenants/alpha/audit?action=oauth.reuse", nil).Expect(t, 200); a.Body["count"] != float64(1) {
		t.Fatalf("oauth.reuse events: %s", a.Raw)
	}
}

// RFC 7009: the revocation endpoint is advertised; revoking the refresh
// token disconnects the client (its access token too); unknown tokens get
// 200.
func TestAbuseOAuthRevocation(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("alpha", "alpha-tenant-key-0123456789")
	meta := s.Do("GET", "/.well-known/oauth-authorization-server", nil).Expect(t, 200)
	if meta.Body["revocation_endpoint"] != s.URL+"/oauth/revoke" {
		t.Fatalf("metadata: %s", meta.Raw)
	}
	clientID, tok := connect(t, s, "alpha-tenant-key-0123456789")
	s.As(tok["access_token"].(string), "GET", "/recall?query=x", nil).Expect(t, 200)
	for _, token := range []string{tok["refresh_token"].(string), "mnemo_rt_never-issued"} {
		if r, out := formPost(t, s.URL+"/oauth/revoke", url.Values{"token": {token}, "token_type_hint": {"refresh_token"}, "client_id": {clientID}}, ""); r.StatusCode != 200 {
			t.Fatalf("revoke %s: %d %v", token[:9], r.StatusCode, out)
		}
	}
	s.As(tok["access_token"].(string), "GET", "/recall?query=x", nil).Expect(t, 401)
	if code, out := refresh(t, s, clientID, tok["refresh_token"].(string)); code != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("refresh after revocation: %d %v", code, out)
	}
}

// A suspended tenant cannot authorize a client, and its existing grants
// stop working (423) and stop refreshing until it is reinstated.
func TestAbuseOAuthSuspendedTenant(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("alpha", "alpha-tenant-key-0123456789")
	clientID, tok := connect(t, s, "alpha-tenant-key-0123456789")
	s.Admin("PATCH", "/admin/tenants/alpha", map[string]any{"status": "suspended", "status_reason": "unpaid"}).Expect(t, 200)

	_, reg := register(t, s, map[string]any{"redirect_uris": []string{"https://claude.ai/cb"}}, "")
	form := authorizeParams(reg["client_id"].(string), "https://claude.ai/cb")
	form.Set("api_key", "alpha-tenant-key-0123456789")
	r, _ := formPost(t, s.URL+"/oauth/authorize", form, s.URL)
	if r.StatusCode != 423 || r.Header.Get("Location") != "" {
		t.Fatalf("authorize for a suspended tenant: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	s.As(tok["access_token"].(string), "GET", "/recall?query=x", nil).Expect(t, 423)
	if code, out := refresh(t, s, clientID, tok["refresh_token"].(string)); code != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("refresh while suspended: %d %v", code, out)
	}
	s.Admin("PATCH", "/admin/tenants/alpha", map[string]any{"status": "active"}).Expect(t, 200)
	if code, out := refresh(t, s, clientID, tok["refresh_token"].(string)); code != 200 {
		t.Fatalf("refresh once reinstated: %d %v", code, out)
	}
}

// Host was reflected into the OAuth metadata. With MNEMO_PUBLIC_URL the
// issuer is that whatever Host says; without it, the answer derived from
// Host is never cached (no-store) and varies by Host.
func TestAbuseOAuthForgedHost(t *testing.T) {
	t.Parallel()
	metadata := func(s *Server) (*http.Response, map[string]any) {
		req, _ := http.NewRequest("GET", s.URL+"/.well-known/oauth-authorization-server", nil)
		req.Host = "evil.example"
		resp, _, out := rawRequest(t, req)
		return resp, out
	}
	public := Start(t, map[string]string{"MNEMO_PUBLIC_URL": "https://memory.example.com/"})
	resp, out := metadata(public)
	if out["issuer"] != "https://memory.example.com" || out["token_endpoint"] != "https://memory.example.com/oauth/token" {
		t.Fatalf("forged Host with MNEMO_PUBLIC_URL: %v", out)
	}
	if resp.Header.Get("Vary") != "" {
		t.Fatalf("Vary with a fixed issuer: %q", resp.Header.Get("Vary"))
	}
	derived := Start(t, nil)
	resp, out = metadata(derived)
	if out["issuer"] != "http://evil.example" || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Vary") != "Host" {
		t.Fatalf("issuer derived from Host: %v, Cache-Control %q, Vary %q", out["issuer"], resp.Header.Get("Cache-Control"), resp.Header.Get("Vary"))
	}

	// /mcp's 401 names where to get a token: the same rule.
	challenge := func(s *Server) *http.Response {
		req, _ := http.NewRequest("POST", s.URL+"/mcp", strings.NewReader(`{}`))
		req.Host = "evil.example"
		resp, _, _ := rawRequest(t, req)
		if resp.StatusCode != 401 {
			t.Fatalf("/mcp without a token: %d", resp.StatusCode)
		}
		return resp
	}
	resp = challenge(public)
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer resource_metadata="https://memory.example.com/.well-known/oauth-protected-resource"` || resp.Header.Get("Vary") != "" {
		t.Fatalf("/mcp challenge with MNEMO_PUBLIC_URL: %q, Vary %q", got, resp.Header.Get("Vary"))
	}
	resp = challenge(derived)
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer resource_metadata="http://evil.example/.well-known/oauth-protected-resource"` ||
		resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Vary") != "Host" {
		t.Fatalf("/mcp challenge derived from Host: %q, Cache-Control %q, Vary %q", got, resp.Header.Get("Cache-Control"), resp.Header.Get("Vary"))
	}
}
