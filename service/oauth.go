package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// mnemo is its own OAuth 2.1 authorization server for /mcp, for connectors
// that accept nothing else (Claude.ai, ChatGPT): dynamic client
// registration and the authorization code flow with PKCE, where the
// customer enters a tenant key once on a consent page. The tokens issued
// act as that key (within the scopes granted), expire, refresh, and die
// with the key.

const (
	codeTTL    = 10 * time.Minute
	accessTTL  = time.Hour
	refreshTTL = 30 * 24 * time.Hour
)

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
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

// RegisterClient registers a public client (RFC 7591).
func (s *Service) RegisterClient(ctx context.Context, name string, redirectURIs []string) (*mnemo.OAuthClient, error) {
	for _, u := range redirectURIs {
		if !validRedirect(u) {
			return nil, &mnemo.OAuthError{Code: "invalid_redirect_uri", Description: "redirect_uris must be https, or http on localhost, without a fragment"}
		}
	}
	if len(redirectURIs) == 0 || len(redirectURIs) > 10 {
		return nil, &mnemo.OAuthError{Code: "invalid_redirect_uri", Description: "redirect_uris must list 1 to 10 URIs"}
	}
	if len(name) > 200 {
		name = name[:200]
	}
	c := &mnemo.OAuthClient{ID: "mcp_" + randomToken(16), Name: name, RedirectURIs: redirectURIs, CreatedAt: s.now()}
	if err := s.b.OAuth.RegisterOAuthClient(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// CheckAuthorization validates an authorization request. Until the client
// and its redirect URI are known good, errors are to be shown, never
// redirected.
func (s *Service) CheckAuthorization(ctx context.Context, p mnemo.AuthorizationParams) (*mnemo.AuthorizationRequest, error) {
	c, err := s.b.OAuth.OAuthClient(ctx, p.ClientID)
	if mnemo.ErrorCode(err) == mnemo.ENOTFOUND {
		return nil, &mnemo.OAuthError{Code: "invalid_client", Description: "Unknown client_id: the application must register first."}
	}
	if err != nil {
		return nil, err
	}
	a := &mnemo.AuthorizationRequest{ClientID: c.ID, ClientName: c.Name, RedirectURI: p.RedirectURI, State: p.State,
		Challenge: p.CodeChallenge, Scope: p.Scope}
	known := false
	for _, u := range c.RedirectURIs {
		known = known || u == a.RedirectURI
	}
	if !known {
		return nil, &mnemo.OAuthError{Code: "invalid_request", Description: "redirect_uri is not one the application registered."}
	}
	if p.ResponseType != "code" {
		return a, &mnemo.OAuthError{Code: "unsupported_response_type", Redirect: true}
	}
	if a.Challenge == "" || p.CodeChallengeMethod != "S256" {
		return a, &mnemo.OAuthError{Code: "invalid_request", Description: "PKCE with code_challenge_method=S256 is required", Redirect: true}
	}
	for _, sc := range strings.Fields(a.Scope) {
		if sc != mnemo.ScopeRead && sc != mnemo.ScopeWrite {
			return a, &mnemo.OAuthError{Code: "invalid_scope", Redirect: true}
		}
	}
	return a, nil
}

// Authorize checks the key entered on the consent page and returns a code
// bound to it, for the scopes asked that the key has.
func (s *Service) Authorize(ctx context.Context, a *mnemo.AuthorizationRequest, apiKey, addr string) (string, error) {
	now := s.now()
	apiKey = strings.TrimSpace(apiKey)
	var key *mnemo.Key
	err := s.checkCredential(ctx, apiKey, addr, now, func() (err error) {
		if key, _, err = s.b.Keys.KeyByHash(ctx, mnemo.HashToken(apiKey)); err == nil && !key.Live(now) {
			err = errExpired
		}
		return err
	})
	if err != nil {
		return "", err
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
	code := mnemo.CodePrefix + randomToken(32)
	if err := s.b.OAuth.SaveOAuthGrant(ctx, &mnemo.OAuthGrant{Hash: mnemo.HashToken(code), Kind: mnemo.GrantCode,
		ClientID: a.ClientID, KeyID: key.ID, Scopes: scopes, RedirectURI: a.RedirectURI, CodeChallenge: a.Challenge,
		ExpiresAt: now.Add(codeTTL)}); err != nil {
		return "", err
	}
	s.audit(ctx, key.ID, "oauth.authorize", key.TenantID, a.ClientID, nil)
	return code, nil
}

// Token exchanges a code (with its PKCE verifier) or a refresh token for an
// access token and a new refresh token; the code or refresh token is used
// up.
func (s *Service) Token(ctx context.Context, p mnemo.TokenParams) (*mnemo.TokenPair, error) {
	now := s.now()
	var g *mnemo.OAuthGrant
	var err error
	switch p.GrantType {
	case "authorization_code":
		g, err = s.b.OAuth.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken(p.Code), now)
		if err != nil {
			return nil, grantError(err, "the code is unknown, used or expired")
		}
		sum := sha256.Sum256([]byte(p.CodeVerifier))
		verifier := base64.RawURLEncoding.EncodeToString(sum[:])
		if g.ClientID != p.ClientID || g.RedirectURI != p.RedirectURI || subtle.ConstantTimeCompare([]byte(verifier), []byte(g.CodeChallenge)) != 1 {
			return nil, &mnemo.OAuthError{Code: "invalid_grant", Description: "client_id, redirect_uri or code_verifier does not match the authorization"}
		}
	case "refresh_token":
		g, err = s.b.OAuth.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, mnemo.HashToken(p.RefreshToken), now)
		if err == nil && g.ClientID != p.ClientID {
			err = mnemo.Errorf(mnemo.EINVALID, "invalid_grant")
		}
		if err != nil {
			return nil, grantError(err, "the refresh token is unknown, used, expired or not this client's")
		}
	default:
		return nil, &mnemo.OAuthError{Code: "unsupported_grant_type", Description: "grant_type must be authorization_code or refresh_token"}
	}
	// Tokens die with the key they were granted for.
	key, _, err := s.b.Keys.KeyByID(ctx, g.KeyID)
	if err == nil && !key.Live(now) || mnemo.ErrorCode(err) == mnemo.ENOTFOUND {
		return nil, &mnemo.OAuthError{Code: "invalid_grant", Description: "the key this grant was made with is revoked or expired"}
	}
	if err != nil {
		return nil, err
	}
	pair := &mnemo.TokenPair{AccessToken: mnemo.AccessTokenPrefix + randomToken(32), RefreshToken: mnemo.RefreshTokenPrefix + randomToken(32),
		ExpiresIn: accessTTL, Scopes: g.Scopes}
	for _, t := range []*mnemo.OAuthGrant{
		{Hash: mnemo.HashToken(pair.AccessToken), Kind: mnemo.GrantAccess, ClientID: g.ClientID, KeyID: g.KeyID, Scopes: g.Scopes, ExpiresAt: now.Add(accessTTL)},
		{Hash: mnemo.HashToken(pair.RefreshToken), Kind: mnemo.GrantRefresh, ClientID: g.ClientID, KeyID: g.KeyID, Scopes: g.Scopes, ExpiresAt: now.Add(refreshTTL)},
	} {
		if err := s.b.OAuth.SaveOAuthGrant(ctx, t); err != nil {
			if mnemo.ErrorCode(err) == mnemo.ENOTFOUND {
				return nil, &mnemo.OAuthError{Code: "invalid_grant", Description: "the key this grant was made with no longer exists"}
			}
			return nil, err
		}
	}
	return pair, nil
}

// grantError turns a grant that cannot be used into invalid_grant, and
// keeps any other error.
func grantError(err error, desc string) error {
	if mnemo.ErrorCode(err) == mnemo.EINVALID {
		return &mnemo.OAuthError{Code: "invalid_grant", Description: desc}
	}
	return err
}
