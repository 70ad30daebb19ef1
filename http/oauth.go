package http

import (
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mnemohq/mnemo"
)

// The OAuth 2.1 routes for MCP connectors (mnemo.OAuthService): metadata,
// dynamic client registration, the consent page, the token endpoint and
// revocation.

func (s *Server) oauthRoutes() {
	s.mux.HandleFunc("GET /.well-known/oauth-protected-resource", s.handleResourceMetadata)
	s.mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", s.handleResourceMetadata)
	s.mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.handleAuthServerMetadata)
	s.mux.HandleFunc("POST /oauth/register", s.handleRegisterClient)
	s.mux.HandleFunc("GET /oauth/authorize", s.handleAuthorizePage)
	s.mux.Handle("POST /oauth/authorize", http.NewCrossOriginProtection().Handler(http.HandlerFunc(s.handleAuthorize)))
	s.mux.HandleFunc("POST /oauth/token", s.handleToken)
	s.mux.HandleFunc("POST /oauth/revoke", s.handleRevoke)
}

// publicURL is the server's base URL: MNEMO_PUBLIC_URL, or else the scheme
// and Host of the request (which the client chooses: see issuer).
func (s *Server) publicURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// oauthError answers an OAuth protocol error (RFC 6749 §5.2), or the
// envelope for any other error.
func (s *Server) oauthError(w http.ResponseWriter, r *http.Request, err error) {
	var oe *mnemo.OAuthError
	if !errors.As(err, &oe) {
		s.error(w, r, err)
		return
	}
	writeOAuthError(w, http.StatusBadRequest, oe.Code, oe.Description)
}

// issuer is publicURL for an answer that names it. Derived from the
// request's Host, the answer must not be cached, or a request with a forged
// Host could poison a shared cache with another issuer.
func (s *Server) issuer(w http.ResponseWriter, r *http.Request) string {
	if s.cfg.PublicURL == "" {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Add("Vary", "Host")
	}
	return s.publicURL(r)
}

// writeOAuthError writes an OAuth error body (RFC 6749 §5.2).
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

func (s *Server) handleResourceMetadata(w http.ResponseWriter, r *http.Request) {
	base := s.issuer(w, r)
	s.reply(w, r, http.StatusOK, map[string]any{"resource": base + "/mcp", "authorization_servers": []string{base},
		"bearer_methods_supported": []string{"header"}, "scopes_supported": []string{mnemo.ScopeRead, mnemo.ScopeWrite},
		"resource_name": "mnemo memory"})
}

func (s *Server) handleAuthServerMetadata(w http.ResponseWriter, r *http.Request) {
	base := s.issuer(w, r)
	s.reply(w, r, http.StatusOK, map[string]any{
		"issuer": base, "authorization_endpoint": base + "/oauth/authorize", "token_endpoint": base + "/oauth/token",
		"registration_endpoint": base + "/oauth/register", "revocation_endpoint": base + "/oauth/revoke",
		"revocation_endpoint_auth_methods_supported": []string{"none"}, "response_types_supported": []string{"code"},
		"grant_types_supported": []string{"authorization_code", "refresh_token"}, "code_challenge_methods_supported": []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none"}, "scopes_supported": []string{mnemo.ScopeRead, mnemo.ScopeWrite},
	})
}

// handleRegisterClient is dynamic client registration (RFC 7591) for public
// clients. Anyone may call it, so the body is read up to a small limit.
func (s *Server) handleRegisterClient(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, mnemo.MaxClientMetadataBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_client_metadata",
			"client metadata must be at most "+strconv.Itoa(mnemo.MaxClientMetadataBytes)+" bytes")
		return
	}
	var body map[string]any
	if err != nil || json.Unmarshal(raw, &body) != nil {
		s.oauthError(w, r, &mnemo.OAuthError{Code: "invalid_client_metadata", Description: "a JSON object with redirect_uris is required"})
		return
	}
	if err := mnemo.CheckJSONText(raw); err != nil {
		s.oauthError(w, r, &mnemo.OAuthError{Code: "invalid_client_metadata", Description: mnemo.ErrorMessage(err)})
		return
	}
	c, err := s.svc.OAuth.RegisterClient(r.Context(), body, s.clientAddr(r))
	if err != nil {
		s.oauthError(w, r, err)
		return
	}
	s.reply(w, r, http.StatusCreated, map[string]any{"client_id": c.ID, "client_id_issued_at": c.CreatedAt.Unix(), "client_name": c.Name,
		"redirect_uris": c.RedirectURIs, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"}})
}

func authorizationParams(v url.Values) mnemo.AuthorizationParams {
	return mnemo.AuthorizationParams{ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"),
		ResponseType: v.Get("response_type"), State: v.Get("state"), CodeChallenge: v.Get("code_challenge"),
		CodeChallengeMethod: v.Get("code_challenge_method"), Scope: v.Get("scope")}
}

var pageStyle = `<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}input{width:100%;padding:.5rem;margin:.5rem 0}button{padding:.5rem 1rem}.err{color:#b00}.warn{border:2px solid #b00;padding:.5rem 1rem}code{font-size:1.1em}</style>`

// consentPage names the client as it named itself, and where the code
// goes, which is what the customer can check: a name proves nothing, and a
// client whose redirect host the operator does not trust is marked.
var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Connect to mnemo</title>` + pageStyle + `</head>
<body><h1>Connect an application to your memory</h1>
{{if not .Verified}}<div class="warn"><p><strong>Unverified application.</strong> The operator of this server does not know
<code>{{.RedirectHost}}</code>. Anyone can register an application under any name: continue only if you started this
connection yourself, from <code>{{.RedirectHost}}</code>.</p></div>{{end}}
<p>An application that calls itself <strong>{{if .ClientName}}“{{.ClientName}}”{{else}}(no name){{end}}</strong> asks for access to your
tenant's memories{{if .Scope}} ({{.Scope}}){{end}}, until you revoke the key.</p>
<p>If you allow it, access is sent to <strong><code>{{.RedirectHost}}</code></strong>{{if .Verified}} (verified){{end}}.</p>
{{if .Error}}<p class="err">{{.Error}}</p>{{end}}
<form method="post" action="/oauth/authorize">
<input type="password" name="api_key" placeholder="mnemo_..." autocomplete="off" autofocus required>
<input type="hidden" name="client_id" value="{{.ClientID}}"><input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="state" value="{{.State}}"><input type="hidden" name="code_challenge" value="{{.Challenge}}">
<input type="hidden" name="code_challenge_method" value="S256"><input type="hidden" name="response_type" value="code">
<input type="hidden" name="scope" value="{{.Scope}}">
<button type="submit">Allow {{.RedirectHost}}</button></form></body></html>`))

// errorPage shows an authorization error that must not be redirected.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Cannot connect to mnemo</title>` + pageStyle + `</head>
<body><h1>This connection cannot go on</h1><p class="err">{{.Description}}</p>
<p>Error: <code>{{.Code}}</code>.{{if .Host}} The application asked to be sent back to <code>{{.Host}}</code>, which this
server does not trust, so you stay here.{{end}}</p></body></html>`))

