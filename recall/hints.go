package recall

import (
	"context"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/mnemohq/mnemo"
)

// Profile is what the context hints of a query ask to favour (reference
// §4.5): tags, types, ids and keywords, from context_tags, context_types,
// priority_ids, context, language and active_path.
type Profile struct {
	Language      string
	Context       string
	PriorityTags  []string
	PriorityTypes []string
	PriorityIDs   []string
	Keywords      []string
}

var languageAliases = map[string][]string{
	"python": {"python", "py"}, "typescript": {"typescript", "ts", "tsx"}, "javascript": {"javascript", "js", "jsx"},
	"go": {"go", "golang"}, "rust": {"rust"}, "java": {"java"}, "csharp": {"csharp", "c#", "cs"},
	"cpp": {"c++", "cpp", "cc", "cxx"}, "swift": {"swift"},
}

var extensionLanguage = map[string]string{
	".py": "python", ".ts": "typescript", ".tsx": "typescript", ".js": "javascript", ".jsx": "javascript",
	".go": "go", ".rs": "rust", ".java": "java", ".cs": "csharp", ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".swift": "swift",
}

var (
	reLangToken  = regexp.MustCompile(`[a-z0-9_\-+#.]+`)
	reStyleWords = regexp.MustCompile(`\b(styles?|guidelines?|pep8|formatting|lint|preferences?)\b`)
	reTagCanon   = regexp.MustCompile(`[:/]+`)
)

func languageOf(word string) string {
	for lang, aliases := range languageAliases {
		for _, a := range aliases {
			if word == a {
				return lang
			}
		}
	}
	return ""
}

// buildProfile reads the hints; nil when there are none.
func buildProfile(q *Query, queries []string) *Profile {
	p := &Profile{Context: strings.ToLower(strings.TrimSpace(q.Context))}
	for _, t := range q.ContextTags {
		p.PriorityTags = append(p.PriorityTags, strings.ToLower(t))
	}
	for _, t := range q.ContextTypes {
		if t != "" {
			p.PriorityTypes = append(p.PriorityTypes, strings.ToUpper(t[:1])+strings.ToLower(t[1:]))
		}
	}
	p.PriorityIDs = q.PriorityIDs
	// The language: explicit, then the context label, then the file
	// extension, then a language named in the query.
	switch {
	case q.Language != "":
		p.Language = languageOf(strings.ToLower(q.Language))
		if p.Language == "" {
			p.Language = strings.ToLower(q.Language)
		}
	case languageOf(p.Context) != "":
		p.Language = languageOf(p.Context)
	case q.ActivePath != "":
		p.Language = extensionLanguage[strings.ToLower(path.Ext(q.ActivePath))]
	}
	if p.Language == "" {
		for _, text := range queries {
			for _, tok := range reLangToken.FindAllString(strings.ToLower(text), -1) {
				if lang := languageOf(tok); lang != "" {
					p.Language = lang
					break
				}
			}
			if p.Language != "" {
				break
			}
		}
	}
	// A language, or style words in the label or the query, focus on style.
	style := p.Language != "" || reStyleWords.MatchString(p.Context)
	for _, text := range queries {
		style = style || reStyleWords.MatchString(strings.ToLower(text))
	}
	if p.Language != "" {
		p.PriorityTags = append(p.PriorityTags, p.Language, p.Language+"-style", p.Language+":style")
		p.Keywords = append(p.Keywords, p.Language)
	}
	if style {
		p.PriorityTags = append(p.PriorityTags, "coding-style", "style", "style-guide", "preferences", "preference:coding")
		p.PriorityTypes = append(p.PriorityTypes, "Style", "Preference")
	} else if p.Context != "" && p.Language == "" {
		p.PriorityTags = append(p.PriorityTags, p.Context)
	}
	p.PriorityTags, p.PriorityTypes = uniqueSorted(p.PriorityTags), uniqueSorted(p.PriorityTypes)
	if len(p.PriorityTags) == 0 && len(p.PriorityTypes) == 0 && len(p.PriorityIDs) == 0 && len(p.Keywords) == 0 {
		return nil
	}
	return p
}

