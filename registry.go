package mnemo

import (
	"context"
	"io"
	"time"
)

// The seams below are what the application needs of shared state: the
// registry of tenants and keys, the audit and usage logs, idempotency
// records, OAuth state and the fair-use limiters. The embedded backend
// (sqlite/, with local/ for the limiters) implements them for one process;
// a shared backend implements them for many replicas. Every method takes
// a context so that a networked implementation can honour deadlines.

// TenantRegistry keeps the tenants.
type TenantRegistry interface {
	// CreateTenant creates t with its first key, whose token hashes to
	// keyHash, in one step: a tenant never exists without a way in. A taken
	// id or token is ECONFLICT and creates nothing.
	CreateTenant(ctx context.Context, t *Tenant, key *Key, keyHash []byte) error
	// Tenant returns one tenant with its stats, or ENOTFOUND.
	Tenant(ctx context.Context, id string) (*Tenant, error)
	// Tenants returns a page of tenants, oldest first, and how many there
	// are in all. Stats come from counters; no tenant store is opened.
	Tenants(ctx context.Context, limit, offset int) ([]*Tenant, int, error)
	// UpdateTenant writes t's name, status, status reason, rate limit,
	// quotas and updated_at; ENOTFOUND when it does not exist.
	UpdateTenant(ctx context.Context, t *Tenant) error
	// DeleteTenant removes the tenant with its keys, their OAuth grants and
	// its idempotency records, in one step: its tokens stop working when it
	// returns. Its data is the Stores'; its audit and usage stay, for the
	// last bill. ENOTFOUND when it does not exist.
	DeleteTenant(ctx context.Context, id string) error
}

// KeyRegistry keeps the tenants' keys, by the SHA-256 of their tokens.
type KeyRegistry interface {
	// AddKey adds key to its tenant: ECONFLICT when the token is in use,
	// ENOTFOUND when the tenant does not exist.
	AddKey(ctx context.Context, key *Key, keyHash []byte) error
	// Keys lists a tenant's keys, revoked ones included, oldest first.
	Keys(ctx context.Context, tenantID string) ([]*Key, error)
	// RevokeKey revokes one key of a tenant at at; it stops working when
	// this returns. ENOTFOUND for an unknown key, another tenant's key or
	// one already revoked.
	RevokeKey(ctx context.Context, tenantID, keyID string, at time.Time) error
	// KeyByHash returns the unrevoked key whose token hashes to keyHash,
	// with its tenant, or EUNAUTHORIZED. The hash is compared in constant
	// time. Expiry is the caller's to check, with its own clock (Key.Live).
	KeyByHash(ctx context.Context, keyHash []byte) (*Key, *Tenant, error)
	// KeyByID returns a key, revoked or not, with its tenant; ENOTFOUND.
	KeyByID(ctx context.Context, id string) (*Key, *Tenant, error)
	// TouchKey records a key's last use. It is informational: an
	// implementation may write it later, and may lose it in a crash.
	TouchKey(ctx context.Context, keyID string, at time.Time) error
}

// AuditLog keeps who did what to which tenant.
type AuditLog interface {
	// AppendAudit records e durably before it returns, and sets e.ID.
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// Audit returns the events f selects, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
}

// UsageLog keeps usage counters per tenant, UTC day and kind, for billing.
type UsageLog interface {
	// AddUsage adds counts. They are visible to Usage when it returns;
	// an implementation may write them in batches, losing at most its
	// flush interval in a crash and nothing in a clean shutdown.
	AddUsage(ctx context.Context, rows []Usage) error
	// Usage returns the counters of days from to to (YYYY-MM-DD,
	// inclusive), of one incarnation of a tenant id (0: its latest) or, when
	// tenantID is "", of every incarnation of every id, ordered by tenant,
	// incarnation, day and kind.
	Usage(ctx context.Context, tenantID string, incarnation int64, from, to string) ([]Usage, error)
}

// PruneCutoffs say which records a pruning pass removes: those older than
// their cutoff. A zero cutoff keeps that kind of record forever.
type PruneCutoffs struct {
	Audit       time.Time // events that happened before
	UsageDay    string    // usage of days before (YYYY-MM-DD)
	Idempotency time.Time // kept answers created before
	OAuthGrants time.Time // grants expired before
	// UnusedOAuthClients: clients that never obtained a token, registered
	// before; IdleOAuthClients: clients with no grant left, last active
	// before.
	UnusedOAuthClients, IdleOAuthClients time.Time
	// Incarnations: the record of a deleted tenant's incarnation, deleted
	// before, once no usage or audit row refers to it.
	Incarnations time.Time
}

