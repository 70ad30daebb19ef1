package recall

import (
	"context"
	"regexp"
	"strings"

	"github.com/mnemohq/mnemo"
)

var reRecencyIntent = regexp.MustCompile(`\b(latest|most recent|recently|current|currently|now|nowadays|today|changed|updated|last time|newest|these days|anymore)\b`)

// recencyBias adds Weights.Temporal times the row's place between the
// oldest and newest result in time (AutoMem's recency_bias): always with
// "on", with "auto" when a query asks about the present. It reports
// whether the bias was active.
func (rc *Recaller) recencyBias(q *Query, queries []string, rows []*Row) bool {
	active := q.RecencyBias == "on"
	if q.RecencyBias == "auto" {
		for _, text := range queries {
			active = active || reRecencyIntent.MatchString(strings.ToLower(text))
		}
	}
	if !active || q.Sort != "score" || len(rows) == 0 {
		return active && q.Sort == "score"
	}
	lo, hi := rows[0].Memory.Timestamp, rows[0].Memory.Timestamp
	for _, r := range rows {
		if r.Memory.Timestamp.Before(lo) {
			lo = r.Memory.Timestamp
		}
		if r.Memory.Timestamp.After(hi) {
			hi = r.Memory.Timestamp
		}
	}
	spread := hi.Sub(lo).Seconds()
	if spread <= 0 || rc.Config.Weights.Temporal == 0 {
		return true
	}
	for _, r := range rows {
		t := r.Memory.Timestamp.Sub(lo).Seconds() / spread
		r.Components.Temporal = &t
		r.FinalScore += rc.Config.Weights.Temporal * t
		r.Score = r.FinalScore
	}
	SortRows(rows, "score")
	return true
}

var reSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(reSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// entityCategories are the categories AutoMem's enrichment tags with
// entity:<category>:<slug>.
var entityCategories = []string{"people", "places", "organizations", "tools", "projects", "concepts"}

// expandEntities adds memories about the entities the rows mention
// (AutoMem's expand_entities): names from metadata.entities and from
// entity:<category>:<slug> tags, up to five entities, five memories each,
// at most expansion_limit in all, each scored +0.15.
func (rc *Recaller) expandEntities(ctx context.Context, store mnemo.MemoryStore, q *Query, rows []*Row) ([]*Row, []string, error) {
	var slugs []string
	seen := map[string]bool{}
	addSlug := func(s string) {
		if s = slug(s); s != "" && !seen[s] {
			seen[s] = true
			slugs = append(slugs, s)
		}
	}
	for _, r := range rows {
		if ents, ok := r.Memory.Metadata["entities"].(map[string]any); ok {
			for _, cat := range []string{"people", "places", "organizations"} {
				if list, ok := ents[cat].([]any); ok {
					for _, v := range list {
						if name, ok := v.(string); ok {
							addSlug(name)
						}
					}
				}
			}
		}
		for _, t := range r.Memory.Tags {
			if parts := strings.SplitN(strings.ToLower(t), ":", 3); len(parts) == 3 && parts[0] == "entity" {
				addSlug(parts[2])
			}
		}
	}
	present := byIDs(rows)
	post := mnemo.Filter{Start: q.Filter.Start, End: q.Filter.End, ExcludeTags: q.Filter.ExcludeTags}
	if q.ExpandRespectTags {
		post.Tags, post.TagMode, post.TagMatch = q.Filter.Tags, q.Filter.TagMode, q.Filter.TagMatch
	}
	var out []*Row
	bonus := 0.15
	for _, s := range slugs[:min(5, len(slugs))] {
		var tags []string
		for _, cat := range entityCategories {
			tags = append(tags, "entity:"+cat+":"+s)
		}
		mems, err := store.List(ctx, mnemo.Filter{Tags: tags, TagMode: "any", TagMatch: "exact", Start: post.Start, End: post.End, ExcludeTags: post.ExcludeTags},
			mnemo.OrderImportance, 25, 0)
		if err != nil {
			return nil, nil, err
		}
		n := 0
		for _, m := range mems {
			if n >= 5 || len(out) >= q.ExpansionLimit {
				break
			}
			if present[m.ID] || !post.Matches(m) || (q.ExpandMinImportance != nil && m.Importance < *q.ExpandMinImportance) {
				continue
			}
			r := &Row{ID: m.ID, Memory: m, MatchType: "entity_expansion", Source: "graph", ExpandedFromEntity: s}
			rc.score(r, q, q.Query)
			b := bonus
			r.Components.EntityExpansion = &b
			r.FinalScore += bonus
			r.Score = r.FinalScore
			present[m.ID] = true
			out = append(out, r)
			n++
		}
	}
	return out, slugs, nil
}

// scopeFallback fills a tag-scoped result that came back short with the
// nearest memories outside the scope, marked outside_tag_scope (AutoMem's
// scope_fallback). They pass the time and exclusion filters and the
// current-state filter like any result.
func (rc *Recaller) scopeFallback(ctx context.Context, store mnemo.MemoryStore, q *Query, rows []*Row) ([]*Row, error) {
	present := byIDs(rows)
	outside := mnemo.Filter{Start: q.Filter.Start, End: q.Filter.End, ExcludeTags: q.Filter.ExcludeTags}
	hits, err := store.Nearest(ctx, q.queryVec, outside, min(2*q.Limit, 100))
	if err != nil {
		return nil, err
	}
	var extra []*Row
	for _, h := range hits {
		if present[h.Memory.ID] || q.Filter.Matches(h.Memory) {
			continue // in scope memories were already ranked
		}
		r := &Row{ID: h.Memory.ID, Memory: h.Memory, MatchType: "vector", Source: "vector", MatchScore: h.Score,
			Similarity: h.Score, OutsideTagScope: true}
		rc.score(r, q, q.Query)
		if q.MinScore != nil && r.FinalScore < *q.MinScore {
			continue
		}
		extra = append(extra, r)
	}
	if q.StateMode == "current" {
		if extra, _, err = rc.currentState(ctx, store, q, extra); err != nil {
			return nil, err
		}
		// A replacement the state filter brought in may be a result
		// already, or in scope: those are not the fallback's to add.
		kept := extra[:0]
		for _, r := range extra {
			if !present[r.ID] && !q.Filter.Matches(r.Memory) {
				kept = append(kept, r)
			}
		}
		extra = kept
	}
	SortRows(extra, "score")
	return extra[:min(len(extra), q.Limit-len(rows))], nil
}
