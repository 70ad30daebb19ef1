package mnemo

import (
	"context"
	"iter"
	"time"
)

// Orders for listing memories.
const (
	OrderImportance  = "importance" // importance desc, timestamp desc, id asc: AutoMem's "trending"
	OrderTimeDesc    = "time_desc"
	OrderTimeAsc     = "time_asc"
	OrderUpdatedDesc = "updated_desc"
	OrderUpdatedAsc  = "updated_asc"
)

// Hit is a memory found by a search with the channel's raw score.
type Hit struct {
	Memory *Memory
	Score  float64
}

// MemoryStore is one tenant's memories and relations. A store is bound to
// its tenant when it is opened; no method takes a tenant id, so no caller
// can reach another tenant's data through it.
type MemoryStore interface {
	// Write applies w in one transaction: all of it or nothing. Updating a
	// missing memory, or relating one, is ENOTFOUND. quotas are checked
	// (Quotas.Check) inside the transaction, against the store's counters
	// before and after the write; a refused write changes nothing. It
	// returns what the write added to the counters (negative where it
	// freed), which usage bills.
	Write(ctx context.Context, w Write, quotas Quotas) (added TenantStats, err error)
	// Memory returns one memory, or an ENOTFOUND error.
	Memory(ctx context.Context, id string) (*Memory, error)
	// Memories returns the memories among ids that exist, keyed by id.
	Memories(ctx context.Context, ids []string) (map[string]*Memory, error)
	// Delete removes a memory with its vector and relations, or returns ENOTFOUND.
	Delete(ctx context.Context, id string) error
	// DeleteMatching removes every memory f matches and returns how many.
	DeleteMatching(ctx context.Context, f Filter) (int, error)
	// List returns memories that match f in the given order.
	List(ctx context.Context, f Filter, order string, limit, offset int) ([]*Memory, error)
	// Adjacent returns the memories that match f stored just before and just
	// after id in time (ties in time go by the order they were stored); nil
	// where there is none.
	Adjacent(ctx context.Context, id string, f Filter) (before, after *Memory, err error)
	// Touch sets last_accessed of the given memories. Reads show it at
	// once; an implementation may write it later and lose the last moments
	// of it in a crash, never a memory.
	Touch(ctx context.Context, ids []string, at time.Time) error

	// Keyword ranks memories matching f by BM25 against the query terms;
	// higher scores are better.
	Keyword(ctx context.Context, terms []string, f Filter, limit int) ([]Hit, error)
	// Nearest ranks memories matching f by cosine similarity to vec.
	Nearest(ctx context.Context, vec []float32, f Filter, limit int) ([]Hit, error)
	// Unembedded returns memories that have no vector of the store's model.
	Unembedded(ctx context.Context, limit int) ([]*Memory, error)
	// SetEmbedding stores the vector of an existing memory (ENOTFOUND).
	SetEmbedding(ctx context.Context, id string, vec []float32, model string) error

	// Neighbors returns the relations touching id, newest first; with
	// outgoingOnly, only the edges that leave id. Empty types means any.
	Neighbors(ctx context.Context, id string, types []RelationType, outgoingOnly bool, limit int) ([]Neighbor, error)
	// Relations returns up to limit relations of the given types (any when
	// empty), newest first.
	Relations(ctx context.Context, types []RelationType, limit int) ([]Relation, error)

	// Stats returns the store's counters.
	Stats(ctx context.Context) (TenantStats, error)

	// Snapshot opens a consistent read of the whole store, for export;
	// writes go on meanwhile. The caller must Close it.
	Snapshot(ctx context.Context, withVectors bool) (Snapshot, error)
	// Import writes memories and relations in one transaction. A memory
	// whose id exists is skipped, so an import can be repeated; relations
	// merge on (From, Type, To), and an existing one is only replaced by a
	// newer one. Every relation end must exist, in mems or in the store,
	// or nothing is written (ENOTFOUND). quotas are checked as by Write.
	// It returns the ids created, in order, and how many relations are new.
	Import(ctx context.Context, mems []*Memory, rels []Relation, quotas Quotas) (created []string, relationsCreated int, err error)
}

// Write is one atomic change of a tenant's store, applied in this order:
// Create, Update, Relate (so a relation may join a memory created by the
// same write).
type Write struct {
	// Create are new memories, stored with their Embedding if it is set.
	Create []*Memory
	// Update replace the fields of existing memories. A nil Embedding keeps
	// the vector, a non-empty one replaces it, and an empty non-nil one
	// drops it (the content changed but could not be embedded: the
	// backfill will compute it).
	Update []*Memory
	// Relate creates relations, or updates them (MERGE on From, Type, To);
	// both ends must exist.
	Relate []Relation
}

// Snapshot is a consistent read of a whole tenant store.
type Snapshot interface {
	// Counts are how many memories and relations the snapshot holds.
	Counts() (memories, relations int64)
	// Memories yields every memory in the order they were stored, with
	// Embedding and EmbeddingModel set when the snapshot was opened with
	// vectors and the memory has one.
	Memories() iter.Seq2[*Memory, error]
	// Relations yields every relation.
	Relations() iter.Seq2[Relation, error]
	Close() error
}

// Stores opens tenant-bound memory stores.
type Stores interface {
	// Create makes the empty store of a new tenant, removing whatever an
	// earlier tenant of the same id may have left.
	Create(ctx context.Context, tenantID string) error
	// Open returns the store of an existing tenant. The caller must call
	// release when done; the store may be closed after that.
	Open(ctx context.Context, tenantID string) (store MemoryStore, release func(), err error)
	// Drop removes all data of a tenant. Requests still in flight finish
	// on the old data; the id can be created again at once, empty.
	Drop(ctx context.Context, tenantID string) error
}

// StorePool is the state of a backend's pool of open tenant stores, for
// /health and /metrics.
type StorePool struct {
	// Open is how many stores are open; MaxOpen bounds it (0: no bound).
	Open, MaxOpen int
	// Evictions counts stores closed early to make room (the bound, or the
	// vector budget); Refusals counts requests refused because none could
	// be opened (every open store in use, or no file descriptor left).
	Evictions, Refusals int64
	// VectorBytes is what the resident vector indexes take; VectorBudget
	// bounds it (0: no bound).
	VectorBytes, VectorBudget int64
	// Damaged are the tenants whose store failed its checks: out of
	// service until the operator restores them.
	Damaged []DamagedStore
}

// DamagedStore is a tenant whose store failed its checks when opened.
type DamagedStore struct {
	TenantID string    `json:"tenant_id"`
	Reason   string    `json:"reason"`
	Since    time.Time `json:"since"`
}

// Embedder turns texts into vectors.
type Embedder interface {
	Model() string
	Dim() int
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}
