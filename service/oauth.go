package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/netip"
	"net/url"
	"strconv"
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
//
// Anyone may register a client, with any name and redirect URI, so a
// client proves nothing about itself: registration is rate-limited per
// address and size-limited, clients never used expire, and only redirect
// hosts the operator lists are trusted. The consent page names where the
// code goes and marks every other client unverified; errors are never
// sent to an unverified redirect (no open redirect). Refresh tokens rotate,
// and a code or refresh token used twice revokes everything obtained from
// the same authorization.

const (
	codeTTL    = 10 * time.Minute
	accessTTL  = time.Hour
	refreshTTL = 30 * 24 * time.Hour
)

// OAuthConfig is how the OAuth server treats the clients anyone may
// register. The zero value trusts only loopback redirects and limits
// nothing.
type OAuthConfig struct {
	// RedirectHosts are the hosts trusted to receive codes (such as
	// claude.ai and chatgpt.com), over https; a client whose redirect goes
	// anywhere else is unverified. Loopback hosts are always trusted: a
	// code sent there stays on the customer's computer.
	RedirectHosts []string
	// RefuseUnverified refuses to register a client with a redirect URI
	// that is not trusted.
	RefuseUnverified bool
	// RegistrationsPerMinute limits the registrations from one client
	// address (an IPv6 /64) in a minute (0: no limit).
	RegistrationsPerMinute int
	// MaxClients bounds the registered clients (0: no cap). At the cap the
	// oldest never used make room; when all have been used, registration
	// is refused.
	MaxClients int
	// UnusedClientTTL is how long a client may go without obtaining a
	// token after registering before it is removed (0: forever).
	UnusedClientTTL time.Duration
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func isLoopback(host string) bool { return host == "localhost" || host == "127.0.0.1" || host == "::1" }

// parseRedirect accepts https URIs and, for local clients, http on a
// loopback host, as OAuth 2.1 asks; without a fragment or user
// information, and with an ASCII host (an IDN in its xn-- form), so that
// the host the consent page shows is the one the code goes to.
func parseRedirect(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Fragment != "" || u.User != nil || u.Host == "" || len(raw) > mnemo.MaxRedirectURIBytes {
		return nil, false
	}
	host := u.Hostname()
	for i := range len(host) {
		if host[i] >= 0x80 {
			return nil, false
		}
	}
	return u, u.Scheme == "https" || (u.Scheme == "http" && isLoopback(host))
}

// verified reports whether the operator trusts u's host to receive codes.
func (s *Service) verified(u *url.URL) bool {
	host := u.Hostname()
	if isLoopback(host) {
		return true
	}
	if u.Scheme != "https" {
		return false
	}
	for _, h := range s.cfg.OAuth.RedirectHosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// registrant is what registrations are counted by: the client's address,
// or its /64 for IPv6, since one subscriber commonly holds a whole /64.
func registrant(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Unmap().Is4() {
		return addr
	}
	p, _ := a.Prefix(64)
	return p.String()
}

func badMetadata(desc string) error {
	return &mnemo.OAuthError{Code: "invalid_client_metadata", Description: desc}
}

func badRedirect(desc string) error {
	return &mnemo.OAuthError{Code: "invalid_redirect_uri", Description: desc}
}

// RegisterClient registers a public client (RFC 7591) from its metadata,
// sent from addr.
func (s *Service) RegisterClient(ctx context.Context, fields map[string]any, addr string) (*mnemo.OAuthClient, error) {
	now := s.now()
	if limit := s.cfg.OAuth.RegistrationsPerMinute; limit > 0 {
		ok, wait, err := s.b.Registrations.AllowRegistration(ctx, registrant(addr), limit, now)
		if err != nil {
			return nil, err
		}
		if !ok {
			s.refuse("oauth_registration")
			return nil, &mnemo.Error{Code: mnemo.ETOOMANY, RetryAfter: wait, Message: "Too many client registrations from this address; retry later"}
		}
	}
	if fields == nil {
		return nil, badMetadata("a JSON object with redirect_uris is required")
	}
	var name string
	if v, ok := fields["client_name"]; ok && v != nil {
		n, isString := v.(string)
		if !isString || len(n) > mnemo.MaxClientNameBytes {
			return nil, badMetadata("client_name must be a string of at most " + strconv.Itoa(mnemo.MaxClientNameBytes) + " bytes")
		}
		name = n
	}
	if m, ok := fields["token_endpoint_auth_method"]; ok && m != "none" {
		return nil, badMetadata("only public clients (token_endpoint_auth_method none, with PKCE) are supported")
	}
	list, _ := fields["redirect_uris"].([]any)
	if len(list) == 0 || len(list) > mnemo.MaxRedirectURIs {
		return nil, badRedirect("redirect_uris must list 1 to " + strconv.Itoa(mnemo.MaxRedirectURIs) + " URIs")
	}
	uris := make([]string, len(list))
	for i, v := range list {
		raw, _ := v.(string)
		u, ok := parseRedirect(raw)
		if !ok {
			return nil, badRedirect("redirect_uris[" + strconv.Itoa(i) + "] must be a string of at most " + strconv.Itoa(mnemo.MaxRedirectURIBytes) +
				" bytes, https (or http on localhost), with an ASCII host and without a fragment or user information")
		}
		if s.cfg.OAuth.RefuseUnverified && !s.verified(u) {
			return nil, badRedirect("redirect_uris[" + strconv.Itoa(i) + "]: the host " + u.Hostname() + " is not on this server's allow-list")
		}
		uris[i] = raw
	}
	c := &mnemo.OAuthClient{ID: "mcp_" + randomToken(16), Name: name, RedirectURIs: uris, CreatedAt: now}
	var unusedBefore time.Time
	if ttl := s.cfg.OAuth.UnusedClientTTL; ttl > 0 {
		unusedBefore = now.Add(-ttl)
	}
	if err := s.b.OAuth.RegisterOAuthClient(ctx, c, unusedBefore, s.cfg.OAuth.MaxClients); err != nil {
		if mnemo.ErrorCode(err) == mnemo.ETOOMANY {
			s.refuse("oauth_registration")
		}
		return nil, err
	}
	return c, nil
}

// client returns a registered client that has not expired unused.
func (s *Service) client(ctx context.Context, id string, now time.Time) (*mnemo.OAuthClient, error) {
	c, err := s.b.OAuth.OAuthClient(ctx, id)
	if err == nil && c.UsedAt == nil && s.cfg.OAuth.UnusedClientTTL > 0 && now.Sub(c.CreatedAt) >= s.cfg.OAuth.UnusedClientTTL {
		err = mnemo.Errorf(mnemo.ENOTFOUND, "unused client expired")
	}
	if mnemo.ErrorCode(err) == mnemo.ENOTFOUND {
		return nil, &mnemo.OAuthError{Code: "invalid_client", Description: "Unknown client_id: the application must register (again)."}
	}
	return c, err
}

// CheckAuthorization validates an authorization request. Until the client
// and its redirect URI are known good and trusted, errors are to be shown,
// never redirected.
func (s *Service) CheckAuthorization(ctx context.Context, p mnemo.AuthorizationParams) (*mnemo.AuthorizationRequest, error) {
	c, err := s.client(ctx, p.ClientID, s.now())
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
	if u, ok := parseRedirect(a.RedirectURI); ok { // registered, so it parses
		a.RedirectHost, a.Verified = u.Host, s.verified(u)
	}
	if p.ResponseType != "code" {
		return a, &mnemo.OAuthError{Code: "unsupported_response_type", Description: "response_type must be code", Redirect: a.Verified}
	}
	if a.Challenge == "" || p.CodeChallengeMethod != "S256" {
		return a, &mnemo.OAuthError{Code: "invalid_request", Description: "PKCE with code_challenge_method=S256 is required", Redirect: a.Verified}
	}
	for _, sc := range strings.Fields(a.Scope) {
		if sc != mnemo.ScopeRead && sc != mnemo.ScopeWrite {
			return a, &mnemo.OAuthError{Code: "invalid_scope", Description: "scope may hold read and write", Redirect: a.Verified}
		}
	}
	return a, nil
}

// Authorize checks the key entered on the consent page and returns a code
// bound to it, for the scopes asked that the key has. A suspended tenant
// authorizes nothing.
func (s *Service) Authorize(ctx context.Context, a *mnemo.AuthorizationRequest, apiKey, addr string) (string, error) {
	now := s.now()
	apiKey = strings.TrimSpace(apiKey)
	var key *mnemo.Key
	var t *mnemo.Tenant
	err := s.checkCredential(ctx, apiKey, addr, now, func() (err error) {
		if key, t, err = s.b.Keys.KeyByHash(ctx, mnemo.HashToken(apiKey)); err == nil && !key.Live(now) {
			err = errExpired
		}
		return err
	})
	if err != nil {
		return "", err
	}
	if err := statusError(t, mnemo.ScopeRead); err != nil {
		s.audit(ctx, key.ID, "oauth.authorize", key.TenantID, a.ClientID, err)
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
		ExpiresAt: now.Add(codeTTL), Family: randomToken(16)}); err != nil {
		return "", err
	}
	s.audit(ctx, key.ID, "oauth.authorize", key.TenantID, a.ClientID, nil)
	return code, nil
}

// Token exchanges a code (with its PKCE verifier) or a refresh token for an
// access token and a new refresh token; the code or refresh token is used
// up, and the family's earlier access token stops working. A code or
// refresh token presented again revokes its family.
func (s *Service) Token(ctx context.Context, p mnemo.TokenParams) (*mnemo.TokenPair, error) {
	now := s.now()
	var g *mnemo.OAuthGrant
	var err error
	switch p.GrantType {
	case "authorization_code":
		g, err = s.b.OAuth.ConsumeOAuthGrant(ctx, mnemo.GrantCode, mnemo.HashToken(p.Code), now)
		if err != nil {
			return nil, s.grantError(ctx, err, "the code is unknown, used or expired")
		}
		sum := sha256.Sum256([]byte(p.CodeVerifier))
		verifier := base64.RawURLEncoding.EncodeToString(sum[:])
		if g.ClientID != p.ClientID || g.RedirectURI != p.RedirectURI || subtle.ConstantTimeCompare([]byte(verifier), []byte(g.CodeChallenge)) != 1 {
			return nil, &mnemo.OAuthError{Code: "invalid_grant", Description: "client_id, redirect_uri or code_verifier does not match the authorization"}
		}
	case "refresh_token":
		hash := mnemo.HashToken(p.RefreshToken)
		// A suspended tenant's refresh is refused before the token is used
		// up, so that it works again once the tenant is reinstated.
		if peek, err := s.b.OAuth.OAuthToken(ctx, hash); err == nil && peek.Kind == mnemo.GrantRefresh {
			if _, err := s.grantKey(ctx, peek, now); err != nil {
				return nil, err
			}
		}
		g, err = s.b.OAuth.ConsumeOAuthGrant(ctx, mnemo.GrantRefresh, hash, now)
		if err == nil && g.ClientID != p.ClientID {
			err = mnemo.Errorf(mnemo.EINVALID, "invalid_grant")
		}
		if err != nil {
			return nil, s.grantError(ctx, err, "the refresh token is unknown, used, expired or not this client's")
		}
	default:
		return nil, &mnemo.OAuthError{Code: "unsupported_grant_type", Description: "grant_type must be authorization_code or refresh_token"}
	}
	if _, err := s.grantKey(ctx, g, now); err != nil {
		return nil, err
	}
	pair := &mnemo.TokenPair{AccessToken: mnemo.AccessTokenPrefix + randomToken(32), RefreshToken: mnemo.RefreshTokenPrefix + randomToken(32),
		ExpiresIn: accessTTL, Scopes: g.Scopes}
	access := &mnemo.OAuthGrant{Hash: mnemo.HashToken(pair.AccessToken), Kind: mnemo.GrantAccess, ClientID: g.ClientID, KeyID: g.KeyID,
		Scopes: g.Scopes, ExpiresAt: now.Add(accessTTL), Family: g.Family}
	refresh := &mnemo.OAuthGrant{Hash: mnemo.HashToken(pair.RefreshToken), Kind: mnemo.GrantRefresh, ClientID: g.ClientID, KeyID: g.KeyID,
		Scopes: g.Scopes, ExpiresAt: now.Add(refreshTTL), Family: g.Family}
	err = s.b.OAuth.IssueOAuthTokens(ctx, access, refresh, now)
	if err == nil {
		return pair, nil
	}
	switch mnemo.ErrorCode(err) {
	case mnemo.EINVALID:
		return nil, &mnemo.OAuthError{Code: "invalid_grant", Description: "the authorization was revoked"}
	case mnemo.ENOTFOUND:
		return nil, &mnemo.OAuthError{Code: "invalid_grant", Description: "the key this grant was made with no longer exists"}
	default:
		return nil, err
	}
}

// grantKey returns the key a grant acts for, unless the grant can no
// longer be used: the key is revoked or expired (tokens die with it), or
// its tenant is suspended (nothing is authorized for it meanwhile).
func (s *Service) grantKey(ctx context.Context, g *mnemo.OAuthGrant, now time.Time) (*mnemo.Key, error) {
	key, t, err := s.b.Keys.KeyByID(ctx, g.KeyID)
	if err == nil && !key.Live(now) || mnemo.ErrorCode(err) == mnemo.ENOTFOUND {
		return nil, &mnemo.OAuthError{Code: "invalid_grant", Description: "the key this grant was made with is revoked or expired"}
	}
	if err != nil {
		return nil, err
	}
	if err := statusError(t, mnemo.ScopeRead); err != nil {
		return nil, &mnemo.OAuthError{Code: "invalid_grant", Description: mnemo.ErrorMessage(err)}
	}
	return key, nil
}

// grantError turns a grant that cannot be used into invalid_grant, and
// keeps any other error. A reused one is audited: it means a code or
// refresh token leaked, and everything obtained with it is now revoked.
func (s *Service) grantError(ctx context.Context, err error, desc string) error {
	var reused *mnemo.GrantReusedError
	if errors.As(err, &reused) {
		if key, _, kerr := s.b.Keys.KeyByID(ctx, reused.Grant.KeyID); kerr == nil {
			s.audit(ctx, key.ID, "oauth.reuse", key.TenantID, reused.Grant.ClientID, nil)
		}
		s.logger.Warn("OAuth grant used twice: its family is revoked", "request_id", mnemo.RequestIDFromContext(ctx),
			"client_id", reused.Grant.ClientID, "kind", reused.Grant.Kind)
		return &mnemo.OAuthError{Code: "invalid_grant", Description: "this grant was used before: every token obtained with it is revoked"}
	}
	if mnemo.ErrorCode(err) == mnemo.EINVALID {
		return &mnemo.OAuthError{Code: "invalid_grant", Description: desc}
	}
	return err
}

// Revoke revokes an access or refresh token (RFC 7009) with every token of
// its family: the client is disconnected. An unknown token is not an
// error.
func (s *Service) Revoke(ctx context.Context, token, clientID string) error {
	g, err := s.b.OAuth.OAuthToken(ctx, mnemo.HashToken(strings.TrimSpace(token)))
	if mnemo.ErrorCode(err) == mnemo.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if clientID != "" && clientID != g.ClientID {
		return &mnemo.OAuthError{Code: "invalid_client", Description: "the token was not issued to this client"}
	}
	err = s.b.OAuth.RevokeOAuthFamily(ctx, g.Family)
	if key, _, kerr := s.b.Keys.KeyByID(ctx, g.KeyID); kerr == nil {
		s.audit(ctx, key.ID, "oauth.revoke", key.TenantID, g.ClientID, err)
	}
	return err
}
