package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// rawRequest sends req without following redirects and decodes a JSON
// answer when there is one.
func rawRequest(t *testing.T, req *http.Request) (*http.Response, []byte, map[string]any) {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp, raw, out
}

func formPost(t *testing.T, u string, form url.Values, origin string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, _, out := rawRequest(t, req)
	return resp, out
}

// TestOAuthFlowForConnectors scripts what Claude.ai or ChatGPT do: discover
// the metadata, register, send the customer to the consent page where they
// enter their tenant key, exchange the code with PKCE, call a tool, refresh;
// then the key is revoked and everything the grant gave is refused.
func TestOAuthFlowForConnectors(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("alpha", "alpha-original-key")
	r := s.Admin("POST", "/admin/tenants/alpha/keys", map[string]any{"label": "claude.ai"}).Expect(t, 201)
	tenantKey, keyID := r.Body["api_token"].(string), r.Body["key"].(map[string]any)["key_id"].(string)
	s.Store(tenantKey, map[string]any{"content": "alpha prefers dark roast coffee"})

	// Discovery.
	prm := s.Do("GET", "/.well-known/oauth-protected-resource", nil).Expect(t, 200)
	if prm.Body["resource"] != s.URL+"/mcp" || prm.Body["authorization_servers"].([]any)[0] != s.URL {
		t.Fatalf("protected resource metadata: %s", prm.Raw)
	}
	asm := s.Do("GET", "/.well-known/oauth-authorization-server", nil).Expect(t, 200)
	for k, want := range map[string]string{"issuer": s.URL, "authorization_endpoint": s.URL + "/oauth/authorize",
		"token_endpoint": s.URL + "/oauth/token", "registration_endpoint": s.URL + "/oauth/register"} {
		if asm.Body[k] != want {
			t.Fatalf("%s = %v, want %s", k, asm.Body[k], want)
		}
	}

	// Registration: https or loopback redirect URIs only.
	s.Do("POST", "/oauth/register", map[string]any{"redirect_uris": []string{"http://evil.example/cb"}}).Expect(t, 400)
	reg := s.Do("POST", "/oauth/register", map[string]any{"client_name": "Claude", "redirect_uris": []string{"https://claude.ai/api/mcp/auth_callback"}}).Expect(t, 201)
	clientID := reg.Body["client_id"].(string)
	redirect := "https://claude.ai/api/mcp/auth_callback"

	verifier := "a-high-entropy-verifier-string-of-at-least-43-characters-0123456789"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	params := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"xyz"}, "scope": {"read write"}}

	// The consent page; an unknown redirect is never redirected to.
	page := s.Do("GET", "/oauth/authorize?"+params.Encode(), nil).Expect(t, 200)
	if !strings.Contains(string(page.Raw), `name="api_key"`) || page.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("consent page: %s", page.Raw)
	}
	bad := url.Values{}
	for k, v := range params {
		bad[k] = v
	}
	bad.Set("redirect_uri", "https://evil.example/cb")
	if r := s.Do("GET", "/oauth/authorize?"+bad.Encode(), nil); r.Status != 400 {
		t.Fatalf("unregistered redirect: %d", r.Status)
	}

	// A wrong key re-shows the page; the right one redirects with a code.
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("api_key", "not-the-key")
	if resp, _ := formPost(t, s.URL+"/oauth/authorize", form, s.URL); resp.StatusCode != 401 {
		t.Fatalf("wrong key: %d", resp.StatusCode)
	}
	form.Set("api_key", tenantKey)
	resp, _ := formPost(t, s.URL+"/oauth/authorize", form, s.URL)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Host != "claude.ai" || loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	code := loc.Query().Get("code")

	// Exchange: the PKCE verifier must match, and a code works once.
	tokenURL := s.URL + "/oauth/token"
	if r, out := formPost(t, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {redirect}, "code_verifier": {"wrong-verifier"}}, ""); r.StatusCode != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("wrong verifier: %d %v", r.StatusCode, out)
	}
	// The failed attempt consumed the code: authorize again.
	resp, _ = formPost(t, s.URL+"/oauth/authorize", form, s.URL)
	loc, _ = url.Parse(resp.Header.Get("Location"))
	code = loc.Query().Get("code")
	r2, tok := formPost(t, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {redirect}, "code_verifier": {verifier}}, "")
	if r2.StatusCode != 200 || tok["token_type"] != "Bearer" || tok["expires_in"] != float64(3600) || tok["scope"] != "read write" {
		t.Fatalf("exchange: %d %v", r2.StatusCode, tok)
	}
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	if r, _ := formPost(t, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {redirect}, "code_verifier": {verifier}}, ""); r.StatusCode != 400 {
		t.Fatalf("code reused: %d", r.StatusCode)
	}
	// A code used twice has leaked: what it gave is revoked (RFC 6749
	// §4.1.2), so authorize once more for the rest of the flow.
	if code, _, _ := mcpPost(t, s, access, "", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{}}); code != 401 {
		t.Fatalf("access token of a reused code: %d", code)
	}
	grant := func() map[string]any {
		t.Helper()
		resp, _ := formPost(t, s.URL+"/oauth/authorize", form, s.URL)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		r, tok := formPost(t, tokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {clientID},
			"redirect_uri": {redirect}, "code_verifier": {verifier}}, "")
		if r.StatusCode != 200 {
			t.Fatalf("exchange: %d %v", r.StatusCode, tok)
		}
		return tok
	}
	tok = grant()
	access, refresh = tok["access_token"].(string), tok["refresh_token"].(string)

	// The access token works on /mcp (and is alpha's).
	session := mcpInit(t, s, access)
	if code, out := mcpHealthCall(t, s, access, session); code != 200 || out["result"].(map[string]any)["structuredContent"].(map[string]any)["tenant_id"] != "alpha" {
		t.Fatalf("tool call with the access token: %d %v", code, out)
	}

	// Refresh rotates: the new pair works, the old access and refresh
	// tokens do not; the old refresh token presented again revokes the new
	// pair too (one of the two presenting it is a thief).
	r3, tok2 := formPost(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {clientID}}, "")
	if r3.StatusCode != 200 || tok2["access_token"] == access {
		t.Fatalf("refresh: %d %v", r3.StatusCode, tok2)
	}
	access2 := tok2["access_token"].(string)
	if code, _ := mcpHealthCall(t, s, access2, mcpInit(t, s, access2)); code != 200 {
		t.Fatalf("refreshed token refused: %d", code)
	}
	if code, _, _ := mcpPost(t, s, access, "", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{}}); code != 401 {
		t.Fatalf("access token replaced by a refresh: %d", code)
	}
	if r, _ := formPost(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {clientID}}, ""); r.StatusCode != 400 {
		t.Fatalf("refresh token reused: %d", r.StatusCode)
	}
	if code, _, _ := mcpPost(t, s, access2, "", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{}}); code != 401 {
		t.Fatalf("access token after its refresh token was reused: %d", code)
	}

	// Revoking the key kills every token made from it.
	tok3 := grant()
	access3 := tok3["access_token"].(string)
	if code, _ := mcpHealthCall(t, s, access3, mcpInit(t, s, access3)); code != 200 {
		t.Fatalf("new grant refused: %d", code)
	}
	s.Admin("DELETE", "/admin/tenants/alpha/keys/"+keyID, nil).Expect(t, 200)
	if code, _, _ := mcpPost(t, s, access3, "", map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{}}); code != 401 {
		t.Fatalf("token of a revoked key: %d", code)
	}
	if r, out := formPost(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok3["refresh_token"].(string)}, "client_id": {clientID}}, ""); r.StatusCode != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("refresh after revocation: %d %v", r.StatusCode, out)
	}
	// The audit shows the grant.
	a := s.Admin("GET", "/admin/tenants/alpha/audit?action=oauth.authorize", nil).Expect(t, 200)
	if a.Body["count"] != float64(4) {
		t.Fatalf("oauth.authorize events: %s", a.Raw)
	}
}
