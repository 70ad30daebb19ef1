// Package locomo reads the LoCoMo benchmark (Maharana et al., ACL 2024)
// from where it lies, and scores retrieval on it: recall@k, nDCG@10 and MRR,
// with the plain BM25 reference of the data's README computed on the same
// turns. The data is CC BY-NC 4.0 and is never copied into this repository.
package locomo

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

type Turn struct {
	DiaID   string `json:"dia_id"`
	Speaker string `json:"speaker"`
	Text    string `json:"text"`
	Caption string `json:"blip_caption"`
	Session int
	When    time.Time
}

type Question struct {
	Question string
	Category int
	Evidence []string
}

type Conversation struct {
	ID        string
	Turns     []Turn
	Questions []Question
}

// Items are the conversation's turns as /memory/batch items, one per turn,
// in order: each carries its session as a conversation key (a session: tag
// and session_id metadata), so recall's neighbour step applies within a
// session.
func (c Conversation) Items() []map[string]any {
	items := make([]map[string]any, len(c.Turns))
	for i, t := range c.Turns {
		items[i] = map[string]any{"content": t.Content(), "timestamp": t.When.Format(time.RFC3339), "type": "Context",
			"tags":     []any{"speaker:" + strings.ToLower(t.Speaker), fmt.Sprintf("session:%d", t.Session)},
			"metadata": map[string]any{"dia_id": t.DiaID, "conversation_id": c.ID, "session_id": t.Session, "speaker": t.Speaker}}
	}
	return items
}

func (t Turn) Content() string {
	s := t.Speaker + ": " + t.Text
	if t.Caption != "" {
		s += " [Image: " + t.Caption + "]"
	}
	return s
}

var (
	reSessionKey = regexp.MustCompile(`^session_(\d+)$`)
	reEvidence   = regexp.MustCompile(`D:?(\d+):0*(\d+)`)
)

// Load reads the data set, normalises evidence ids (the data's known
// errors: several ids in one string, "D:11:26", "D30:05") and drops ids
// that name no turn.
func Load(path string) ([]Conversation, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var samples []struct {
		SampleID     string                     `json:"sample_id"`
		Conversation map[string]json.RawMessage `json:"conversation"`
		QA           []struct {
			Question string `json:"question"`
			Category int    `json:"category"`
			Evidence []any  `json:"evidence"`
		} `json:"qa"`
	}
	if err := json.Unmarshal(raw, &samples); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Conversation
	for _, s := range samples {
		c := Conversation{ID: s.SampleID}
		known := map[string]bool{}
		for key, val := range s.Conversation {
			m := reSessionKey.FindStringSubmatch(key)
			if m == nil {
				continue
			}
			n, _ := strconv.Atoi(m[1])
			var when string
			json.Unmarshal(s.Conversation[key+"_date_time"], &when)
			ts, err := time.Parse("3:04 pm on 2 January, 2006", strings.ToLower(strings.TrimSpace(when)))
			if err != nil {
				return nil, fmt.Errorf("%s %s date %q: %w", s.SampleID, key, when, err)
			}
			var turns []Turn
			if err := json.Unmarshal(val, &turns); err != nil {
				return nil, fmt.Errorf("%s %s: %w", s.SampleID, key, err)
			}
			for i := range turns {
				turns[i].Session, turns[i].When = n, ts
				known[turns[i].DiaID] = true
			}
			c.Turns = append(c.Turns, turns...)
		}
		sort.SliceStable(c.Turns, func(i, j int) bool { return c.Turns[i].When.Before(c.Turns[j].When) })
		for _, q := range s.QA {
			var ev []string
			seen := map[string]bool{}
			for _, e := range q.Evidence {
				str, _ := e.(string)
				for _, m := range reEvidence.FindAllStringSubmatch(str, -1) {
					id := "D" + m[1] + ":" + m[2]
					if known[id] && !seen[id] {
						seen[id] = true
						ev = append(ev, id)
					}
				}
			}
			c.Questions = append(c.Questions, Question{Question: q.Question, Category: q.Category, Evidence: ev})
		}
		out = append(out, c)
	}
	return out, nil
}

