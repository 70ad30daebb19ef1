package recall

import (
	"regexp"
	"strings"
)

var (
	reWord       = regexp.MustCompile(`[A-Za-z][A-Za-z'’]*`)
	decompFiller = map[string]bool{}
)

func init() {
	for _, w := range strings.Fields(`what when where which who whom whose why how does did have has had were was
		would could should will shall might must about with from into that this these those there their them they
		then than some many much more most also just like really very thing things something anything kind sort`) {
		decompFiller[w] = true
	}
}

// Decompose splits a question into sub-queries (AutoMem's auto_decompose):
// the named entities in it (capitalised words after the first, and
// possessives), alone and with each of up to three topics, plus
// "interests goals plans" when a topic is about work; or, with no entity,
// up to three topics alone. The original query comes first.
func Decompose(q string) []string {
	words := reWord.FindAllString(q, -1)
	var entities, topics []string
	seen := map[string]bool{}
	for i, w := range words {
		base := strings.TrimSuffix(strings.TrimSuffix(w, "'s"), "’s")
		lower := strings.ToLower(base)
		possessive := base != w
		if (i > 0 && isCapitalised(base) || possessive) && !searchStopwords[lower] && !decompFiller[lower] && !seen["e:"+lower] {
			seen["e:"+lower] = true
			entities = append(entities, base)
			continue
		}
		if len(lower) >= 4 && !searchStopwords[lower] && !decompFiller[lower] && !seen["t:"+lower] && len(topics) < 5 {
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
