package recall

import (
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/internal/stopwords"
)

// Weights are the component weights of AutoMem's scoring (reference §4.3).
type Weights struct {
	Vector, Keyword, Metadata, Relation, Tag, Importance, Confidence, Recency, Exact, Relevance, Temporal float64
	// TimeMention rewards memories that mention a time when the query asks
	// "when" (mnemo's addition; AutoMem has no such component).
	TimeMention float64
	// RecencyWindowDays is the age at which the linear recency score reaches 0.
	RecencyWindowDays float64
}

// DefaultWeights are AutoMem's defaults but for Recency, off here: on the
// assistant-style set it lowered every measure and it helped neither set
// (README, "Recall quality"); SEARCH_WEIGHT_RECENCY or recency_bias bring it
// back.
var DefaultWeights = Weights{
	Vector: 0.35, Keyword: 0.35, Metadata: 0.35, Relation: 0.25, Tag: 0.2, Importance: 0.1,
	Confidence: 0.05, Recency: 0, Exact: 0.2, Relevance: 0, Temporal: 0.1, RecencyWindowDays: 180, TimeMention: 0.1,
}

// SearchTerms are the words the keyword channel searches for: the query's
// words of letters and digits minus stopwords.Search, or every word when
// nothing else is left ("who was it?").
func SearchTerms(q string) []string {
	words := contentTokens(strings.ToLower(q))
	var out []string
	seen := map[string]bool{}
	for _, w := range words {
		if !stopwords.Search.Has(w) && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	if len(out) == 0 {
		return words
	}
	return out
}

var (
	reWhenIntent = regexp.MustCompile(`^\s*(when|how long|what (year|month|week|day|date|time)|which (year|month|week|day|date))\b`)
	// Not "may", "last", "next", "later" or "soon" alone: modal verbs and
	// ordinary words ("you may", "the last step") fired it on any text.
	// May the month only with a day or a preposition.
	reTimeMention = regexp.MustCompile(`\b(yesterday|today|tonight|tomorrow|ago|(this|last|next) (week|weekend|month|year|morning|night|summer|spring|fall|winter|(mon|tues|wednes|thurs|fri|satur|sun)day)|weeks?|months?|years?|weekend|(mon|tues|wednes|thurs|fri|satur|sun)day|january|february|march|april|june|july|august|september|october|november|december|(in|early|late|mid|since|by|of) may|may \d{1,2}|\d{1,2} may|summer|winter|spring|autumn|\d{4}|since|recently)\b`)
)

// AsksWhen reports whether a query asks for a time ("When did...", "How
// long...", "What year...").
func AsksWhen(q string) bool { return reWhenIntent.MatchString(strings.ToLower(q)) }

var (
	// keywordTokens and contentTokens split lower-cased text into runs of
	// these bytes; they stand for the regexps [a-z0-9_-]+ and [a-z0-9]+,
	// which were a tenth of a recall's CPU.
	keywordTokens = tokenizer("-_")
	contentTokens = tokenizer("")
)

// Keywords is AutoMem's extract_keywords: lower-cased [a-z0-9_-] tokens with
// '-' and '_' trimmed from the ends, at least 3 long, minus AutoMem's
// stopwords (stopwords.AutoMemKeywords), deduplicated in order.
func Keywords(q string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range keywordTokens(strings.ToLower(q)) {
		t = strings.Trim(t, "-_")
		if len(t) < 3 || stopwords.AutoMemKeywords.Has(t) || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}

// metadataTerms are the lower-cased string values (≤256 chars) found in
// metadata, recursively except under "entities", plus their tokens.
func metadataTerms(meta map[string]any) map[string]bool {
	terms := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if len(x) <= 256 {
				s := strings.ToLower(strings.TrimSpace(x))
				if s != "" {
					terms[s] = true
				}
				for _, t := range keywordTokens(s) {
					terms[t] = true
				}
			}
		case []any:
			for _, it := range x {
				walk(it)
			}
		case map[string]any:
			for k, it := range x {
				if k != "entities" {
					walk(it)
				}
			}
		}
	}
	walk(meta)
	return terms
}

