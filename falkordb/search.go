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
	res, err := s.graph().ROQuery(ctx, `CALL db.idx.fulltext.queryNodes('Memory', $q) YIELD node, score
		WITH node AS m, score WHERE m:Memory AND `+filterCypher(f, p)+`
		WITH m, score ORDER BY score DESC LIMIT $cand
		RETURN `+memoryReturn+`, score`, p)
	if err != nil {
		return nil, storeErr(err)
	}
	st, _, _, err := s.counters(ctx)
	if err != nil {
		return nil, err
	}
	type cand struct {
		m     *mnemo.Memory
		tf    map[string]float64 // weighted: a tag's occurrence counts tagWeight
		n     int
		index float64
	}
	cands := make([]cand, 0, len(res.Rows))
	df := map[string]int{}
	totalLen := 0
	for _, r := range res.Rows {
		m, err := decodeMemory(r[0])
		if err != nil {
			return nil, err
		}
		s.touchedAt(m)
		content, tags := tokens(m.Content), tokens(strings.Join(m.Tags, " "))
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
		cands = append(cands, cand{m: m, tf: tf, n: n, index: num(r[1])})
	}
	if len(cands) == 0 {
		return []mnemo.Hit{}, nil
	}
	nDocs := float64(max(st.Memories, int64(len(cands))))
	avg := math.Max(float64(totalLen)/float64(len(cands)), 1)
	const k1, b = 1.2, 0.75
	hits := make([]mnemo.Hit, 0, len(cands))
	for _, c := range cands {
		score := 0.0
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
			score += idf * tf * (k1 + 1) / (tf + k1*(1-b+b*float64(c.n)/avg))
		}
		// A match found only through the index's stemming still scores.
		score += 1e-3 * math.Max(c.index, 1e-3)
		hits = append(hits, mnemo.Hit{Memory: c.m, Score: score})
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].Memory.ID < hits[j].Memory.ID
	})
	return hits[:min(limit, len(hits))], nil
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
