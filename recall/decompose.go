package recall

import (
	"regexp"
	"strings"

	"github.com/mnemohq/mnemo/internal/stopwords"
)

var reWord = regexp.MustCompile(`[A-Za-z][A-Za-z'’]*`)

// Decompose splits a question into sub-queries (AutoMem's auto_decompose):
// the named entities in it (capitalised words after the first, and
// possessives), alone and with each of up to three topics (words of four
// letters or more), plus "interests goals plans" when a topic is about
// work; or, with no entity, up to three topics alone. No word of
// stopwords.Decomposition is an entity or a topic. The original query
// comes first.
func Decompose(q string) []string {
	words := reWord.FindAllString(q, -1)
	var entities, topics []string
	seen := map[string]bool{}
	for i, w := range words {
		base := strings.TrimSuffix(strings.TrimSuffix(w, "'s"), "’s")
		lower := strings.ToLower(base)
		possessive := base != w
		if (i > 0 && isCapitalised(base) || possessive) && !stopwords.Decomposition.Has(lower) && !seen["e:"+lower] {
			seen["e:"+lower] = true
			entities = append(entities, base)
			continue
		}
		if len(lower) >= 4 && !stopwords.Decomposition.Has(lower) && !seen["t:"+lower] && len(topics) < 5 {
			seen["t:"+lower] = true
			topics = append(topics, lower)
		}
	}
	out := []string{q}
	add := func(s string) {
		for _, o := range out {
			if strings.EqualFold(o, s) {
				return
			}
		}
		out = append(out, s)
	}
	if len(entities) == 0 {
		for _, t := range topics[:min(3, len(topics))] {
			add(t)
		}
		return out
	}
	for _, e := range entities[:min(2, len(entities))] {
		add(e)
		work := false
		for _, t := range topics[:min(3, len(topics))] {
			add(e + " " + t)
			work = work || t == "career" || t == "job" || t == "work"
		}
		if work {
			add(e + " interests goals plans")
		}
	}
	return out
}

func isCapitalised(w string) bool { return w != "" && w[0] >= 'A' && w[0] <= 'Z' }