// Score computes a row's components and final score for query tokens.
func Score(w Weights, r *Row, tokens []string, query string, now time.Time) {
	m := r.Memory
	c := Components{Importance: m.Importance, Confidence: m.Confidence, Relation: r.RelationScore, Vector: math.Max(0, r.Similarity)}
	lowerContent := strings.ToLower(m.Content)
	if r.MatchType == "trending" {
		c.Keyword = math.Min(1, r.MatchScore) // AutoMem: a trending row's keyword score is its importance
	} else if terms := SearchTerms(query); len(terms) > 0 {
		// The share of the query's words the memory contains, averaged with
		// its BM25 score when the keyword channel ranked it. BM25 weighs
		// rare words above common ones; the share keeps small stores sane,
		// where FTS5 gives any word in half the memories no weight at all.
		content := map[string]bool{}
		for _, t := range contentTokens(lowerContent) {
			content[t] = true
		}
		found := 0
		for _, t := range terms {
			if content[t] {
				found++
			}
		}
		c.Keyword = float64(found) / float64(len(terms))
		if r.Searched {
			c.Keyword = (c.Keyword + r.Lexical) / 2
		}
	}
	if w.TimeMention > 0 && AsksWhen(query) && reTimeMention.MatchString(lowerContent) {
		c.TimeMention = 1
	}
	if len(tokens) > 0 {

		tags := map[string]bool{}
		for _, t := range m.Tags {
			tags[strings.ToLower(t)] = true
		}
		terms := metadataTerms(m.Metadata)
		hits := 0
		for _, t := range tokens {
			if tags[t] || terms[t] {
				hits++
			}
		}
		c.Tag = math.Min(1, float64(hits)/float64(len(tokens)))
		if q := strings.ToLower(strings.TrimSpace(query)); q != "" && terms[q] {
			c.Exact = 1
		}
	}
	age := now.Sub(m.Timestamp).Hours() / 24
	switch {
	case m.Timestamp.IsZero():
		c.Recency = 0
	case age < 0:
		c.Recency = 1
	default:
		c.Recency = math.Max(0, 1-age/w.RecencyWindowDays)
	}
	c.Evidence = math.Max(math.Max(c.Vector, c.Keyword), math.Max(c.Metadata, c.Exact))
	r.Components = c
	r.FinalScore = w.Vector*c.Vector + w.Keyword*c.Keyword + w.Metadata*c.Metadata + w.Relation*c.Relation +
		w.Tag*c.Tag + w.Importance*c.Importance + w.Confidence*c.Confidence + w.Recency*c.Recency +
		w.Exact*c.Exact + w.Relevance*c.Relevance + w.TimeMention*c.TimeMention + c.Context
}

// standing is the part of a score that a memory has whatever the query:
// its importance, confidence and recency.
func (w Weights) standing(c Components) float64 {
	return w.Importance*c.Importance + w.Confidence*c.Confidence + w.Recency*c.Recency
}

// Fingerprint is AutoMem's dedupe key: identical content, up to case and
// markdown punctuation, collapses to one result. AutoMem lower-cases,
// turns `*_#>~- into spaces, drops non-ASCII, turns the other non-word
// characters into spaces, collapses runs of space and keeps 320 characters;
// this is the same in one pass.
func Fingerprint(content string) string {
	s := strings.ToLower(content)
	b := make([]byte, 0, min(len(s), 320))
	space := false
	for i := 0; i < len(s) && len(b) < 320; i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			continue // dropped, not a separator
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			if space && len(b) > 0 {
				b = append(b, ' ')
			}
			space = false
			b = append(b, c)
		default:
			space = true
		}
	}
	return string(b[:min(len(b), 320)])
}

// Dedupe keeps one row per fingerprint: the higher final score, then the
// newer timestamp. As in AutoMem, the winner's DedupedFrom lists every id of
// its group, its own included, sorted.
func Dedupe(rows []*Row) ([]*Row, int) {
	best := map[string]*Row{}
	var order []string
	for _, r := range rows {
		fp := Fingerprint(r.Memory.Content)
		if fp == "" {
			fp = "id:" + r.ID
		}
		cur, ok := best[fp]
		if !ok {
			best[fp] = r
			order = append(order, fp)
			continue
		}
		winner, loser := cur, r
		if r.FinalScore > cur.FinalScore || (r.FinalScore == cur.FinalScore && r.Memory.Timestamp.After(cur.Memory.Timestamp)) {
			winner, loser = r, cur
		}
		winner.DedupedFrom = mergeIDs(winner.ID, winner.DedupedFrom, loser.ID, loser.DedupedFrom)
		best[fp] = winner
	}
	out := make([]*Row, 0, len(order))
	for _, fp := range order {
		out = append(out, best[fp])
	}
	return out, len(rows) - len(out)
}

