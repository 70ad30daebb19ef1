package http

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mnemohq/mnemo"
)

// The issuer is MNEMO_PUBLIC_URL whatever the Host says; derived from Host,
// the answer is never cached and varies by Host.
func TestAuthServerMetadataIssuer(t *testing.T) {
	s, _ := newTestServer(t, nil, nil)
	get := func() (*httptest.ResponseRecorder, map[string]any) {
		req := httptest.NewRequest("GET", "/.well-known/oauth-authorization-server", nil)
		req.Host = "evil.example"
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		var body map[string]any
		json.Unmarshal(rec.Body.Bytes(), &body)
		return rec, body
	}
	rec, body := get()
	if body["issuer"] != "http://evil.example" || rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Vary") != "Host" {
		t.Fatalf("derived: %v %v", rec.Header(), body)
	}
	s.cfg.PublicURL = "https://memory.example.com"
	rec, body = get()
	if body["issuer"] != "https://memory.example.com" || body["revocation_endpoint"] != "https://memory.example.com/oauth/revoke" ||
		rec.Header().Get("Vary") != "" || rec.Header().Get("Cache-Control") == "no-store" {
		t.Fatalf("configured: %v %v", rec.Header(), body)
	}
}

// The client's name is its own words: escaped, never markup.
func TestConsentPageEscapesTheClient(t *testing.T) {
	rec := httptest.NewRecorder()
	renderConsent(rec, http.StatusOK, &mnemo.AuthorizationRequest{ClientName: `<script>alert(1)</script>`, RedirectHost: `evil.example`,
		RedirectURI: `https://evil.example/"><b>`}, "")
	page := rec.Body.String()
	for _, bad := range []string{"<script>", `"><b>`} {
		if strings.Contains(page, bad) {
			t.Fatalf("unescaped %q in\n%s", bad, page)
		}
	}
	if !strings.Contains(page, "Unverified application") || !strings.Contains(page, "<code>evil.example</code>") {
		t.Fatalf("page does not mark the client unverified or name its host:\n%s", page)
	}
	rec = httptest.NewRecorder()
	renderConsent(rec, http.StatusOK, &mnemo.AuthorizationRequest{ClientName: "Claude", RedirectHost: "claude.ai", Verified: true}, "")
	if strings.Contains(rec.Body.String(), "Unverified") || !strings.Contains(rec.Body.String(), "(verified)") {
		t.Fatalf("verified client's page:\n%s", rec.Body)
	}
}

func TestRegisterAndRevokeRoutes(t *testing.T) {
	s, _ := newTestServer(t, nil, nil)
	do := func(method, path, body, contentType string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	big := `{"redirect_uris":["https://claude.ai/cb"],"x":"` + strings.Repeat("a", mnemo.MaxClientMetadataBytes) + `"}`
	if rec := do("POST", "/oauth/register", big, "application/json"); rec.Code != 413 || !strings.Contains(rec.Body.String(), `"invalid_client_metadata"`) {
		t.Fatalf("oversized registration: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/oauth/register", `[1]`, "application/json"); rec.Code != 400 || !strings.Contains(rec.Body.String(), `"invalid_client_metadata"`) {
		t.Fatalf("registration that is not an object: %d %s", rec.Code, rec.Body)
	}
	form := url.Values{"token": {"mnemo_at_unknown"}, "token_type_hint": {"access_token"}}.Encode()
	if rec := do("POST", "/oauth/revoke", form, "application/x-www-form-urlencoded"); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("revoking an unknown token: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/oauth/revoke", "", "application/x-www-form-urlencoded"); rec.Code != 400 || !strings.Contains(rec.Body.String(), `"invalid_request"`) {
		t.Fatalf("revoking nothing: %d %s", rec.Code, rec.Body)
	}
}
