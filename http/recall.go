package http

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/recall"
)

// maxQueries caps the sub-queries one recall may run: each is a full search.
const maxQueries = 10

func (s *Server) handleRecall(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	q, err := recall.ParseQuery(r.URL.Query(), s.Recaller.Config, s.Embedder.Dim(), s.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	if len(q.Queries) > maxQueries {
		writeError(w, mnemo.Errorf(mnemo.EINVALID, "'queries' may hold at most %d queries (got %d)", maxQueries, len(q.Queries)))
		return
	}
	if s.Recaller.Embedder != nil && q.Embedding == nil && (q.Query != "" || q.Multi) {
		tr.embeddingCalls += int64(max(len(q.Queries), 1))
	}
	resp, err := s.Recaller.Run(r.Context(), tr.Store, q)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleRelated walks relations from a memory, undirected, up to max_depth
// hops (reference §5.4). Like AutoMem it does not validate the id: an
// unknown one has no relations.
func (s *Server) handleRelated(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	id := strings.TrimSpace(r.PathValue("id"))
	if canonical, err := mnemo.ValidateMemoryID(id); err == nil {
		id = canonical
	}
	var types []mnemo.RelationType
	for _, t := range strings.Split(r.URL.Query().Get("relationship_types"), ",") {
		if rt := mnemo.RelationType(strings.ToUpper(strings.TrimSpace(t))); rt.IsFilterable() {
			types = append(types, rt)
		}
	}
	if len(types) == 0 {
		types = mnemo.AuthorableRelationTypes
	}
	depth := intParam(r, "max_depth", 1, 1, 3)
	limit := intParam(r, "limit", 5, 1, 200)

	found := map[string]*mnemo.Memory{}
	seen := map[string]bool{id: true}
	frontier := []string{id}
	for d := 0; d < depth && len(frontier) > 0; d++ {
		var next []string
		for _, cur := range frontier {
			nbs, err := tr.Store.Neighbors(r.Context(), cur, types, false, 1000)
			if err != nil {
				writeError(w, err)
				return
			}
			for _, nb := range nbs {
				if !seen[nb.Memory.ID] {
					seen[nb.Memory.ID] = true
					found[nb.Memory.ID] = nb.Memory
					next = append(next, nb.Memory.ID)
				}
			}
		}
		frontier = next
	}
	mems := make([]*mnemo.Memory, 0, len(found))
	for _, m := range found {
		mems = append(mems, m)
	}
	sort.Slice(mems, func(i, j int) bool {
		a, b := mems[i], mems[j]
		if a.Importance != b.Importance {
			return a.Importance > b.Importance
		}
		if !a.Timestamp.Equal(b.Timestamp) {
			return a.Timestamp.After(b.Timestamp)
		}
		return a.ID < b.ID
	})
	if len(mems) > limit {
		mems = mems[:limit]
	}
	related := make([]map[string]any, len(mems))
	for i, m := range mems {
		related[i] = recall.Summary(m)
		related[i]["tags"] = m.Tags
		related[i]["metadata"] = m.Metadata
		related[i]["content"] = m.Content
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "memory_id": id, "count": len(related),
		"related_memories": related, "relationship_types": types, "max_depth": depth, "limit": limit})
}

func (s *Server) handleStartupRecall(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	lessons, err := tr.Store.List(r.Context(), mnemo.Filter{Tags: []string{"critical", "lesson", "ai-assistant"}, TagMatch: "exact"}, mnemo.OrderImportance, 10, 0)
	if err != nil {
		writeError(w, err)
		return
	}
	rules, err := tr.Store.List(r.Context(), mnemo.Filter{Tags: []string{"system", "memory-recall"}, TagMatch: "exact"}, mnemo.OrderImportance, 5, 0)
	if err != nil {
		writeError(w, err)
		return
	}
	critical := make([]map[string]any, len(lessons))
	hasCritical := false
	for i, m := range lessons {
		critical[i] = map[string]any{"id": m.ID, "content": m.Content, "tags": m.Tags, "importance": m.Importance,
			"type": m.Type, "metadata": m.Metadata}
		hasCritical = hasCritical || m.Importance >= 0.9
	}
	system := make([]map[string]any, len(rules))
	for i, m := range rules {
		system[i] = map[string]any{"id": m.ID, "content": m.Content, "tags": m.Tags}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "critical_lessons": critical, "system_rules": system,
		"lesson_count": len(critical), "has_critical": hasCritical,
		"summary": fmt.Sprintf("Recalled %d lesson(s) and %d system rule(s)", len(critical), len(system))})
}

