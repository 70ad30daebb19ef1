package mnemo

import (
	"regexp"
	"strconv"
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
	// Incarnation tells apart the tenants that had this id: 1 for the
	// first, one more each time the id is created again after a delete.
	// Usage and audit rows carry it, so a new customer is never billed for
	// an old one.
	Incarnation int64
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
	// Incarnation is the tenant's when the event happened (0: no tenant
	// had the id, or the event is about none).
	Incarnation int64
}

// Usage is one counter of one tenant on one UTC day, for billing: requests
// by kind (store, recall, update, delete, associate, admin), memories and
// bytes stored, embedding calls.
type Usage struct {
	TenantID string
	// Incarnation is the tenant's (see Tenant); 0 when adding means the
	// id's latest.
	Incarnation int64
	Day         string // YYYY-MM-DD
	Kind        string
	Count       int64
	// Superseded is set by reads when a later incarnation of the id exists.
	Superseded bool
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	TenantID string
	// Incarnation selects one incarnation of TenantID; 0 selects the id's
	// latest when TenantID is set.
	Incarnation int64
	Action      string
	Since       time.Time
	Limit       int
}

// TenantStats are counters kept with the tenant's data, so that listing many
// tenants with their stats opens no tenant database.
type TenantStats struct {
	Memories     int64
	Relations    int64
	Vectors      int64
	StorageBytes int64 // the tenant's files on disk
	// StoredBytes is what the tenant's data takes: every row and index
	// entry its memories make (content, tags and each tag's prefixes,
	// metadata, the full-text index, vectors) and its relations. It follows
	// the data's size on disk within about 15%, whatever the data's shape.
	// Quotas count it; a delete frees it at once.
	StoredBytes int64
	// GraphNodes and GraphRelationships are counted in a graph backend's
	// tenant graph: every node and edge but mnemo's own bookkeeping, so an
	// adopted AutoMem graph's other nodes count (0 in a backend without a
	// graph, and in a tenant list: memories and relations stand in).
	GraphNodes, GraphRelationships int64
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

// Live reports whether the key works at now: not revoked and not expired.
func (k *Key) Live(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// Check is the quota rule: a write that takes a tenant's store from before
// to after is refused (EFORBIDDEN) when it adds memories beyond
// MaxMemories, or bytes beyond MaxStorageMB. A write that adds nothing of a
// kind is never refused for it, so a lowered quota keeps what the tenant
// holds and deletes always pass. Stores call it inside the write's
// transaction, so concurrent writes cannot both pass a check only one fits.
func (q Quotas) Check(before, after TenantStats) error {
	if m := q.MaxMemories; m != nil {
		if added := after.Memories - before.Memories; added > 0 && after.Memories > *m {
			return &QuotaError{Errorf(EFORBIDDEN, "Quota exceeded: max_memories is %d; the tenant holds %d and this request adds %d",
				*m, before.Memories, added)}
		}
	}
	if mb := q.MaxStorageMB; mb != nil {
		limit := int64(*mb * (1 << 20))
		if added := after.StoredBytes - before.StoredBytes; added > 0 && after.StoredBytes > limit {
			return &QuotaError{Errorf(EFORBIDDEN, "Quota exceeded: max_storage_mb is %s (%d bytes); the tenant stores %d bytes and this request adds %d",
				strconv.FormatFloat(*mb, 'f', -1, 64), limit, before.StoredBytes, added)}
		}
	}
	return nil
}

// IsZero reports whether q limits nothing.
func (q Quotas) IsZero() bool { return q.MaxMemories == nil && q.MaxStorageMB == nil }

// QuotaError is a write refused by a quota: an EFORBIDDEN *Error that can
// be told apart, for counting refusals.
type QuotaError struct{ Err *Error }

func (e *QuotaError) Error() string { return e.Err.Error() }
func (e *QuotaError) Unwrap() error { return e.Err }
