package mnemo

import (
	"context"
	"regexp"
	"time"
)

// TenantIDRule is the rule a tenant id must follow; it names files and
// graphs, so it is a security boundary.
const TenantIDRule = "^[a-z0-9][a-z0-9_-]{0,62}$"

var tenantIDPattern = regexp.MustCompile(TenantIDRule)

// ValidateTenantID returns a 400 naming the rule when id is not a valid tenant id.
func ValidateTenantID(id string) error {
	if !tenantIDPattern.MatchString(id) {
		return Errorf(EINVALID, "'tenant_id' must match %s (lower-case letters, digits, '_' and '-', 1-63 characters, starting with a letter or digit)", TenantIDRule)
	}
	return nil
}

// Tenant statuses.
const (
	TenantActive    = "active"
	TenantSuspended = "suspended"
	TenantReadOnly  = "read_only"
)

// Tenant is one customer of the service.
type Tenant struct {
	ID           string
	Name         string
	Status       string
	StatusReason string
	RateLimit    *RateLimit // nil: no limit
	Quotas       Quotas
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Stats        TenantStats
}

// RateLimit is a token bucket: RequestsPerSecond refill, Burst capacity.
type RateLimit struct {
	RequestsPerSecond float64
	Burst             int
}

// Quotas bound what a tenant may store; nil means no limit.
type Quotas struct {
	MaxMemories  *int64
	MaxStorageMB *float64
}

// AuditEvent is one entry of the audit log: who did what to which tenant,
// and how it ended. It never holds a token or memory content.
type AuditEvent struct {
	ID        int64
	At        time.Time
	Actor     string // "admin" or a key id
	TenantID  string
	Action    string // tenant.create, key.revoke, memory.delete, ...
	Target    string // what was acted on: a key id, a memory id, tags
	RequestID string
	Outcome   string // "success" or "error: <code>"
}

// Usage is one counter of one tenant on one UTC day, for billing: requests
// by kind (store, recall, update, delete, associate, admin), memories and
// bytes stored, embedding calls.
type Usage struct {
	TenantID string
	Day      string // YYYY-MM-DD
	Kind     string
	Count    int64
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	TenantID string
	Action   string
	Since    time.Time
	Limit    int
}

// TenantStats are counters kept with the tenant's data, so that listing many
// tenants with their stats opens no tenant database.
type TenantStats struct {
	Memories     int64
	Relations    int64
	Vectors      int64
	StorageBytes int64 // the tenant's files on disk
	// StoredBytes is what the tenant's data takes: content, tags, metadata,
	// vectors and relations. Quotas count it; a delete frees it at once.
	StoredBytes int64
}

// Key scopes.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// Key is a tenant credential. Only the SHA-256 of its token is stored.
type Key struct {
	ID         string
	TenantID   string
	Label      string
	Prefix     string // at most 8 characters of a generated token, 4 of a supplied one
	Scopes     []string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// HasScope reports whether the key grants scope s.
func (k *Key) HasScope(s string) bool {
	for _, x := range k.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// Registry keeps tenants and their keys.
type Registry interface {
	// CreateTenant creates t with a first key whose token hashes to keyHash.
	CreateTenant(ctx context.Context, t *Tenant, key *Key, keyHash []byte) error
	Tenant(ctx context.Context, id string) (*Tenant, error)
	Tenants(ctx context.Context, limit, offset int) ([]*Tenant, int, error)
	// DeleteTenant removes the tenant and its keys; its data is the store's.
	DeleteTenant(ctx context.Context, id string) error
	// Authenticate returns the key and tenant whose token hashes to keyHash.
	Authenticate(ctx context.Context, keyHash []byte) (*Key, *Tenant, error)
	// SetTenantStats records the counters of a tenant's store.
	SetTenantStats(ctx context.Context, id string, s TenantStats) error
}

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