// analyzeSample bounds how many memories /analyze reads.
const analyzeSample = 5000

func (s *Server) handleAnalyze(w http.ResponseWriter, r *http.Request, tr *tenantRequest) {
	began := time.Now()
	mems, err := tr.Store.List(r.Context(), mnemo.Filter{}, mnemo.OrderTimeDesc, analyzeSample, 0)
	if err != nil {
		writeError(w, err)
		return
	}
	type typeStat struct {
		Count int     `json:"count"`
		Avg   float64 `json:"average_confidence"`
	}
	types := map[string]*typeStat{}
	hours := map[string]map[string]float64{}
	entities := map[string]int{}
	dist := map[string]int{"low": 0, "medium": 0, "high": 0}
	for _, m := range mems {
		ts := types[m.Type]
		if ts == nil {
			ts = &typeStat{}
			types[m.Type] = ts
		}
		ts.Count++
		ts.Avg += m.Confidence
		h := fmt.Sprintf("hour_%02d", m.Timestamp.Hour())
		if hours[h] == nil {
			hours[h] = map[string]float64{"count": 0, "avg_importance": 0}
		}
		hours[h]["count"]++
		hours[h]["avg_importance"] += m.Importance
		switch {
		case m.Confidence < 0.4:
			dist["low"]++
		case m.Confidence < 0.7:
			dist["medium"]++
		default:
			dist["high"]++
		}
		countEntities(m.Metadata, entities)
	}
	for _, ts := range types {
		ts.Avg = math.Round(ts.Avg/float64(ts.Count)*1000) / 1000
	}
	for _, h := range hours {
		h["avg_importance"] = math.Round(h["avg_importance"]/h["count"]*1000) / 1000
	}
	prefs, err := tr.Store.Relations(r.Context(), []mnemo.RelationType{"PREFERS_OVER"}, 10)
	if err != nil {
		writeError(w, err)
		return
	}
	preferences := make([]map[string]any, 0, len(prefs))
	if len(prefs) > 0 {
		var ids []string
		for _, p := range prefs {
			ids = append(ids, p.From, p.To)
		}
		byID, err := tr.Store.Memories(r.Context(), ids)
		if err != nil {
			writeError(w, err)
			return
		}
		for _, p := range prefs {
			a, b := byID[p.From], byID[p.To]
			if a == nil || b == nil {
				continue
			}
			preferences = append(preferences, map[string]any{"prefers": a.Content, "over": b.Content,
				"context": p.Props["context"], "strength": p.Strength})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "elapsed_ms": elapsedMS(began), "analytics": map[string]any{
		"memory_types": types, "patterns": []any{}, "preferences": preferences, "temporal_insights": hours,
		"entity_frequency": topCounts(entities, 50), "confidence_distribution": dist, "sample_size": len(mems),
	}})
}

// countEntities counts entity names in metadata: the values of the
// metadata.entities object (AutoMem counts its category keys by mistake)
// and the items of keywords and topics lists.
func countEntities(meta map[string]any, counts map[string]int) {
	addAll := func(v any) {
		if list, ok := v.([]any); ok {
			for _, it := range list {
				if s, ok := it.(string); ok && s != "" {
					counts[strings.ToLower(s)]++
				}
			}
		}
	}
	if ents, ok := meta["entities"].(map[string]any); ok {
		for _, v := range ents {
			addAll(v)
		}
	} else {
		addAll(meta["entities"])
	}
	addAll(meta["keywords"])
	addAll(meta["topics"])
}

func topCounts(counts map[string]int, n int) map[string]int {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	out := map[string]int{}
	for i, k := range keys {
		if i >= n {
			break
		}
		out[k] = counts[k]
	}
	return out
}
