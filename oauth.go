package mnemo

import "time"

// OAuthClient is an MCP connector (Claude.ai, ChatGPT...) registered with
// mnemo's OAuth server. Clients are public: they prove themselves with PKCE.
type OAuthClient struct {
	ID           string
	Name         string
	RedirectURIs []string
	CreatedAt    time.Time
	// UsedAt is when the client first obtained a token; nil while it never
	// has. Anyone may register, so a client never used expires.
	UsedAt *time.Time
}

// OAuth grant kinds.
const (
	GrantCode    = "code"
	GrantAccess  = "access"
	GrantRefresh = "refresh"
)

// OAuthGrant is an authorization code, access token or refresh token,
// stored as the hash of its secret and bound to the tenant key the customer
// entered on the consent page.
type OAuthGrant struct {
	Hash          []byte
	Kind          string
	ClientID      string
	KeyID         string
	Scopes        []string
	RedirectURI   string
	CodeChallenge string
	ExpiresAt     time.Time
	// Family is the authorization the grant comes from: a code and every
	// token obtained from it, or by refreshing those, share it, so that a
	// code or refresh token used twice (one of the two is a thief) revokes
	// them all.
	Family string
}

// GrantReusedError is a code or refresh token presented after it was used:
// its family is revoked. It wraps an EINVALID *Error, and carries the
// grant so that the refusal can be audited against its tenant.
type GrantReusedError struct {
	Err   *Error
	Grant *OAuthGrant
}

func (e *GrantReusedError) Error() string { return e.Err.Error() }
func (e *GrantReusedError) Unwrap() error { return e.Err }

// OAuth token prefixes: an access token is told from a tenant key by its
// prefix, so authentication looks in the right place.
const (
	AccessTokenPrefix  = "mnemo_at_"
	RefreshTokenPrefix = "mnemo_rt_"
	CodePrefix         = "mnemo_ac_"
)

// Limits of dynamic client registration. Anyone may register, without a
// key, so what a registration stores is small; fields other than these are
// neither stored nor echoed.
const (
	// MaxClientMetadataBytes bounds a registration's body (413 beyond).
	MaxClientMetadataBytes = 16 << 10
	// MaxClientNameBytes bounds client_name.
	MaxClientNameBytes = 200
	// MaxRedirectURIs bounds the number of redirect_uris.
	MaxRedirectURIs = 10
	// MaxRedirectURIBytes bounds each redirect URI.
	MaxRedirectURIBytes = 1024
)

// AuthorizationParams are the parameters of an authorization request.
type AuthorizationParams struct {
	ClientID, RedirectURI, ResponseType, State, CodeChallenge, CodeChallengeMethod, Scope string
}

// AuthorizationRequest is an authorization request that passed its checks.
type AuthorizationRequest struct {
	ClientID, ClientName, RedirectURI, State, Challenge, Scope string
	// RedirectHost is where the code goes: the consent page names it.
	RedirectHost string
	// Verified is true when the redirect host is on the operator's
	// allow-list (or is this computer): only then may an error be sent
	// there, and the consent page marks every other client unverified.
	Verified bool
}

// TokenParams are the parameters of a token request.
type TokenParams struct {
	GrantType, Code, CodeVerifier, ClientID, RedirectURI, RefreshToken string
}

// TokenPair is what a token request returns.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	Scopes       []string
}

// OAuthError is an error of the OAuth protocol (RFC 6749 §4.1.2.1, §5.2):
// Code is its error code, such as invalid_grant.
type OAuthError struct {
	Code        string
	Description string
	// Redirect is true when the error may be sent to the client's
	// redirect URI; false when the URI is not known to be the client's or
	// is not on the operator's allow-list, and the error must be shown to
	// the user instead.
	Redirect bool
}

func (e *OAuthError) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}
