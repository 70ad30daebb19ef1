package http

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// mnemo is its own OAuth 2.1 authorization server for /mcp, for connectors
// that accept nothing else (Claude.ai, ChatGPT): protected-resource and
// authorization-server metadata, dynamic client registration, and the
// authorization code flow with PKCE, where the customer enters a tenant key
// once on a consent page. The tokens issued act as that key (within the
// scopes granted), expire, refresh, and die with the key.

const (
	accessTokenPrefix  = "mnemo_at_"
	refreshTokenPrefix = "mnemo_rt_"
	codeTTL            = 10 * time.Minute
	accessTTL          = time.Hour
	refreshTTL         = 30 * 24 * time.Hour
)

func (s *Server) oauthRoutes() {
	s.mux.HandleFunc("GET /.well-known/oauth-protected-resource", s.handleResourceMetadata)
	s.mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", s.handleResourceMetadata)
	s.mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.handleAuthServerMetadata)
	s.mux.HandleFunc("POST /oauth/register", s.handleRegisterClient)
	s.mux.HandleFunc("GET /oauth/authorize", s.handleAuthorizePage)
	s.mux.Handle("POST /oauth/authorize", http.NewCrossOriginProtection().Handler(http.HandlerFunc(s.handleAuthorize)))
	s.mux.HandleFunc("POST /oauth/token", s.handleToken)
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]any{"error": code, "error_description": description})
}

func (s *Server) handleResourceMetadata(w http.ResponseWriter, r *http.Request) {
	base := s.publicURL(r)
	writeJSON(w, http.StatusOK, map[string]any{"resource": base + "/mcp", "authorization_servers": []string{base},
		"bearer_methods_supported": []string{"header"}, "scopes_supported": []string{mnemo.ScopeRead, mnemo.ScopeWrite},
		"resource_name": "mnemo memory"})
}

func (s *Server) handleAuthServerMetadata(w http.ResponseWriter, r *http.Request) {
	base := s.publicURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": base, "authorization_endpoint": base + "/oauth/authorize", "token_endpoint": base + "/oauth/token",
		"registration_endpoint": base + "/oauth/register", "response_types_supported": []string{"code"},
		"grant_types_supported": []string{"authorization_code", "refresh_token"}, "code_challenge_methods_supported": []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none"}, "scopes_supported": []string{mnemo.ScopeRead, mnemo.ScopeWrite},
	})
}

// validRedirect accepts https URIs and, for local clients, http on a
// loopback host, as OAuth 2.1 asks.
func validRedirect(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Fragment != "" || u.Host == "" {
		return false
	}
	host := u.Hostname()
	return u.Scheme == "https" || (u.Scheme == "http" && (host == "localhost" || host == "127.0.0.1" || host == "::1"))
}

// handleRegisterClient is dynamic client registration (RFC 7591) for public
// clients.
func (s *Server) handleRegisterClient(w http.ResponseWriter, r *http.Request) {
	body, err := s.readJSONObject(w, r)
	if err != nil || body == nil {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "a JSON object with redirect_uris is required")
		return
	}
	list, _ := body["redirect_uris"].([]any)
	var uris []string
	for _, u := range list {
		str, _ := u.(string)
		if !validRedirect(str) {
			oauthError(w, http.StatusBadRequest, "invalid_redirect_uri", "redirect_uris must be https, or http on localhost, without a fragment")
			return
		}
		uris = append(uris, str)
	}
	if len(uris) == 0 || len(uris) > 10 {
		oauthError(w, http.StatusBadRequest, "invalid_redirect_uri", "redirect_uris must list 1 to 10 URIs")
		return
	}
	if m, ok := body["token_endpoint_auth_method"].(string); ok && m != "none" {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "only public clients (token_endpoint_auth_method none, with PKCE) are supported")
		return
	}
	name, _ := body["client_name"].(string)
	if len(name) > 200 {
		name = name[:200]
	}
	c := &mnemo.OAuthClient{ID: "mcp_" + randomToken(16), Name: name, RedirectURIs: uris, CreatedAt: s.Now()}
	if err := s.Registry.RegisterOAuthClient(r.Context(), c); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"client_id": c.ID, "client_id_issued_at": c.CreatedAt.Unix(), "client_name": c.Name,
		"redirect_uris": c.RedirectURIs, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"}})
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// authRequest is an authorization request, checked.
type authRequest struct {
	ClientID, ClientName, RedirectURI, State, Challenge, Scope string
}