// RecordPruner removes the records whose lifetime is over.
type RecordPruner interface {
	// Prune removes every record past its cutoff, in transactions of at
	// most batch rows, so that it never holds the registry's writer long.
	// It returns how many rows of each kind it removed.
	Prune(ctx context.Context, c PruneCutoffs, batch int) (map[string]int64, error)
	// CleanOrphans removes what refers to something that no longer exists
	// (keys of a deleted tenant, grants of a deleted key or client, kept
	// answers of a deleted tenant) and closes the incarnation of a tenant
	// deleted without it, at now. It returns how many rows of each kind it
	// removed or closed.
	CleanOrphans(ctx context.Context, now time.Time) (map[string]int64, error)
}

// IdempotentAnswer is the kept answer to a write sent with an
// Idempotency-Key. The application treats it as opaque: Status is the
// transport's status code, Body its encoded answer.
type IdempotentAnswer struct {
	Status int
	Body   []byte
}

// IdempotencyStore keeps the answers of writes sent with an
// Idempotency-Key, per tenant.
type IdempotencyStore interface {
	// ReserveIdempotency claims key for a request with fingerprint. It
	// returns reserved=true when this request now owns the key and must
	// run; otherwise the earlier answer, or a nil answer while the earlier
	// request is still running. A key kept with another fingerprint is
	// EUNPROCESSABLE. Answers older than ttl are forgotten, and a
	// reservation older than abandon whose request never answered (the
	// process died) is taken over.
	ReserveIdempotency(ctx context.Context, tenantID, key string, fingerprint []byte, now time.Time, ttl, abandon time.Duration) (reserved bool, answer *IdempotentAnswer, err error)
	// CompleteIdempotency keeps the answer of a reserved key.
	CompleteIdempotency(ctx context.Context, tenantID, key string, answer IdempotentAnswer) error
	// ReleaseIdempotency forgets a reservation, so that a retry runs again.
	ReleaseIdempotency(ctx context.Context, tenantID, key string) error
}

// OAuthStore keeps OAuth clients and grants. Grants are stored as hashes
// of their secrets and die with the key they were made for.
type OAuthStore interface {
	// RegisterOAuthClient stores a new client. In the same step it removes
	// the clients never used to obtain a token that were registered before
	// unusedBefore, with their codes; then, when max clients (0: no cap)
	// remain, the oldest never-used ones to make room. ETOOMANY, and
	// nothing stored, when max clients have all been used.
	RegisterOAuthClient(ctx context.Context, c *OAuthClient, unusedBefore time.Time, max int) error
	// OAuthClient returns a client, or ENOTFOUND.
	OAuthClient(ctx context.Context, id string) (*OAuthClient, error)
	// SaveOAuthGrant stores a code. ENOTFOUND when its key no longer
	// exists.
	SaveOAuthGrant(ctx context.Context, g *OAuthGrant) error
	// ConsumeOAuthGrant returns an unexpired, unused grant of kind and
	// marks it used, in one step: a code or a refresh token works once.
	// One presented again while unexpired revokes its whole family (every
	// grant with its Family) in the same step, and is a *GrantReusedError.
	// EINVALID otherwise.
	ConsumeOAuthGrant(ctx context.Context, kind string, hash []byte, now time.Time) (*OAuthGrant, error)
	// IssueOAuthTokens stores an access and a refresh token of one family,
	// in one step: they replace the family's earlier access tokens (a
	// family has one live access token), and their client is marked used
	// at now. EINVALID when the family has been revoked meanwhile (a
	// reused grant, a revocation), ENOTFOUND when the key no longer exists.
	// Expired grants are the RecordPruner's to remove.
	IssueOAuthTokens(ctx context.Context, access, refresh *OAuthGrant, now time.Time) error
	// AccessGrant returns the access token with hash, or EUNAUTHORIZED.
	// An expired token is returned too: expiry is the caller's to check,
	// with its own clock, and an expired token is not a guess.
	AccessGrant(ctx context.Context, hash []byte, now time.Time) (*OAuthGrant, error)
	// OAuthToken returns the access or refresh token with hash, expired or
	// used ones included, for revocation; ENOTFOUND.
	OAuthToken(ctx context.Context, hash []byte) (*OAuthGrant, error)
	// RevokeOAuthFamily removes every grant of a family: its tokens stop
	// working when it returns. Revoking an unknown family does nothing.
	RevokeOAuthFamily(ctx context.Context, family string) error
}