func mergeIDs(a string, as []string, b string, bs []string) []string {
	set := map[string]bool{a: true, b: true}
	for _, id := range append(append([]string{}, as...), bs...) {
		set[id] = true
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// SortRows orders rows for the sort mode. For "score": final score, then
// vector rows first, then the channel score, importance and newest.
func SortRows(rows []*Row, mode string) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		// Time orders match the stores' SQL: the time, then (for updated_*)
		// the timestamp, then the id ascending.
		switch mode {
		case mnemo.OrderTimeDesc:
			return timeOrder(b.Memory.Timestamp, a.Memory.Timestamp, time.Time{}, time.Time{}, a.ID, b.ID)
		case mnemo.OrderTimeAsc:
			return timeOrder(a.Memory.Timestamp, b.Memory.Timestamp, time.Time{}, time.Time{}, a.ID, b.ID)
		case mnemo.OrderUpdatedDesc:
			return timeOrder(b.Memory.UpdatedAt, a.Memory.UpdatedAt, b.Memory.Timestamp, a.Memory.Timestamp, a.ID, b.ID)
		case mnemo.OrderUpdatedAsc:
			return timeOrder(a.Memory.UpdatedAt, b.Memory.UpdatedAt, a.Memory.Timestamp, b.Memory.Timestamp, a.ID, b.ID)
		}
		if a.FinalScore != b.FinalScore {
			return a.FinalScore > b.FinalScore
		}
		if (a.Source == "vector") != (b.Source == "vector") {
			return a.Source == "vector"
		}
		if a.OriginalScore != b.OriginalScore {
			return a.OriginalScore > b.OriginalScore
		}
		if a.Memory.Importance != b.Memory.Importance {
			return a.Memory.Importance > b.Memory.Importance
		}
		if !a.Memory.Timestamp.Equal(b.Memory.Timestamp) {
			return a.Memory.Timestamp.After(b.Memory.Timestamp)
		}
		return a.ID < b.ID
	})
}

// timeOrder reports whether the row with keys (x1, y1, idA) sorts before the
// one with (x2, y2, idB); callers swap x and y for descending orders.
func timeOrder(x1, x2, y1, y2 time.Time, idA, idB string) bool {
	if !x1.Equal(x2) {
		return x1.Before(x2)
	}
	if !y1.Equal(y2) {
		return y1.Before(y2)
	}
	return idA < idB
}

// AdaptiveFloor is AutoMem's cut at a large score gap: with more than 3
// rows, the largest drop between neighbours in the upper half, if above a
// quarter of the top score, becomes a floor, provided at least half the rows
// stay. It returns the floor, or ok=false when nothing is cut.
func AdaptiveFloor(rows []*Row) (floor float64, ok bool) {
	n := len(rows)
	if n <= 3 {
		return 0, false
	}
	s := make([]float64, n)
	for i, r := range rows {
		s[i] = r.FinalScore
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(s)))
	bestGap, gapIdx := 0.0, -1
	for i := 1; i < max(3, n/2); i++ {
		if g := s[i-1] - s[i]; g > bestGap {
			bestGap, gapIdx = g, i
		}
	}
	if gapIdx < 0 || bestGap <= 0.25*s[0] {
		return 0, false
	}
	floor = s[gapIdx]
	survivors := 0
	for _, v := range s {
		if v >= floor {
			survivors++
		}
	}
	if survivors < (n+1)/2 || survivors == n {
		return 0, false
	}
	return floor, true
}

// tokenizer returns a function that splits s into the maximal runs of
// ASCII lower-case letters, digits and the bytes of extra, in order.
func tokenizer(extra string) func(s string) []string {
	var in [256]bool
	for c := 'a'; c <= 'z'; c++ {
		in[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		in[c] = true
	}
	for i := 0; i < len(extra); i++ {
		in[extra[i]] = true
	}
	return func(s string) []string {
		var out []string
		start := -1
		for i := 0; i < len(s); i++ {
			switch {
			case in[s[i]] && start < 0:
				start = i
			case !in[s[i]] && start >= 0:
				out = append(out, s[start:i])
				start = -1
			}
		}
		if start >= 0 {
			out = append(out, s[start:])
		}
		return out
	}
}
