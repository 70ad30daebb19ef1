package service

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/recall"
)

// Recall runs AutoMem's recall with its query parameters.
func (s *Service) Recall(ctx context.Context, params url.Values) (*mnemo.RecallResult, error) {
	req, err := s.request(ctx, mnemo.ScopeRead)
	if err != nil {
		return nil, err
	}
	if err := mnemo.CheckQuery(params); err != nil {
		return nil, err
	}
	q, err := recall.ParseQuery(params, s.cfg.Recall, s.cfg.Limits, s.embedder.Dim(), s.now())
	if err != nil {
		return nil, err
	}
	if q.Embedding == nil && (q.Query != "" || q.Multi) {
		for range max(len(q.Queries), 1) {
			req.embedded()
		}
	}
	s.weigh(ctx, req, recallWeight(q))
	return s.recaller.Run(ctx, req.store, q)
}

// relatedVisitLimit caps the relations one /related reads over all its
// hops, nearest hops and strongest relations first: a dense graph costs a
// bounded amount.
const relatedVisitLimit = 1000

// Related walks relations from a memory, undirected, up to max_depth hops
// (reference §5.4). Like AutoMem it does not validate the id: an unknown
// one has no relations.
func (s *Service) Related(ctx context.Context, id string, params url.Values) (*mnemo.RelatedResult, error) {
	req, err := s.request(ctx, mnemo.ScopeRead)
	if err != nil {
		return nil, err
	}
	if err := mnemo.CheckQuery(params); err != nil {
		return nil, err
	}
	if err := mnemo.CheckText("'memory_id'", id); err != nil {
		return nil, err
	}
	id = strings.TrimSpace(id)
	if canonical, err := mnemo.ValidateMemoryID(id); err == nil {
		id = canonical
	}
	names := strings.Split(params.Get("relationship_types"), ",")
	if err := s.cfg.Limits.CheckList("relationship_types", len(names)); err != nil {
		return nil, err
	}
	var types []mnemo.RelationType
	for _, t := range names {
		if rt := mnemo.RelationType(strings.ToUpper(strings.TrimSpace(t))); rt.IsFilterable() {
			types = append(types, rt)
		}
	}
	if len(types) == 0 {
		types = mnemo.AuthorableRelationTypes
	}
	depth, err := mnemo.IntParam("max_depth", params.Get("max_depth"), 1, 1, 3)
	if err != nil {
		return nil, err
	}
	limit, err := mnemo.IntParam("limit", params.Get("limit"), 5, 1, 200)
	if err != nil {
		return nil, err
	}
	s.weigh(ctx, req, relatedWeight(depth))

	found := map[string]*mnemo.Memory{}
	seen := map[string]bool{id: true}
	frontier := []string{id}
	visits := relatedVisitLimit
	for d := 0; d < depth && len(frontier) > 0 && visits > 0; d++ {
		var next []string
		for _, cur := range frontier {
			if visits <= 0 {
				break
			}
			nbs, err := req.store.Neighbors(ctx, cur, types, false, visits)
			if err != nil {
				return nil, err
			}
			visits -= len(nbs)
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
	return &mnemo.RelatedResult{Status: "success", MemoryID: id, Count: len(related), RelatedMemories: related,
		RelationshipTypes: types, MaxDepth: depth, Limit: limit}, nil
}

// StartupRecall returns AutoMem's session-start lessons and rules.
func (s *Service) StartupRecall(ctx context.Context) (*mnemo.StartupResult, error) {
	req, err := s.request(ctx, mnemo.ScopeRead)
	if err != nil {
		return nil, err
	}
	lessons, err := req.store.List(ctx, mnemo.Filter{Tags: []string{"critical", "lesson", "ai-assistant"}, TagMatch: "exact"}, mnemo.OrderImportance, 10, 0)
	if err != nil {
		return nil, err
	}
	rules, err := req.store.List(ctx, mnemo.Filter{Tags: []string{"system", "memory-recall"}, TagMatch: "exact"}, mnemo.OrderImportance, 5, 0)
	if err != nil {
		return nil, err
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
	return &mnemo.StartupResult{Status: "success", CriticalLessons: critical, SystemRules: system,
		LessonCount: len(critical), HasCritical: hasCritical,
		Summary: fmt.Sprintf("Recalled %d lesson(s) and %d system rule(s)", len(critical), len(system))}, nil
}

// analyzeSample bounds how many memories /analyze reads.
const analyzeSample = 5000

// Analyze summarises the tenant's newest memories: types, hours, entities,
// confidence, and preferences.
func (s *Service) Analyze(ctx context.Context) (*mnemo.AnalyzeResult, error) {
	began := time.Now()
	req, err := s.request(ctx, mnemo.ScopeRead)
	if err != nil {
		return nil, err
	}
	mems, err := req.store.List(ctx, mnemo.Filter{}, mnemo.OrderTimeDesc, analyzeSample, 0)
	if err != nil {
		return nil, err
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
	prefs, err := req.store.Relations(ctx, []mnemo.RelationType{"PREFERS_OVER"}, 10)
	if err != nil {
		return nil, err
	}
	preferences := make([]map[string]any, 0, len(prefs))
	if len(prefs) > 0 {
		var ids []string
		for _, p := range prefs {
			ids = append(ids, p.From, p.To)
		}
		byID, err := req.store.Memories(ctx, ids)
		if err != nil {
			return nil, err
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
	return &mnemo.AnalyzeResult{Status: "success", ElapsedMS: elapsedMS(began), Analytics: map[string]any{
		"memory_types": types, "patterns": []any{}, "preferences": preferences, "temporal_insights": hours,
		"entity_frequency": topCounts(entities, 50), "confidence_distribution": dist, "sample_size": len(mems),
	}}, nil
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
