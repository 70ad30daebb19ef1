package mnemo

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"time"
)

// RegistryArchiver is the registry's half of a logical backup (package
// archive): every record of a registry, dumped by one backend and loaded
// into an empty registry of any backend, so that an archive of a FalkorDB
// deployment restores into an embedded data directory and back.
type RegistryArchiver interface {
	// DumpRegistry yields every record of the registry, in the order
	// LoadRegistry takes them: incarnations, tenants, keys, OAuth clients,
	// OAuth grants (RegistryRecordKinds), then audit events by id, then
	// usage rows by tenant, incarnation, day and kind.
	//
	// Consistent means: incarnations, tenants, keys, OAuth clients and
	// grants come from one consistent read, one instant of the registry,
	// so every key's tenant and every grant's key and client are in the
	// dump, and no key of a deleted tenant is. The audit and usage logs are
	// read after that instant: they hold at least every event and count
	// made up to it (what an implementation buffers included), perhaps some
	// made later, and only rows of the incarnations in the dump (or about
	// no tenant), so a restored registry never holds a row for a tenant it
	// does not know.
	//
	// Left out: idempotency records, which are transient (a kept answer
	// lives a day; a retry against a restored registry runs anew), and
	// tenant stats, which are the tenant stores' counters and come back
	// with their data. An error ends the sequence.
	DumpRegistry(ctx context.Context) iter.Seq2[RegistryRecord, error]
	// LoadRegistry writes records into an empty registry and keeps them
	// exactly: ids, token hashes, times, incarnations, audit ids (the next
	// event appended gets a larger one), used flags. A registry that holds
	// any record is ECONFLICT, and nothing is written. Each record is
	// checked by a RegistryRecordCheck: one that breaks its rules or comes
	// before what it refers to is EINVALID. An error of the sequence ends
	// the load with that error.
	//
	// Loading is not one transaction: after an error the registry holds
	// part of the records, and the caller discards it (an embedded restore
	// loads into a staging directory). Nothing else may write to the
	// registry while it loads.
	LoadRegistry(ctx context.Context, records iter.Seq2[RegistryRecord, error]) error
}

// RegistryRecord is one record of a registry dump: exactly one field is
// set.
type RegistryRecord struct {
	Incarnation *IncarnationRecord
	// Tenant is a tenant without its Stats, which a dump leaves zero and a
	// load ignores.
	Tenant      *Tenant
	Key         *KeyRecord
	OAuthClient *OAuthClientRecord
	OAuthGrant  *OAuthGrantRecord
	Audit       *AuditEvent
	// Usage is one counter; Superseded is a reader's, not part of it.
	Usage *Usage
}

// IncarnationRecord is one life of a tenant id: the open one of a tenant
// that exists, or a closed one (DeletedAt set) whose usage and audit are
// still kept.
type IncarnationRecord struct {
	TenantID    string
	Incarnation int64
	CreatedAt   time.Time
	DeletedAt   *time.Time
}

// KeyRecord is a key with the SHA-256 of its token (HashToken); a dump
// never holds a token.
type KeyRecord struct {
	Key  Key
	Hash []byte
}

// OAuthClientRecord is a client with the time of its last token, which
// decides when an idle client expires.
type OAuthClientRecord struct {
	Client   OAuthClient
	ActiveAt *time.Time
}

// OAuthGrantRecord is a grant with whether it was used: a used code or
// refresh token presented again revokes its family.
type OAuthGrantRecord struct {
	Grant OAuthGrant
	Used  bool
}

// RegistryState is what a dump reads in its one consistent read: the
// records that come before the logs.
type RegistryState struct {
	Incarnations []IncarnationRecord
	Tenants      []*Tenant
	Keys         []KeyRecord
	Clients      []OAuthClientRecord
	Grants       []OAuthGrantRecord
}

