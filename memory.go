package mnemo

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// Memory is one stored memory, with AutoMem's fields (reference §2.1).
type Memory struct {
	ID           string
	Content      string
	Tags         []string // case preserved, order preserved
	Importance   float64
	Type         string
	Confidence   float64
	Timestamp    time.Time // "created at": recency and time filters use it
	TValid       time.Time
	TInvalid     *time.Time
	UpdatedAt    time.Time
	LastAccessed time.Time
	Metadata     map[string]any
	Archived     bool

	// Embedding is set on the write path only: a caller-supplied vector, or
	// the one the service computed. Stores persist it beside the row.
	Embedding []float32
	// EmbeddingModel names the model that produced Embedding.
	EmbeddingModel string
}

// MarshalJSON writes the memory as AutoMem's API shows a graph node.
func (m *Memory) MarshalJSON() ([]byte, error) {
	var tInvalid any
	if m.TInvalid != nil {
		tInvalid = FormatTime(*m.TInvalid)
	}
	meta := m.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	tags := m.Tags
	if tags == nil {
		tags = []string{}
	}
	return json.Marshal(map[string]any{
		"id":            m.ID,
		"content":       m.Content,
		"tags":          tags,
		"tag_prefixes":  TagPrefixes(tags),
		"importance":    m.Importance,
		"type":          m.Type,
		"confidence":    m.Confidence,
		"timestamp":     FormatTime(m.Timestamp),
		"t_valid":       FormatTime(m.TValid),
		"t_invalid":     tInvalid,
		"updated_at":    FormatTime(m.UpdatedAt),
		"last_accessed": FormatTime(m.LastAccessed),
		"metadata":      meta,
		"archived":      m.Archived,
	})
}

// TagPrefixes derives AutoMem's tag_prefixes: for each lower-cased tag, split
// on ':' or '/', drop empty segments and emit every cumulative join with ':'.
// Deduplicated, first occurrence first.
func TagPrefixes(tags []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, t := range tags {
		parts := strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return r == ':' || r == '/' })
		for i := range parts {
			p := strings.Join(parts[:i+1], ":")
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// RelationType is one of AutoMem's relationship types.
type RelationType string

// The eleven types a client may author with /associate.
var AuthorableRelationTypes = []RelationType{
	"RELATES_TO", "LEADS_TO", "OCCURRED_BEFORE", "PREFERS_OVER", "EXEMPLIFIES", "CONTRADICTS",
	"REINFORCES", "INVALIDATED_BY", "EVOLVED_INTO", "DERIVED_FROM", "PART_OF",
}

// SystemRelationTypes are written by background enrichment in AutoMem; they
// may be asked for by name in /memories/{id}/related.
var SystemRelationTypes = []RelationType{"SIMILAR_TO", "PRECEDED_BY", "DISCOVERED"}

// relationProps lists the extra properties /associate copies for each type.
var relationProps = map[RelationType][]string{
	"PREFERS_OVER":   {"context", "strength", "reason"},
	"EXEMPLIFIES":    {"pattern_type", "confidence"},
	"CONTRADICTS":    {"resolution", "reason"},
	"REINFORCES":     {"strength", "observations"},
	"INVALIDATED_BY": {"reason", "timestamp"},
	"EVOLVED_INTO":   {"confidence", "reason"},
	"DERIVED_FROM":   {"transformation", "confidence"},
	"PART_OF":        {"role", "context"},
}

// RelationProps returns the names of the extra properties stored for t.
func RelationProps(t RelationType) []string { return relationProps[t] }

// IsAuthorable reports whether a client may create relations of type t.
func (t RelationType) IsAuthorable() bool {
	for _, a := range AuthorableRelationTypes {
		if a == t {
			return true
		}
	}
	return false
}

// IsFilterable reports whether t may be named in a relation-type filter.
func (t RelationType) IsFilterable() bool {
	if t.IsAuthorable() {
		return true
	}
	for _, s := range SystemRelationTypes {
		if s == t {
			return true
		}
	}
	return false
}

// Supersedes reports whether an edge old-[t]->new marks old as replaced.
func (t RelationType) Supersedes() bool { return t == "INVALIDATED_BY" || t == "EVOLVED_INTO" }

// AuthorableTypeList is the sorted list AutoMem prints in its error message.
func AuthorableTypeList() string {
	names := make([]string, len(AuthorableRelationTypes))
	for i, t := range AuthorableRelationTypes {
		names[i] = "'" + string(t) + "'"
	}
	sort.Strings(names)
	return "[" + strings.Join(names, ", ") + "]"
}

// Relation is a directed, typed edge between two memories of one tenant.
// Re-associating the same pair and type updates it (MERGE semantics).
type Relation struct {
	From      string
	To        string
	Type      RelationType
	Strength  float64
	Props     map[string]any
	UpdatedAt time.Time
}

// Neighbor is a relation seen from one memory: the edge and the memory at its
// other end.
type Neighbor struct {
	Relation Relation
	Memory   *Memory
	// Outgoing is true when the edge points away from the memory asked about.
	Outgoing bool
}