// htmlHeaders are those of the consent and error pages: never framed
// (clickjacking), never cached, and forms post only here.
func htmlHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
}

func renderConsent(w http.ResponseWriter, status int, a *mnemo.AuthorizationRequest, errText string) {
	htmlHeaders(w)
	w.WriteHeader(status)
	consentPage.Execute(w, struct {
		*mnemo.AuthorizationRequest
		Error string
	}{a, errText})
}

// authorizeFailed answers a bad authorization request: with a page when
// the redirect URI is not known to be the client's or not trusted, else
// with a redirect that carries the error.
func (s *Server) authorizeFailed(w http.ResponseWriter, r *http.Request, a *mnemo.AuthorizationRequest, err error) {
	var oe *mnemo.OAuthError
	if !errors.As(err, &oe) {
		s.error(w, r, err)
		return
	}
	if !oe.Redirect || a == nil {
		host := ""
		if a != nil {
			host = a.RedirectHost
		}
		htmlHeaders(w)
		w.WriteHeader(http.StatusBadRequest)
		errorPage.Execute(w, struct{ Code, Description, Host string }{oe.Code, oe.Description, host})
		return
	}
	q := url.Values{"error": {oe.Code}}
	if oe.Description != "" {
		q.Set("error_description", oe.Description)
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
	a, err := s.svc.OAuth.CheckAuthorization(r.Context(), authorizationParams(r.URL.Query()))
	if err != nil {
		s.authorizeFailed(w, r, a, err)
		return
	}
	renderConsent(w, http.StatusOK, a, "")
}

// handleAuthorize takes the key from the consent form and redirects back
// with a code bound to it.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	a, err := s.svc.OAuth.CheckAuthorization(r.Context(), authorizationParams(r.PostForm))
	if err != nil {
		s.authorizeFailed(w, r, a, err)
		return
	}
	code, err := s.svc.OAuth.Authorize(r.Context(), a, r.PostForm.Get("api_key"), s.clientAddr(r))
	switch mnemo.ErrorCode(err) {
	case mnemo.ETOOMANY:
		renderConsent(w, http.StatusTooManyRequests, a, "Too many attempts; wait a minute and try again.")
		return
	case mnemo.EUNAUTHORIZED:
		renderConsent(w, http.StatusUnauthorized, a, "That key was not accepted.")
		return
	case mnemo.ELOCKED:
		renderConsent(w, http.StatusLocked, a, mnemo.ErrorMessage(err))
		return
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
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
		s.oauthError(w, r, &mnemo.OAuthError{Code: "invalid_request", Description: "the body must be application/x-www-form-urlencoded"})
		return
	}
	f := r.PostForm
	pair, err := s.svc.OAuth.Token(r.Context(), mnemo.TokenParams{GrantType: f.Get("grant_type"), Code: f.Get("code"),
		CodeVerifier: f.Get("code_verifier"), ClientID: f.Get("client_id"), RedirectURI: f.Get("redirect_uri"),
		RefreshToken: f.Get("refresh_token")})
	if err != nil {
		s.oauthError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	s.reply(w, r, http.StatusOK, map[string]any{"access_token": pair.AccessToken, "token_type": "Bearer",
		"expires_in": int(pair.ExpiresIn.Seconds()), "refresh_token": pair.RefreshToken, "scope": strings.Join(pair.Scopes, " ")})
}

// handleRevoke is token revocation (RFC 7009): 200 whether or not the token
// was known, since a client can do nothing else about an unknown one.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		s.oauthError(w, r, &mnemo.OAuthError{Code: "invalid_request", Description: "token is required, application/x-www-form-urlencoded"})
		return
	}
	if err := s.svc.OAuth.Revoke(r.Context(), r.PostForm.Get("token"), r.PostForm.Get("client_id")); err != nil {
		s.oauthError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
