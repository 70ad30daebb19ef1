package mnemo

import (
	"context"
	"io"
	"net/url"
	"time"
)

// The services below are what the application does. Transports (http/,
// mcp/) decode a request, call one service method and encode its answer;
// every rule (authentication, scopes, tenant status, rate limits,
// concurrency caps, quotas, idempotency, usage, audit, validation) lives
// once, in the package that implements them (service/).
//
// A tenant request goes through three steps, in this order:
//
//  1. AuthService.Authenticate turns the credential into a Caller;
//  2. Gate.Admit lets the request in (scope, status, rate limit,
//     concurrency cap) and returns a context that carries it;
//  3. one method of MemoryService or RecallService does the work, for the
//     tenant of the request in that context, and nothing else.
//
// The methods of steps 3 refuse a context without an admitted request
// (EUNAUTHORIZED), or one admitted for a kind whose scope does not allow
// them (EFORBIDDEN). No method takes a tenant id: the tenant is the
// caller's.

// Caller is whom a tenant request acts for: a key and its tenant.
type Caller struct {
	Key    *Key
	Tenant *Tenant
}

// Request kinds say what a tenant request does: they set the scope it
// needs and the usage counter it adds to.
const (
	KindStore     = "store"     // write: store, batch store, supersede
	KindUpdate    = "update"    // write: update a memory
	KindDelete    = "delete"    // write: delete by id or by tag
	KindAssociate = "associate" // write: create relations
	KindRecall    = "recall"    // read: recall, get, list, related, analyze
	// KindMCP is one HTTP request to /mcp: it needs either scope, and
	// counts no usage of its own; the tool calls it carries are admitted
	// within it for their own kinds (see Gate.Admit).
	KindMCP = "mcp"
)

// Usage kinds beyond the request kinds: what requests stored or cost.
const (
	UsageAdmin          = "admin" // operator requests about one tenant
	UsageMemoriesStored = "memories_stored"
	UsageBytesStored    = "bytes_stored"
	UsageEmbeddingCalls = "embedding_calls"
)

// ScopeOf returns the scope a request kind needs; "" for KindMCP, which
// needs either.
func ScopeOf(kind string) string {
	switch kind {
	case KindRecall:
		return ScopeRead
	case KindMCP:
		return ""
	}
	return ScopeWrite
}

// AuthService turns credentials into callers. It counts the failed
// attempts of each client address and refuses an address that fails too
// often (ETOOMANY with RetryAfter), before looking at its credential.
type AuthService interface {
	// Authenticate resolves a tenant key, or an OAuth access token, that a
	// client presented from addr. EUNAUTHORIZED for none, or an unknown,
	// revoked or expired one.
	Authenticate(ctx context.Context, token, addr string) (*Caller, error)
	// AuthenticateAdmin checks the operator's token. EFORBIDDEN when no
	// admin token is configured, EUNAUTHORIZED for a wrong one.
	AuthenticateAdmin(ctx context.Context, token, addr string) error
}

// RateStatus is a tenant's token bucket after a request, for the
// X-RateLimit headers.
type RateStatus struct {
	Limit     int           // the bucket's capacity (burst)
	Remaining int           // whole tokens left
	Reset     time.Duration // until the bucket has a token more
}

// Admission is an admitted tenant request. End must be called once, when
// the answer is ready and before it is sent: it frees the request's
// concurrency slot and records its usage, which is then readable.
type Admission struct {
	// Rate is the tenant's bucket after this request; nil when the tenant
	// has no rate limit.
	Rate *RateStatus
	End  func()
}

// Gate admits tenant requests.
type Gate interface {
	// Admit lets one request of kind in for c, checking in order: the
	// key's scope for kind (EFORBIDDEN), the tenant's status (ELOCKED when
	// suspended, or read-only and kind writes), its rate limit and its
	// concurrency cap (ETOOMANY with RetryAfter). On success the returned
	// context carries the request for the service methods. On a refusal by
	// the rate limit the Admission is returned too, for its Rate, with an
	// End that does nothing.
	//
	// An MCP request is admitted as KindMCP for each HTTP request to /mcp,
	// whatever it carries (initialize, a notification, a tool call, the
	// event stream): status, rate limit and concurrency cap hold for every
	// one, and it counts no usage. A tool call is then admitted for its own
	// kind with the context of that admission: its scope and the tenant's
	// status are checked again and it counts its usage, but the first one
	// in an HTTP request takes no second rate-limit token or concurrency
	// slot (the HTTP request took them); any further one in the same HTTP
	// request (a JSON-RPC batch) takes its own. So a tool call is one
	// request for the rate limit and one for usage.
	Admit(ctx context.Context, c *Caller, kind string) (context.Context, *Admission, error)
	// OpenSession admits a new MCP session for c, within the caps on open
	// sessions per tenant and in all (ETOOMANY). release must be called
	// once, when the session ends. Sessions live in the process that
	// serves them, and so does their count.
	OpenSession(ctx context.Context, c *Caller) (release func(), err error)
	// Once runs write at most once per Idempotency-Key and tenant: when an
	// earlier request with key and the same fingerprint has answered, it
	// returns that answer with replayed=true, runs nothing, and the
	// admitted request in ctx counts no usage. The same key with another
	// fingerprint is EUNPROCESSABLE, and while its first request is still
	// running ECONFLICT (both count no usage); a key over 255 characters
	// is EINVALID. An answer with a status of 500 or more is not kept: the
	// write failed, and a retry runs again. Answers are kept for 24 hours.
	Once(ctx context.Context, key string, fingerprint []byte, write func() IdempotentAnswer) (answer IdempotentAnswer, replayed bool, err error)
}