// authRequestFrom validates the parameters of an authorization request.
// Until the client and its redirect URI are known good, errors are shown,
// never redirected.
func (s *Server) authRequestFrom(r *http.Request, v url.Values) (*authRequest, string) {
	c, err := s.Registry.OAuthClient(r.Context(), v.Get("client_id"))
	if err != nil {
		return nil, "Unknown client_id: the application must register first."
	}
	a := &authRequest{ClientID: c.ID, ClientName: c.Name, RedirectURI: v.Get("redirect_uri"), State: v.Get("state"),
		Challenge: v.Get("code_challenge"), Scope: v.Get("scope")}
	known := false
	for _, u := range c.RedirectURIs {
		known = known || u == a.RedirectURI
	}
	if !known {
		return nil, "redirect_uri is not one the application registered."
	}
	if v.Get("response_type") != "code" {
		return a, "unsupported_response_type"
	}
	if a.Challenge == "" || v.Get("code_challenge_method") != "S256" {
		return a, "invalid_request: PKCE with code_challenge_method=S256 is required"
	}
	for _, sc := range strings.Fields(a.Scope) {
		if sc != mnemo.ScopeRead && sc != mnemo.ScopeWrite {
			return a, "invalid_scope"
		}
	}
	return a, ""
}

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Connect to mnemo</title>
<style>body{font-family:system-ui,sans-serif;max-width:30rem;margin:4rem auto;padding:0 1rem}input{width:100%;padding:.5rem;margin:.5rem 0}button{padding:.5rem 1rem}.err{color:#b00}</style></head>
<body><h1>Connect {{if .ClientName}}{{.ClientName}}{{else}}an application{{end}} to your memory</h1>
<p>Enter your mnemo API key. The application will get access to your tenant's memories{{if .Scope}} ({{.Scope}}){{end}}, until you revoke the key.</p>
{{if .Error}}<p class="err">{{.Error}}</p>{{end}}
<form method="post" action="/oauth/authorize">
<input type="password" name="api_key" placeholder="mnemo_..." autocomplete="off" autofocus required>
<input type="hidden" name="client_id" value="{{.ClientID}}"><input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="state" value="{{.State}}"><input type="hidden" name="code_challenge" value="{{.Challenge}}">
<input type="hidden" name="code_challenge_method" value="S256"><input type="hidden" name="response_type" value="code">
<input type="hidden" name="scope" value="{{.Scope}}">
<button type="submit">Allow</button></form></body></html>`))

func (s *Server) renderConsent(w http.ResponseWriter, status int, a *authRequest, errText string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	consentPage.Execute(w, struct {
		*authRequest
		Error string
	}{a, errText})
}

func (s *Server) authorizeFailed(w http.ResponseWriter, r *http.Request, a *authRequest, problem string) {
	if a == nil { // unknown client or redirect: never redirect
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(problem + "\n"))
		return
	}
	code, desc, _ := strings.Cut(problem, ": ")
	q := url.Values{"error": {code}}
	if desc != "" {
		q.Set("error_description", desc)
	}
	if a.State != "" {
		q.Set("state", a.State)
	}
	http.Redirect(w, r, a.RedirectURI+sep(a.RedirectURI)+q.Encode(), http.StatusFound)
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}

// handleAuthorizePage shows the consent page.
func (s *Server) handleAuthorizePage(w http.ResponseWriter, r *http.Request) {
	a, problem := s.authRequestFrom(r, r.URL.Query())
	if problem != "" {
		s.authorizeFailed(w, r, a, problem)
		return
	}
	s.renderConsent(w, http.StatusOK, a, "")
}

// handleAuthorize takes the key from the consent form and redirects back
// with a code bound to it.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	a, problem := s.authRequestFrom(r, r.PostForm)
	if problem != "" {
		s.authorizeFailed(w, r, a, problem)
		return
	}
	now, addr := s.Now(), s.clientAddr(r)
	if blocked, _ := s.limits.throttled(addr, s.AuthFailuresPerMinute, now); blocked {
		s.renderConsent(w, http.StatusTooManyRequests, a, "Too many attempts; wait a minute and try again.")
		return
	}
	key, _, err := s.Registry.Authenticate(r.Context(), mnemo.HashToken(strings.TrimSpace(r.PostForm.Get("api_key"))))
	if err != nil {
		s.limits.failed(addr, now)
		s.renderConsent(w, http.StatusUnauthorized, a, "That key was not accepted.")
		return
	}
	scopes := key.Scopes
	if a.Scope != "" {
		scopes = nil
		for _, sc := range strings.Fields(a.Scope) {
			if key.HasScope(sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	code := "mnemo_ac_" + randomToken(32)
	if err := s.Registry.SaveOAuthGrant(r.Context(), &mnemo.OAuthGrant{Hash: mnemo.HashToken(code), Kind: mnemo.GrantCode,
		ClientID: a.ClientID, KeyID: key.ID, Scopes: scopes, RedirectURI: a.RedirectURI, CodeChallenge: a.Challenge,
		ExpiresAt: now.Add(codeTTL)}); err != nil {
		writeError(w, err)
		return
	}
	s.audit(withActor(r, key.ID), "oauth.authorize", key.TenantID, a.ClientID, nil)
	q := url.Values{"code": {code}}
	if a.State != "" {
		q.Set("state", a.State)
	}
	http.Redirect(w, r, a.RedirectURI+sep(a.RedirectURI)+q.Encode(), http.StatusFound)
}

// handleToken exchanges a code (with its PKCE verifier) or a refresh token
// for an access token and a new refresh token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	f, now := r.PostForm, s.Now()
	var g *mnemo.OAuthGrant
	var err error
	switch f.Get("grant_type") {
	case "authorization_code":
		g, err = s.Registry.ConsumeOAuthGrant(r.Context(), mnemo.GrantCode, mnemo.HashToken(f.Get("code")), now)
		if err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the code is unknown, used or expired")
			return
		}
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if g.ClientID != f.Get("client_id") || g.RedirectURI != f.Get("redirect_uri") ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != g.CodeChallenge {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "client_id, redirect_uri or code_verifier does not match the authorization")
			return
		}
	case "refresh_token":
		g, err = s.Registry.ConsumeOAuthGrant(r.Context(), mnemo.GrantRefresh, mnemo.HashToken(f.Get("refresh_token")), now)
		if err != nil || g.ClientID != f.Get("client_id") {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is unknown, used, expired or not this client's")
			return
		}
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	// Tokens die with the key they were granted for.
	if !s.Registry.LiveKey(r.Context(), g.KeyID, now) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the key this grant was made with is revoked or expired")
		return
	}
	access, refresh := accessTokenPrefix+randomToken(32), refreshTokenPrefix+randomToken(32)
	for _, t := range []*mnemo.OAuthGrant{
		{Hash: mnemo.HashToken(access), Kind: mnemo.GrantAccess, ClientID: g.ClientID, KeyID: g.KeyID, Scopes: g.Scopes, ExpiresAt: now.Add(accessTTL)},
		{Hash: mnemo.HashToken(refresh), Kind: mnemo.GrantRefresh, ClientID: g.ClientID, KeyID: g.KeyID, Scopes: g.Scopes, ExpiresAt: now.Add(refreshTTL)},
	} {
		if err := s.Registry.SaveOAuthGrant(r.Context(), t); err != nil {
			if strings.Contains(err.Error(), "FOREIGN KEY") {
				oauthError(w, http.StatusBadRequest, "invalid_grant", "the key this grant was made with no longer exists")
				return
			}
			writeError(w, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(accessTTL.Seconds()),
		"refresh_token": refresh, "scope": strings.Join(g.Scopes, " ")})
}
