package mnemo

// The answer of a recall (RecallService.Recall). Its JSON is AutoMem's
// /recall body; the fields marked json:"-" are the ranking's working
// state, never sent.

// RecallRow is one recall result.
type RecallRow struct {
	ID            string          `json:"id"`
	Score         float64         `json:"score"`
	MatchScore    float64         `json:"match_score"`
	MatchType     string          `json:"match_type"`
	Source        string          `json:"source"`
	Memory        *Memory         `json:"memory"`
	Relations     []RecallEdge    `json:"relations"`
	FinalScore    float64         `json:"final_score"`
	OriginalScore float64         `json:"original_score"`
	Components    ScoreComponents `json:"score_components"`
	RelatedTo     []RecallEdge    `json:"related_to,omitempty"`
	RelationScore float64         `json:"relation_score,omitempty"`
	DedupedFrom   []string        `json:"deduped_from,omitempty"`
	StateReplaces string          `json:"state_replaces,omitempty"`
	ContextOf     string          `json:"context_of,omitempty"`

	ExpandedFromEntity string `json:"expanded_from_entity,omitempty"`
	OutsideTagScope    bool   `json:"outside_tag_scope,omitempty"`

	// Similarity is the cosine with the query vector, when there is one.
	Similarity float64 `json:"-"`
	// Lexical is the row's BM25 score divided by the best BM25 score among
	// the query's keyword candidates; 0 when BM25 did not find it.
	Lexical float64 `json:"-"`
	// Searched marks rows that both channels scored, so Lexical is known.
	Searched bool `json:"-"`
}

// RecallEdge is a relation as a result row shows it: an outgoing relation with
// the memory at its end (reference §4.6), or the edge that brought an
// expanded or replacing row in, with the id it came from.
type RecallEdge struct {
	Type      RelationType   `json:"type"`
	Strength  float64        `json:"strength"`
	From      string         `json:"from,omitempty"`
	SeedRank  int            `json:"seed_rank,omitempty"`
	SeedScore float64        `json:"seed_score,omitempty"`
	Memory    map[string]any `json:"memory,omitempty"`
}

// RecallResult is /recall's body (reference §4.9).
type RecallResult struct {
	Status       string         `json:"status"`
	Query        string         `json:"query"`
	Results      []*RecallRow   `json:"results"`
	Count        int            `json:"count"`
	DedupRemoved int            `json:"dedup_removed"`
	Sort         string         `json:"sort"`
	StateMode    string         `json:"state_mode"`
	VectorSearch map[string]any `json:"vector_search"`
	TagMode      string         `json:"tag_mode"`
	TagMatch     string         `json:"tag_match"`
	QueryTimeMS  float64        `json:"query_time_ms"`
	Keywords     []string       `json:"keywords,omitempty"`
	Queries      []string       `json:"queries,omitempty"`
	TimeWindow   map[string]any `json:"time_window,omitempty"`
	TimeQuery    map[string]any `json:"time_query,omitempty"`
	Tags         []string       `json:"tags,omitempty"`
	TagScope     map[string]any `json:"tag_scope,omitempty"`
	ExcludeTags  []string       `json:"exclude_tags,omitempty"`
	StateFilter  map[string]any `json:"state_filter,omitempty"`
	ScoreFilter  map[string]any `json:"score_filter,omitempty"`
	Expansion    map[string]any `json:"expansion,omitempty"`

	EntityExpansion map[string]any `json:"entity_expansion,omitempty"`
	ContextPriority map[string]any `json:"context_priority,omitempty"`
	RecencyBias     string         `json:"recency_bias,omitempty"`
	ScopeFallback   bool           `json:"scope_fallback,omitempty"`
	EmbeddingNote   string         `json:"embedding_error,omitempty"`
}

// ScoreComponents are one recall row's score parts; their weighted sum is the score.
type ScoreComponents struct {
	Vector         float64  `json:"vector"`
	Keyword        float64  `json:"keyword"`
	Metadata       float64  `json:"metadata"`
	Relation       float64  `json:"relation"`
	Tag            float64  `json:"tag"`
	Importance     float64  `json:"importance"`
	Confidence     float64  `json:"confidence"`
	Recency        float64  `json:"recency"`
	Exact          float64  `json:"exact"`
	Relevance      float64  `json:"relevance"`
	Context        float64  `json:"context"`
	TimeMention    float64  `json:"time_mention"`
	Evidence       float64  `json:"evidence"`
	RelevanceGated bool     `json:"relevance_gated"`
	Temporal       *float64 `json:"temporal,omitempty"`
	// Neighbor is the share of a top hit's score that a memory just before
	// or after it in time receives; the row's score is at least this.
	Neighbor        *float64 `json:"neighbor,omitempty"`
	EntityExpansion *float64 `json:"entity_expansion,omitempty"`
}
