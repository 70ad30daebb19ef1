package mnemo

import "encoding/json"

// The results of the tenant services are AutoMem's response bodies: both
// transports send them as they are (HTTP as the body, MCP as a tool's
// structured content), so their JSON is part of the wire contract.

// StoreResult answers a stored memory (POST /memory).
type StoreResult struct {
	Status     string  `json:"status"`
	MemoryID   string  `json:"memory_id"`
	StoredAt   string  `json:"stored_at"`
	Type       string  `json:"type"`
	Confidence float64 `json:"confidence"`
	// Qdrant is what became of the vector, in AutoMem's words: "stored",
	// or "queued" when the embedder failed and the backfill will retry.
	Qdrant string `json:"qdrant"`
	// EmbeddingStatus is "generated", "provided" or "queued".
	EmbeddingStatus string         `json:"embedding_status"`
	Enrichment      string         `json:"enrichment"`
	Metadata        map[string]any `json:"metadata"`
	Timestamp       string         `json:"timestamp"`
	UpdatedAt       string         `json:"updated_at"`
	LastAccessed    string         `json:"last_accessed"`
	QueryTimeMS     float64        `json:"query_time_ms"`
	// Set by Supersede.
	SupersedesMemoryID string       `json:"supersedes_memory_id,omitempty"`
	SupersedeRelation  RelationType `json:"supersede_relation,omitempty"`
}

// BatchResult answers a batch store (POST /memory/batch).
type BatchResult struct {
	Status      string   `json:"status"`
	Stored      int      `json:"stored"`
	MemoryIDs   []string `json:"memory_ids"`
	Qdrant      string   `json:"qdrant"` // "stored (n)" or "stored (n), queued (m)"
	Enrichment  string   `json:"enrichment"`
	QueryTimeMS float64  `json:"query_time_ms"`
}

// MemoryResult answers GET /memory/{id}.
type MemoryResult struct {
	Status string  `json:"status"`
	Memory *Memory `json:"memory"`
}

// UpdateResult answers PATCH /memory/{id}.
type UpdateResult struct {
	Status   string `json:"status"`
	MemoryID string `json:"memory_id"`
	Message  string `json:"message"`
}

// DeleteResult answers DELETE /memory/{id}.
type DeleteResult struct {
	Status   string `json:"status"`
	MemoryID string `json:"memory_id"`
}

// TagResult answers GET /memory/by-tag.
type TagResult struct {
	Status   string    `json:"status"`
	Tags     []string  `json:"tags"`
	Count    int       `json:"count"`
	Limit    int       `json:"limit"`
	Offset   int       `json:"offset"`
	HasMore  bool      `json:"has_more"`
	Memories []*Memory `json:"memories"`
}

// DeleteByTagResult answers DELETE /memory/by-tag.
type DeleteByTagResult struct {
	Status       string   `json:"status"`
	Tags         []string `json:"tags"`
	DeletedCount int      `json:"deleted_count"`
}

// AssociateResult answers one association (POST /associate). The
// relation's type-specific properties appear beside the other fields, as
// AutoMem sends them.
type AssociateResult struct {
	Status       string
	Message      string
	RelationType RelationType
	Strength     float64
	Props        map[string]any
}

// MarshalJSON writes the properties beside the fixed fields.
func (a *AssociateResult) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	for k, v := range a.Props {
		out[k] = v
	}
	out["status"], out["message"], out["relation_type"], out["strength"] = a.Status, a.Message, a.RelationType, a.Strength
	return json.Marshal(out)
}

// AssociateManyResult answers a batch of associations. Partial is true
// when some failed (AutoMem answers it with 207).
type AssociateManyResult struct {
	Status       string               `json:"status"` // "success" or "partial_success"
	CreatedCount int                  `json:"created_count"`
	FailedCount  int                  `json:"failed_count"`
	Succeeded    []AssociationDone    `json:"succeeded"`
	Failed       []AssociationFailure `json:"failed"`
	Summary      string               `json:"summary"`
	Partial      bool                 `json:"-"`
}