func uniqueSorted(s []string) []string {
	seen := map[string]bool{}
	out := []string{} // a JSON list even when empty, as AutoMem sends
	for _, v := range s {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// tagMatches reports whether a tag of m contains a priority tag (so equal
// or prefixed ones too), once ':' and '/' runs are made one ':'.
func (p *Profile) tagMatches(m *mnemo.Memory) bool {
	for _, t := range m.Tags {
		tag := reTagCanon.ReplaceAllString(strings.ToLower(t), ":")
		for _, pt := range p.PriorityTags {
			pt = reTagCanon.ReplaceAllString(pt, ":")
			if strings.Contains(tag, pt) {
				return true
			}
		}
	}
	return false
}

// bonus is the context component (reference §4.3): +0.45 for a priority
// tag, +0.25 for a priority type, +0.2 for a priority keyword in the
// metadata, +0.9 for a priority id. It is added unweighted.
func (p *Profile) bonus(m *mnemo.Memory) float64 {
	if p == nil {
		return 0
	}
	b := 0.0
	if p.tagMatches(m) {
		b += 0.45
	}
	for _, t := range p.PriorityTypes {
		if strings.EqualFold(m.Type, t) {
			b += 0.25
			break
		}
	}
	if len(p.Keywords) > 0 {
		terms := metadataTerms(m.Metadata)
		for _, k := range p.Keywords {
			if terms[k] {
				b += 0.2
				break
			}
		}
	}
	for _, id := range p.PriorityIDs {
		if id == m.ID {
			b += 0.9
			break
		}
	}
	return b
}

// matches reports whether a row satisfies some priority.
func (p *Profile) matches(r *Row) bool { return p.bonus(r.Memory) > 0 }

// inject brings in the priority ids and priority-tag memories the ranked
// rows lack, through the query's filters: a scoped query never receives an
// out-of-scope memory this way. It reports whether anything came in.
func (rc *Recaller) inject(ctx context.Context, store mnemo.MemoryStore, q *Query, rows []*Row) ([]*Row, bool, error) {
	p := q.profile
	present := byIDs(rows)
	injected := false
	var missing []string
	for _, id := range p.PriorityIDs {
		if !present[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		found, err := store.Memories(ctx, missing)
		if err != nil {
			return nil, false, err
		}
		for _, id := range missing {
			if m := found[id]; m != nil && q.Filter.Matches(m) {
				r := &Row{ID: id, Memory: m, MatchType: "priority_id", Source: "graph"}
				rc.score(r, q, q.Query)
				rows, present[id], injected = append(rows, r), true, true
			}
		}
	}
	anyTagMatch := false
	for _, r := range rows {
		anyTagMatch = anyTagMatch || p.tagMatches(r.Memory)
	}
	if len(p.PriorityTags) > 0 && !anyTagMatch {
		f := q.Filter
		if len(f.Tags) == 0 {
			f.Tags, f.TagMode, f.TagMatch = p.PriorityTags, "any", "prefix"
		}
		mems, err := store.List(ctx, f, mnemo.OrderImportance, 3*min(q.Limit, 3), 0)
		if err != nil {
			return nil, false, err
		}
		n := 0
		for _, m := range mems {
			if n >= min(q.Limit, 3) || present[m.ID] || !p.tagMatches(m) {
				continue
			}
			r := &Row{ID: m.ID, Memory: m, MatchType: "trending", Source: "graph", MatchScore: m.Importance}
			rc.score(r, q, q.Query)
			rows, present[m.ID], injected = append(rows, r), true, true
			n++
		}
	}
	return rows, injected, nil
}

// priorityFirst moves the priority ids to the front, in the order given.
func priorityFirst(rows []*Row, ids []string) []*Row {
	if len(ids) == 0 {
		return rows
	}
	rank := map[string]int{}
	for i, id := range ids {
		if _, ok := rank[id]; !ok {
			rank[id] = i
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		ri, iok := rank[rows[i].ID]
		rj, jok := rank[rows[j].ID]
		if iok != jok {
			return iok
		}
		return iok && ri < rj
	})
	return rows
}