// MemoryService is what a tenant does with its memories. Writes are
// atomic: a refused or failed write changes nothing. A write that would
// take the tenant over a quota is EFORBIDDEN naming the quota and the
// numbers. Bad input is EINVALID naming the field and the rule.
type MemoryService interface {
	// StoreMemory validates one memory (the fields of AutoMem's POST
	// /memory), embeds it and stores it. When the embedder fails the memory
	// is stored without a vector, which the backfill computes later.
	StoreMemory(ctx context.Context, fields map[string]any) (*StoreResult, error)
	// StoreMemories stores a batch (AutoMem's POST /memory/batch), all or
	// nothing.
	StoreMemories(ctx context.Context, items []any) (*BatchResult, error)
	// Supersede stores a memory that replaces the memory old, in one
	// transaction: the new memory, old marked invalid from now (t_invalid,
	// and metadata deprecated, superseded_by, supersede_relation and
	// supersede_reason), and the relation old -[relation]-> new, which is
	// INVALIDATED_BY or EVOLVED_INTO. ENOTFOUND when old does not exist.
	Supersede(ctx context.Context, fields map[string]any, old string, relation RelationType, reason string) (*StoreResult, error)
	// Memory returns one memory and records the access.
	Memory(ctx context.Context, id string) (*MemoryResult, error)
	// UpdateMemory applies the fields of AutoMem's PATCH /memory/{id}; a
	// changed content is embedded again.
	UpdateMemory(ctx context.Context, id string, fields map[string]any) (*UpdateResult, error)
	// DeleteMemory deletes one memory with its vector and relations.
	DeleteMemory(ctx context.Context, id string) (*DeleteResult, error)
	// MemoriesByTag lists memories with any of tags (exact, case-
	// insensitive), most important first, and records the access.
	MemoriesByTag(ctx context.Context, tags []string, limit, offset int) (*TagResult, error)
	// DeleteByTag deletes every memory with any of tags.
	DeleteByTag(ctx context.Context, tags []string) (*DeleteByTagResult, error)
	// Associate creates or updates one relation (AutoMem's POST
	// /associate); both memories must exist.
	Associate(ctx context.Context, fields map[string]any) (*AssociateResult, error)
	// AssociateMany creates the valid relations of a batch and reports the
	// others per item; an out-of-range strength refuses the whole batch.
	AssociateMany(ctx context.Context, items []any) (*AssociateManyResult, error)
}

// RecallService finds a tenant's memories again. Its methods record the
// access of what they return.
type RecallService interface {
	// Recall runs AutoMem's GET /recall with its query parameters.
	Recall(ctx context.Context, params url.Values) (*RecallResult, error)
	// Related walks the relations of a memory (AutoMem's GET
	// /memories/{id}/related), at most a bounded number of rows.
	Related(ctx context.Context, id string, params url.Values) (*RelatedResult, error)
	// StartupRecall returns the lessons and rules AutoMem shows at the
	// start of a session.
	StartupRecall(ctx context.Context) (*StartupResult, error)
	// Analyze summarises the tenant's newest memories.
	Analyze(ctx context.Context) (*AnalyzeResult, error)
}

// HealthService reports the service's state.
type HealthService interface {
	// Health is AutoMem's /health. With a caller it adds that tenant's
	// counts; without one it names no tenant.
	Health(ctx context.Context, c *Caller) *HealthResult
	// AdminHealth is Health for the operator: it names the damaged
	// tenants.
	AdminHealth(ctx context.Context) *HealthResult
	// StorePool reports the backend's pool of open tenant stores (zero
	// when the backend keeps none).
	StorePool() StorePool
	// Refusals counts the requests each limit has refused since start, by
	// reason: rate_limit, quota, concurrency, auth_throttle,
	// oauth_registration, mcp_sessions.
	Refusals() map[string]int64
}

