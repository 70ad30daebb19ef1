package falkordb

import (
	"context"
	"math"
	"sort"
	"strings"
	"unicode"

	"github.com/mnemohq/mnemo"
)

// tagWeight is what an occurrence in a tag counts against one in the
// content, as the embedded store weighs its full-text columns.
const tagWeight = 0.5

// Candidates Keyword re-ranks: keywordCandidates per result asked for, at
// least minKeywordCandidates.
const (
	keywordCandidates    = 10
	minKeywordCandidates = 500
)

// Keyword finds candidates with FalkorDB's full-text index (RediSearch:
// stemming, case folding) inside the filter, then ranks them by BM25
// computed here: the index's own TF-IDF scores in coarse steps and ties
// memories the contract ranks apart (one occurrence against three).
//
// The user's text never reaches RediSearch's query syntax: each term is
// cut into runs of letters and digits, and the runs are joined with '|'
// (any of them matches), so quotes, operators, field names and brackets
// are only separators.
func (s *Store) Keyword(ctx context.Context, terms []string, f mnemo.Filter, limit int) ([]mnemo.Hit, error) {
	if limit <= 0 {
		return []mnemo.Hit{}, nil
	}
	var words []string
	seen := map[string]bool{}
	for _, t := range terms {
		for _, w := range tokens(t) {
			if !seen[w] {
				seen[w] = true
				words = append(words, w)
			}
		}
	}
	if len(words) == 0 {
		return []mnemo.Hit{}, nil
	}
	// The index's best candidates only, so a common word in a large tenant
	// does not bring the whole tenant into this process for each query.
	p := Params{"q": strings.Join(words, "|"), "cand": max(limit*keywordCandidates, minKeywordCandidates)}
	// Two steps: the candidates' text only (what BM25 reads), then the
	// whole memories of the best; building and decoding every candidate's
	// memory cost more than the ranking.
	var st mnemo.TenantStats
	counted := make(chan error, 1)
	go func() {
		var err error
		st, _, _, err = s.counters(ctx)
		counted <- err
	}()
	res, err := s.graph().ROQuery(ctx, `CALL db.idx.fulltext.queryNodes('Memory', $q) YIELD node, score
		WITH node AS m, score WHERE m:Memory AND `+filterCypher(f, p)+`
		WITH m, score ORDER BY score DESC LIMIT $cand
		RETURN m.id, m.content, m.tags, score`, p)
	if cerr := <-counted; err == nil {
		err = cerr
	}
	if err != nil {
		return nil, storeErr(err)
	}
	type cand struct {
		id    string
		tf    map[string]float64 // weighted: a tag's occurrence counts tagWeight
		n     int
		index float64
		score float64
	}
	cands := make([]cand, 0, len(res.Rows))
	df := map[string]int{}
	totalLen := 0
	for _, r := range res.Rows {
		id, _ := r[0].(string)
		text, _ := r[1].(string)
		var tagList []string
		if list, ok := r[2].([]any); ok {
			for _, t := range list {
				if t, ok := t.(string); ok {
					tagList = append(tagList, t)
				}
			}
		}
		content, tags := tokens(text), tokens(strings.Join(tagList, " "))
		tf := map[string]float64{}
		for _, w := range content {
			tf[stem(w)]++
		}
		for _, w := range tags {
			tf[stem(w)] += tagWeight
		}
		for _, w := range words {
			if tf[stem(w)] > 0 {
				df[stem(w)]++
			}
		}
		n := len(content) + len(tags)
		totalLen += n
		cands = append(cands, cand{id: id, tf: tf, n: n, index: num(r[3])})
	}
	if len(cands) == 0 {
		return []mnemo.Hit{}, nil
	}
	nDocs := float64(max(st.Memories, int64(len(cands))))
	avg := math.Max(float64(totalLen)/float64(len(cands)), 1)
	const k1, b = 1.2, 0.75
	for i := range cands {
		c := &cands[i]
		for _, w := range words {
			w = stem(w)
			tf := c.tf[w]
			if tf == 0 {
				continue
			}
			// SQLite FTS5's bm25(), which the embedded store ranks by.
			idf := math.Log((nDocs - float64(df[w]) + 0.5) / (float64(df[w]) + 0.5))
			if idf <= 0 {
				idf = 1e-6
			}
			c.score += idf * tf * (k1 + 1) / (tf + k1*(1-b+b*float64(c.n)/avg))
		}
		// A match found only through the index's stemming still scores.
		c.score += 1e-3 * math.Max(c.index, 1e-3)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].score != cands[j].score {
			return cands[i].score > cands[j].score
		}
		return cands[i].id < cands[j].id
	})
	cands = cands[:min(limit, len(cands))]
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.id
	}
	mems, err := s.Memories(ctx, ids)
	if err != nil {
		return nil, err
	}
	hits := make([]mnemo.Hit, 0, len(cands))
	for _, c := range cands {
		if m := mems[c.id]; m != nil { // nil: deleted since
			hits = append(hits, mnemo.Hit{Memory: m, Score: c.score})
		}
	}
	return hits, nil
}

// tokens are the lower-cased runs of letters and digits of s.
func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
}

// stem is a crude English suffix stripper, close enough to RediSearch's
// Snowball stemmer to count a plural's occurrences for its singular.
func stem(w string) string {
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case len(w) > 4 && strings.HasSuffix(w, "ing"):
		return w[:len(w)-3]
	case len(w) > 3 && strings.HasSuffix(w, "ed"):
		return w[:len(w)-2]
	case len(w) > 4 && (strings.HasSuffix(w, "ches") || strings.HasSuffix(w, "shes") || strings.HasSuffix(w, "xes") || strings.HasSuffix(w, "sses")):
		return w[:len(w)-2]
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss"):
		return w[:len(w)-1]
	}
	return w
}
