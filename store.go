package mnemo

import (
	"context"
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
	// Create stores all memories, with their embeddings if set, or none.
	Create(ctx context.Context, mems []*Memory) error
	// Memory returns one memory, or an ENOTFOUND error.
	Memory(ctx context.Context, id string) (*Memory, error)
	// Memories returns the memories among ids that exist, keyed by id.
	Memories(ctx context.Context, ids []string) (map[string]*Memory, error)
	// Update replaces a memory's fields. A nil Embedding keeps the vector, a
	// non-empty one replaces it, and an empty non-nil one drops it (content
	// changed but could not be embedded: the backfill will compute it).
	Update(ctx context.Context, m *Memory) error
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
	// Touch sets last_accessed of the given memories.
	Touch(ctx context.Context, ids []string, at time.Time) error

	// Keyword ranks memories matching f by BM25 against the query terms;
	// higher scores are better.
	Keyword(ctx context.Context, terms []string, f Filter, limit int) ([]Hit, error)
	// Nearest ranks memories matching f by cosine similarity to vec.
	Nearest(ctx context.Context, vec []float32, f Filter, limit int) ([]Hit, error)
	// Unembedded returns memories that have no vector yet.
	Unembedded(ctx context.Context, limit int) ([]*Memory, error)
	// SetEmbedding stores the vector of an existing memory.
	SetEmbedding(ctx context.Context, id string, vec []float32, model string) error

	// Associate creates or updates relations; both ends must exist.
	Associate(ctx context.Context, rels []Relation) error
	// Neighbors returns the relations touching id, newest first; with
	// outgoingOnly, only the edges that leave id. Empty types means any.
	Neighbors(ctx context.Context, id string, types []RelationType, outgoingOnly bool, limit int) ([]Neighbor, error)

	// Relations returns up to limit relations of the given types (any when
	// empty), newest first.
	Relations(ctx context.Context, types []RelationType, limit int) ([]Relation, error)

	// Stats returns the store's counters.
	Stats(ctx context.Context) (TenantStats, error)
}

// Stores opens tenant-bound memory stores.
type Stores interface {
	// Open returns the store of tenant id, creating it if needed. The caller
	// must call release when done; the store may be closed after that.
	Open(ctx context.Context, tenantID string) (store MemoryStore, release func(), err error)
	// Drop closes and removes all data of a tenant.
	Drop(ctx context.Context, tenantID string) error
}

// Embedder turns texts into vectors.
type Embedder interface {
	Model() string
	Dim() int
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}