// AssociationDone is one association of a batch that was stored.
type AssociationDone struct {
	Index        int          `json:"index"`
	Memory1ID    string       `json:"memory1_id"`
	Memory2ID    string       `json:"memory2_id"`
	RelationType RelationType `json:"relation_type"`
	Strength     float64      `json:"strength"`
}

// AssociationFailure is one association of a batch that was not, and why.
type AssociationFailure struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// RelatedResult answers GET /memories/{id}/related.
type RelatedResult struct {
	Status            string           `json:"status"`
	MemoryID          string           `json:"memory_id"`
	Count             int              `json:"count"`
	RelatedMemories   []map[string]any `json:"related_memories"`
	RelationshipTypes []RelationType   `json:"relationship_types"`
	MaxDepth          int              `json:"max_depth"`
	Limit             int              `json:"limit"`
}

// StartupResult answers GET /startup-recall.
type StartupResult struct {
	Status          string           `json:"status"`
	CriticalLessons []map[string]any `json:"critical_lessons"`
	SystemRules     []map[string]any `json:"system_rules"`
	LessonCount     int              `json:"lesson_count"`
	HasCritical     bool             `json:"has_critical"`
	Summary         string           `json:"summary"`
}

// AnalyzeResult answers GET /analyze.
type AnalyzeResult struct {
	Status    string         `json:"status"`
	ElapsedMS float64        `json:"elapsed_ms"`
	Analytics map[string]any `json:"analytics"`
}

// HealthResult is AutoMem's GET /health.
type HealthResult struct {
	Status   string `json:"status"` // "healthy", or "degraded" when the caller's vectors lag
	Backend  string `json:"backend"`
	Version  string `json:"version"`
	FalkorDB string `json:"falkordb"` // "connected", "disconnected" or "not_configured"
	// FalkorDBError is why FalkorDB is disconnected, in the operator's
	// view only: it names addresses the public should not see.
	FalkorDBError    string         `json:"falkordb_error,omitempty"`
	Qdrant           string         `json:"qdrant"`
	MemoryCount      *int64         `json:"memory_count"`
	VectorCount      *int64         `json:"vector_count"`
	SyncStatus       string         `json:"sync_status"`
	VectorDimensions map[string]any `json:"vector_dimensions"`
	Embedding        map[string]any `json:"embedding"`
	Enrichment       map[string]any `json:"enrichment"`
	Timestamp        string         `json:"timestamp"`
	Graph            *string        `json:"graph"`
	TenantID         string         `json:"tenant_id,omitempty"`
	Disk             string         `json:"disk"` // "ok", or "full": new data refused until space returns (status "degraded")
	// Stores is the tenant store pool: how many are open and how many are
	// damaged; only the operator's view, or a damaged tenant's own, names
	// them.
	Stores *StoresHealth `json:"stores,omitempty"`
}

// StoresHealth is the state of the tenant store pool in /health.
type StoresHealth struct {
	Open           int            `json:"open"`
	MaxOpen        int            `json:"max_open"`
	Damaged        int            `json:"damaged"`
	DamagedTenants []DamagedStore `json:"damaged_tenants,omitempty"`
}

// CreatedTenant is a new tenant with its first key and that key's token,
// which is shown this once.
type CreatedTenant struct {
	Tenant *Tenant
	Key    *Key
	Token  string
	// Warning is set when the client chose a token that could be guessed.
	Warning string
}

// CreatedKey is a new key and its token, shown this once.
type CreatedKey struct {
	Key   *Key
	Token string
}

// ImportResult says what an import wrote.
type ImportResult struct {
	Status           string `json:"status"`
	TenantID         string `json:"tenant_id"`
	SourceTenantID   string `json:"source_tenant_id"`
	MemoriesCreated  int    `json:"memories_created"`
	MemoriesSkipped  int    `json:"memories_skipped"`
	RelationsCreated int    `json:"relations_created"`
	VectorsImported  int    `json:"vectors_imported"`
	VectorsEmbedded  int    `json:"vectors_embedded"`
	VectorsQueued    int    `json:"vectors_queued"`
}
