package mnemo

import "time"

// OAuthClient is an MCP connector (Claude.ai, ChatGPT...) registered with
// mnemo's OAuth server. Clients are public: they prove themselves with PKCE.
type OAuthClient struct {
	ID           string
	Name         string
	RedirectURIs []string
	CreatedAt    time.Time
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
}

// OAuth token prefixes: an access token is told from a tenant key by its
// prefix, so authentication looks in the right place.
const (
	AccessTokenPrefix  = "mnemo_at_"
	RefreshTokenPrefix = "mnemo_rt_"
	CodePrefix         = "mnemo_ac_"
)

// AuthorizationParams are the parameters of an authorization request.
type AuthorizationParams struct {
	ClientID, RedirectURI, ResponseType, State, CodeChallenge, CodeChallengeMethod, Scope string
}

// AuthorizationRequest is an authorization request that passed its checks.
type AuthorizationRequest struct {
	ClientID, ClientName, RedirectURI, State, Challenge, Scope string
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
	// redirect URI; false when the URI is not known to be the client's,
	// and the error must be shown to the user instead.
	Redirect bool
}

func (e *OAuthError) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}