// TenantService is the operator's view of tenants. Every change is
// audited with its outcome; the audit's actor is "admin".
type TenantService interface {
	// CreateTenant creates a tenant (fields tenant_id, name, api_token)
	// with its first key and its empty store, or nothing. api_token is the
	// client's own, or absent for a generated one; either is returned once.
	CreateTenant(ctx context.Context, fields map[string]any) (*CreatedTenant, error)
	// Tenant returns one tenant with its stats.
	Tenant(ctx context.Context, id string) (*Tenant, error)
	// Tenants returns a page of tenants, oldest first, and the total.
	Tenants(ctx context.Context, limit, offset int) ([]*Tenant, int, error)
	// UpdateTenant applies the fields of PATCH /admin/tenants/{id} (name,
	// status, status_reason, rate_limit, quotas), all validated before any
	// is applied. Limits apply from the next request.
	UpdateTenant(ctx context.Context, id string, fields map[string]any) (*Tenant, error)
	// DeleteTenant removes a tenant: its keys stop working first, then its
	// data goes.
	DeleteTenant(ctx context.Context, id string) error
}

// KeyService manages a tenant's keys for the operator.
type KeyService interface {
	// CreateKey adds a key (fields label, scopes, expires_at) with a
	// generated token, returned once.
	CreateKey(ctx context.Context, tenantID string, fields map[string]any) (*CreatedKey, error)
	// Keys lists a tenant's keys, revoked ones included.
	Keys(ctx context.Context, tenantID string) ([]*Key, error)
	// RevokeKey revokes a key; its next request is EUNAUTHORIZED.
	RevokeKey(ctx context.Context, tenantID, keyID string) error
}

// ReportService reads the audit log and usage for the operator.
type ReportService interface {
	// Audit returns the events f selects, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
	// TenantAudit returns one tenant's events that f selects; a deleted
	// tenant's stay.
	TenantAudit(ctx context.Context, tenantID string, f AuditFilter) ([]*AuditEvent, error)
	// Usage returns the counters of days from to to (YYYY-MM-DD), of one
	// incarnation of a tenant id (0: the latest) or, with tenantID "", of
	// all; a deleted tenant's stay for the usage retention.
	Usage(ctx context.Context, tenantID string, incarnation int64, from, to string) ([]Usage, error)
}

// PortabilityService moves data in and out. The actions are audited.
type PortabilityService interface {
	// Export writes the tenant as mnemo's NDJSON export (package export)
	// from one consistent snapshot. begin is called with the file's name
	// once the export can start, before anything is written to w.
	Export(ctx context.Context, tenantID string, withVectors bool, w io.Writer, begin func(filename string)) error
	// Import validates a whole export read from r and writes it in one
	// transaction, or writes nothing: any problem is EINVALID naming the
	// line and the field. A memory already there is skipped, so an import
	// can be repeated. The tenant's quotas hold.
	Import(ctx context.Context, tenantID string, r io.Reader) (*ImportResult, error)
	// Backup writes an archive of everything the service stores; begin is
	// called with its file name before anything is written to w.
	Backup(ctx context.Context, w io.Writer, begin func(filename string)) (BackupResult, error)
}

// OAuthService is mnemo's OAuth 2.1 authorization server for MCP
// connectors: public clients, the authorization code flow with PKCE, and
// refresh tokens. A customer authorizes a client by entering a tenant key;
// the tokens act as that key within the scopes granted and die with it.
type OAuthService interface {
	// RegisterClient is dynamic client registration (RFC 7591) of a public
	// client from addr: at most OAuthConfig.RegistrationsPerMinute per
	// address (ETOOMANY), and metadata within the Max* limits of
	// oauth.go (an *OAuthError otherwise).
	RegisterClient(ctx context.Context, fields map[string]any, addr string) (*OAuthClient, error)
	// CheckAuthorization validates an authorization request. An
	// *OAuthError with Redirect false must be shown to the user, never
	// sent to the redirect URI, which is not known to be the client's or
	// is not one the operator trusts.
	CheckAuthorization(ctx context.Context, p AuthorizationParams) (*AuthorizationRequest, error)
	// Authorize checks the tenant key the customer entered for an
	// authorization request from addr and returns a code bound to it.
	// EUNAUTHORIZED for a wrong key, ETOOMANY when addr is throttled,
	// ELOCKED when the tenant is suspended.
	Authorize(ctx context.Context, req *AuthorizationRequest, apiKey, addr string) (code string, err error)
	// Token exchanges a code and its PKCE verifier, or a refresh token,
	// for an access token and a new refresh token (the old one is used
	// up, the earlier access token revoked). A code or refresh token
	// presented twice revokes every token of its authorization. Errors
	// are *OAuthError.
	Token(ctx context.Context, p TokenParams) (*TokenPair, error)
	// Revoke revokes an access or refresh token and every token of its
	// authorization (RFC 7009). An unknown token is not an error; one
	// issued to another client than a non-empty clientID is an
	// *OAuthError.
	Revoke(ctx context.Context, token, clientID string) error
}