// Sort puts the records in the order every backend dumps them, so that two
// backends holding the same registry dump the same: incarnations by tenant
// and number, tenants by creation and id, keys by tenant, creation and id,
// clients by creation and id, grants by hash.
func (s *RegistryState) Sort() {
	slices.SortFunc(s.Incarnations, func(a, b IncarnationRecord) int {
		return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.Incarnation, b.Incarnation))
	})
	slices.SortFunc(s.Tenants, func(a, b *Tenant) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	slices.SortFunc(s.Keys, func(a, b KeyRecord) int {
		return cmp.Or(cmp.Compare(a.Key.TenantID, b.Key.TenantID), a.Key.CreatedAt.Compare(b.Key.CreatedAt), cmp.Compare(a.Key.ID, b.Key.ID))
	})
	slices.SortFunc(s.Clients, func(a, b OAuthClientRecord) int {
		return cmp.Or(a.Client.CreatedAt.Compare(b.Client.CreatedAt), cmp.Compare(a.Client.ID, b.Client.ID))
	})
	slices.SortFunc(s.Grants, func(a, b OAuthGrantRecord) int { return bytes.Compare(a.Grant.Hash, b.Grant.Hash) })
}

// Yield yields the records in dump order (RegistryRecordKinds); false
// when yield stopped the sequence.
func (s *RegistryState) Yield(yield func(RegistryRecord, error) bool) bool {
	for i := range s.Incarnations {
		if !yield(RegistryRecord{Incarnation: &s.Incarnations[i]}, nil) {
			return false
		}
	}
	for _, t := range s.Tenants {
		if !yield(RegistryRecord{Tenant: t}, nil) {
			return false
		}
	}
	for i := range s.Keys {
		if !yield(RegistryRecord{Key: &s.Keys[i]}, nil) {
			return false
		}
	}
	for i := range s.Clients {
		if !yield(RegistryRecord{OAuthClient: &s.Clients[i]}, nil) {
			return false
		}
	}
	for i := range s.Grants {
		if !yield(RegistryRecord{OAuthGrant: &s.Grants[i]}, nil) {
			return false
		}
	}
	return true
}

// RegistryRecordKinds names the kinds of records in the order a dump
// yields them, as archives name them.
var RegistryRecordKinds = []string{"incarnation", "tenant", "key", "oauth_client", "oauth_grant", "audit", "usage"}

// Kind returns the record's kind (one of RegistryRecordKinds), or "" when
// it has no field or several set.
func (r RegistryRecord) Kind() string {
	kind, n := "", 0
	for i, set := range []bool{r.Incarnation != nil, r.Tenant != nil, r.Key != nil, r.OAuthClient != nil,
		r.OAuthGrant != nil, r.Audit != nil, r.Usage != nil} {
		if set {
			kind = RegistryRecordKinds[i]
			n++
		}
	}
	if n != 1 {
		return ""
	}
	return kind
}

// RegistryRecordCheck checks records in the order LoadRegistry receives
// them: each must follow its rules, come in dump order, and refer only to
// records before it (a tenant to its open incarnation, a key to its
// tenant, a grant to its key and client, a usage or audit row to its
// incarnation), and none may repeat. Every backend's LoadRegistry runs one,
// so all refuse the same input; an archive is verified with one before
// anything is written. The zero value is ready; it remembers the ids of
// what it has seen, not the logs.
type RegistryRecordCheck struct {
	n            int
	rank         int
	incarnations map[incarnationKey]bool // open?
	tenants      map[string]bool
	keys         map[string]bool
	keyHashes    map[string]bool
	clients      map[string]bool
	grants       map[string]bool
	lastAudit    int64
	lastUsage    *Usage
}

type incarnationKey struct {
	tenant string
	n      int64
}

// Check checks the next record; its error is EINVALID, naming the record.
func (c *RegistryRecordCheck) Check(r RegistryRecord) error {
	c.n++
	if c.tenants == nil {
		c.incarnations, c.tenants, c.keys, c.keyHashes = map[incarnationKey]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
		c.clients, c.grants = map[string]bool{}, map[string]bool{}
	}
	kind := r.Kind()
	if kind == "" {
		return c.errorf("", "a record must hold exactly one of %v", RegistryRecordKinds)
	}
	rank := slices.Index(RegistryRecordKinds, kind)
	if rank < c.rank {
		return c.errorf(kind, "comes after the %s records; a dump holds %v in this order", RegistryRecordKinds[c.rank], RegistryRecordKinds)
	}
	c.rank = rank
	switch {
	case r.Incarnation != nil:
		return c.incarnation(r.Incarnation)
	case r.Tenant != nil:
		return c.tenant(r.Tenant)
	case r.Key != nil:
		return c.key(r.Key)
	case r.OAuthClient != nil:
		return c.client(r.OAuthClient)
	case r.OAuthGrant != nil:
		return c.grant(r.OAuthGrant)
	case r.Audit != nil:
		return c.audit(r.Audit)
	default:
		return c.usage(r.Usage)
	}
}