// BackupResult says what a backup archive holds.
type BackupResult struct {
	Tenants int
	// Vanished are tenants deleted while the backup ran: left out.
	Vanished []string
	// Skipped are tenants whose store could not be read (damaged): their
	// data is left out, with why; they stay in the archived registry, so a
	// restore keeps their keys and marks them damaged.
	Skipped []DamagedStore
}

// Backuper writes a consistent archive of everything the service stores
// while it keeps serving; `mnemo restore` reads it back.
type Backuper interface {
	// Backup writes the archive to w. Nothing is written to w before the
	// archive can be made, so a caller can still report an early error.
	Backup(ctx context.Context, w io.Writer, now time.Time) (BackupResult, error)
}

// RateDecision is a rate limiter's answer for one request.
type RateDecision struct {
	Allowed bool
	// Remaining is the number of whole tokens left after this request.
	Remaining int
	// Wait is how long until a token is back, when refused.
	Wait time.Duration
}

// RateLimiter keeps a token bucket per tenant.
type RateLimiter interface {
	// Allow takes a token from the tenant's bucket for limit, or says how
	// long to wait for one. A bucket whose limit changed starts afresh.
	Allow(ctx context.Context, tenantID string, limit RateLimit, now time.Time) (RateDecision, error)
	// Debit takes n more tokens for a request that turned out heavier than
	// one (at most the burst): the bucket may go into debt, which the
	// tenant's next requests wait out.
	Debit(ctx context.Context, tenantID string, limit RateLimit, n int, now time.Time) error
	// ResetRate forgets the tenant's bucket: a deleted tenant's id, created
	// again, starts with a full one.
	ResetRate(ctx context.Context, tenantID string) error
}

// ConcurrencyLimiter caps the requests a tenant has in flight.
type ConcurrencyLimiter interface {
	// Acquire takes one of the tenant's max slots without waiting; ok is
	// false when all are taken. release must be called once when done.
	Acquire(ctx context.Context, tenantID string, max int) (release func(), ok bool, err error)
}

// RegistrationLimiter counts OAuth client registrations per client
// address: registration needs no key, so the address is all there is to
// limit it by.
type RegistrationLimiter interface {
	// AllowRegistration counts one registration from addr and reports
	// whether it is among the first max of the current window; if not,
	// how long until the window ends. An implementation whose table of
	// addresses is full refuses new addresses rather than forgetting old
	// ones, so cycling addresses cannot reset anyone's count.
	AllowRegistration(ctx context.Context, addr string, max int, now time.Time) (ok bool, wait time.Duration, err error)
}

// AuthThrottle counts failed authentications per key: the service keys
// them by client address and by token prefix. Only failures are counted.
type AuthThrottle interface {
	// Throttled reports whether key has failed max times within the
	// current window, and how long until the window ends.
	Throttled(ctx context.Context, key string, max int, now time.Time) (bool, time.Duration, error)
	// Failed counts one failed authentication against key. An
	// implementation that bounds its memory forgets keys under max before
	// keys that reached it, so that cycling through keys cannot lift a
	// throttle.
	Failed(ctx context.Context, key string, max int, now time.Time) error
}

// Leases let one process at a time run a piece of background work, such as
// one tenant's embedding backfill, when several replicas share the state.
type Leases interface {
	// TryLease takes the lease name for ttl when nobody holds it, and
	// returns it; ok is false, and nothing changes, while another holder's
	// lease is live. A holder that dies loses its lease when ttl passes.
	TryLease(ctx context.Context, name string, ttl time.Duration) (lease Lease, ok bool, err error)
}

// Lease is a lease held.
type Lease interface {
	// Renew extends the lease by its ttl from now. It fails with
	// ECONFLICT, and the holder must stop, when the lease was lost (it
	// expired and someone else took it).
	Renew(ctx context.Context) error
	// Release gives the lease up at once, if it is still this holder's.
	Release(ctx context.Context) error
}