// BM25 is the plain BM25 reference of the data's README: "Speaker: text",
// lower-cased alphanumeric tokens minus common English stopwords
// (referenceBM25Stopwords), no stemming, k1 1.2, b 0.75. It reproduces the
// README's numbers (0.290, 0.499, 0.572 against 0.284, 0.498, 0.566), so
// the comparison is fair.
type BM25 struct {
	docs  [][]string
	df    map[string]int
	avgdl float64
}

// referenceBM25Stopwords are the "common English stopwords" of the BM25
// reference. They are part of the reference, not of mnemo, and stay here
// rather than in internal/stopwords: with this list the reference
// reproduces the data README's numbers, so it must not follow a change to
// mnemo's own lists. (It happens to equal stopwords.HashEmbedding plus the
// question words what, when, where, who, whom, which, why, how.)
var referenceBM25Stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or but of to in on at for with by from as is are was were be been being
		it its this that these those i you he she we they me him her us them my your his our their do does did have
		has had not no so if then than too very can will just what when where who whom which why how`) {
		referenceBM25Stopwords[w] = true
	}
}

func bm25Tokens(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') }) {
		if !referenceBM25Stopwords[w] {
			out = append(out, w)
		}
	}
	return out
}

func NewBM25(texts []string) *BM25 {
	b := &BM25{df: map[string]int{}}
	total := 0
	for _, t := range texts {
		toks := bm25Tokens(t)
		b.docs = append(b.docs, toks)
		total += len(toks)
		seen := map[string]bool{}
		for _, w := range toks {
			if !seen[w] {
				seen[w] = true
				b.df[w]++
			}
		}
	}
	b.avgdl = float64(total) / float64(max(len(texts), 1))
	return b
}

// top returns the indexes of the k best documents for q.
func (b *BM25) Top(q string, k int) []int {
	n := float64(len(b.docs))
	terms := map[string]bool{}
	for _, w := range bm25Tokens(q) {
		terms[w] = true
	}
	type hit struct {
		i int
		s float64
	}
	var hits []hit
	for i, d := range b.docs {
		tf := map[string]int{}
		for _, w := range d {
			if terms[w] {
				tf[w]++
			}
		}
		s := 0.0
		for w, f := range tf {
			idf := math.Log(1 + (n-float64(b.df[w])+0.5)/(float64(b.df[w])+0.5))
			s += idf * float64(f) * 2.2 / (float64(f) + 1.2*(0.25+0.75*float64(len(d))/b.avgdl))
		}
		if s > 0 {
			hits = append(hits, hit{i, s})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].s > hits[j].s })
	out := make([]int, 0, k)
	for i := 0; i < len(hits) && i < k; i++ {
		out = append(out, hits[i].i)
	}
	return out
}

// metrics accumulates recall@1/5/10, nDCG@10 and MRR over questions.
type Metrics struct {
	N                        int
	r1, r5, r10, ndcg10, mrr float64
}

func (m *Metrics) Add(ranked []string, evidence []string) {
	rel := map[string]bool{}
	for _, e := range evidence {
		rel[e] = true
	}
	recallAt := func(k int) float64 {
		found := 0
		for i := 0; i < k && i < len(ranked); i++ {
			if rel[ranked[i]] {
				found++
			}
		}
		return float64(found) / float64(len(evidence))
	}
	dcg, idcg := 0.0, 0.0
	for i := 0; i < 10 && i < len(ranked); i++ {
		if rel[ranked[i]] {
			dcg += 1 / math.Log2(float64(i+2))
		}
	}
	for i := 0; i < min(10, len(evidence)); i++ {
		idcg += 1 / math.Log2(float64(i+2))
	}
	rr := 0.0
	for i, id := range ranked {
		if rel[id] {
			rr = 1 / float64(i+1)
			break
		}
	}
	m.N++
	m.r1 += recallAt(1)
	m.r5 += recallAt(5)
	m.r10 += recallAt(10)
	m.ndcg10 += dcg / idcg
	m.mrr += rr
}

func (m *Metrics) Row() [5]float64 {
	n := float64(max(m.N, 1))
	return [5]float64{m.r1 / n, m.r5 / n, m.r10 / n, m.ndcg10 / n, m.mrr / n}
}