func (c *RegistryRecordCheck) errorf(kind, format string, args ...any) error {
	what := fmt.Sprintf("registry record %d", c.n)
	if kind != "" {
		what += " (" + kind + ")"
	}
	return Errorf(EINVALID, "%s %s", what, fmt.Sprintf(format, args...))
}

func (c *RegistryRecordCheck) incarnation(in *IncarnationRecord) error {
	if err := ValidateTenantID(in.TenantID); err != nil {
		return c.errorf("incarnation", "has an invalid tenant id %q", in.TenantID)
	}
	k := incarnationKey{in.TenantID, in.Incarnation}
	switch {
	case in.Incarnation < 1:
		return c.errorf("incarnation", "of tenant %q is numbered %d; incarnations start at 1", in.TenantID, in.Incarnation)
	case in.CreatedAt.IsZero():
		return c.errorf("incarnation", "%d of tenant %q has no creation time", in.Incarnation, in.TenantID)
	}
	if _, dup := c.incarnations[k]; dup {
		return c.errorf("incarnation", "%d of tenant %q repeats an earlier one", in.Incarnation, in.TenantID)
	}
	c.incarnations[k] = in.DeletedAt == nil
	return nil
}

func (c *RegistryRecordCheck) tenant(t *Tenant) error {
	if err := ValidateTenantID(t.ID); err != nil {
		return c.errorf("tenant", "has an invalid id %q", t.ID)
	}
	switch t.Status {
	case TenantActive, TenantSuspended, TenantReadOnly:
	default:
		return c.errorf("tenant", "%q has an unknown status %q", t.ID, t.Status)
	}
	if c.tenants[t.ID] {
		return c.errorf("tenant", "%q repeats an earlier one", t.ID)
	}
	if !c.incarnations[incarnationKey{t.ID, t.Incarnation}] {
		return c.errorf("tenant", "%q is incarnation %d, which no earlier open incarnation record has", t.ID, t.Incarnation)
	}
	if rl := t.RateLimit; rl != nil && (!finite(rl.RequestsPerSecond) || rl.RequestsPerSecond <= 0 || rl.Burst < 1) {
		return c.errorf("tenant", "%q has an invalid rate limit (%v per second, burst %d)", t.ID, rl.RequestsPerSecond, rl.Burst)
	}
	if m := t.Quotas.MaxMemories; m != nil && *m < 0 {
		return c.errorf("tenant", "%q has a negative max_memories", t.ID)
	}
	if mb := t.Quotas.MaxStorageMB; mb != nil && (!finite(*mb) || *mb < 0) {
		return c.errorf("tenant", "%q has an invalid max_storage_mb", t.ID)
	}
	c.tenants[t.ID] = true
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func (c *RegistryRecordCheck) key(k *KeyRecord) error {
	switch {
	case k.Key.ID == "":
		return c.errorf("key", "has no id")
	case c.keys[k.Key.ID]:
		return c.errorf("key", "%q repeats an earlier one", k.Key.ID)
	case !c.tenants[k.Key.TenantID]:
		return c.errorf("key", "%q is of tenant %q, which no earlier tenant record has", k.Key.ID, k.Key.TenantID)
	case len(k.Hash) != 32:
		return c.errorf("key", "%q has a hash of %d bytes; a SHA-256 has 32", k.Key.ID, len(k.Hash))
	case c.keyHashes[string(k.Hash)]:
		return c.errorf("key", "%q has the token hash of an earlier key", k.Key.ID)
	case k.Key.CreatedAt.IsZero():
		return c.errorf("key", "%q has no creation time", k.Key.ID)
	}
	for _, s := range k.Key.Scopes {
		if s != ScopeRead && s != ScopeWrite {
			return c.errorf("key", "%q has an unknown scope %q", k.Key.ID, s)
		}
	}
	c.keys[k.Key.ID], c.keyHashes[string(k.Hash)] = true, true
	return nil
}

func (c *RegistryRecordCheck) client(cl *OAuthClientRecord) error {
	switch {
	case cl.Client.ID == "":
		return c.errorf("oauth_client", "has no id")
	case c.clients[cl.Client.ID]:
		return c.errorf("oauth_client", "%q repeats an earlier one", cl.Client.ID)
	}
	c.clients[cl.Client.ID] = true
	return nil
}

func (c *RegistryRecordCheck) grant(g *OAuthGrantRecord) error {
	switch kind := g.Grant.Kind; {
	case len(g.Grant.Hash) != 32:
		return c.errorf("oauth_grant", "has a hash of %d bytes; a SHA-256 has 32", len(g.Grant.Hash))
	case c.grants[string(g.Grant.Hash)]:
		return c.errorf("oauth_grant", "repeats the hash of an earlier grant")
	case kind != GrantCode && kind != GrantAccess && kind != GrantRefresh:
		return c.errorf("oauth_grant", "has an unknown kind %q", kind)
	case !c.keys[g.Grant.KeyID]:
		return c.errorf("oauth_grant", "is of key %q, which no earlier key record has", g.Grant.KeyID)
	case !c.clients[g.Grant.ClientID]:
		return c.errorf("oauth_grant", "is of client %q, which no earlier oauth_client record has", g.Grant.ClientID)
	case g.Grant.Family == "":
		return c.errorf("oauth_grant", "has no family")
	}
	c.grants[string(g.Grant.Hash)] = true
	return nil
}

func (c *RegistryRecordCheck) audit(e *AuditEvent) error {
	switch {
	case e.ID <= c.lastAudit:
		return c.errorf("audit", "has id %d, not after the previous one (%d): events come by increasing id", e.ID, c.lastAudit)
	case e.TenantID != "" && ValidateTenantID(e.TenantID) != nil:
		return c.errorf("audit", "%d has an invalid tenant id %q", e.ID, e.TenantID)
	case e.Incarnation < 0:
		return c.errorf("audit", "%d has a negative incarnation", e.ID)
	case e.TenantID != "" && e.Incarnation > 0:
		if _, ok := c.incarnations[incarnationKey{e.TenantID, e.Incarnation}]; !ok {
			return c.errorf("audit", "%d is about incarnation %d of %q, which no incarnation record has", e.ID, e.Incarnation, e.TenantID)
		}
	}
	c.lastAudit = e.ID
	return nil
}

func (c *RegistryRecordCheck) usage(u *Usage) error {
	if err := ValidateTenantID(u.TenantID); err != nil {
		return c.errorf("usage", "has an invalid tenant id %q", u.TenantID)
	}
	if _, err := time.Parse(time.DateOnly, u.Day); err != nil {
		return c.errorf("usage", "of %q has day %q; want YYYY-MM-DD", u.TenantID, u.Day)
	}
	if u.Kind == "" {
		return c.errorf("usage", "of %q on %s has no kind", u.TenantID, u.Day)
	}
	if _, ok := c.incarnations[incarnationKey{u.TenantID, u.Incarnation}]; !ok {
		return c.errorf("usage", "of %q on %s is of incarnation %d, which no incarnation record has", u.TenantID, u.Day, u.Incarnation)
	}
	if p := c.lastUsage; p != nil && CompareUsage(*p, *u) >= 0 {
		return c.errorf("usage", "of %q, %d, %s, %s is not after the previous row: rows come ordered by tenant, incarnation, day and kind, once each",
			u.TenantID, u.Incarnation, u.Day, u.Kind)
	}
	c.lastUsage = u
	return nil
}

// CompareUsage orders usage rows by tenant, incarnation, day and kind: the
// order UsageLog.Usage returns them in and a dump yields them in.
func CompareUsage(a, b Usage) int {
	return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.Incarnation, b.Incarnation),
		cmp.Compare(a.Day, b.Day), cmp.Compare(a.Kind, b.Kind))
}
