package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// LoCoMo data (Maharana et al., ACL 2024), read from where it lies; never
// copied into the repository.
type locomoTurn struct {
	DiaID   string `json:"dia_id"`
	Speaker string `json:"speaker"`
	Text    string `json:"text"`
	Caption string `json:"blip_caption"`
	Session int
	When    time.Time
}

type locomoQuestion struct {
	Question string
	Category int
	Evidence []string
}

type locomoConversation struct {
	ID        string
	Turns     []locomoTurn
	Questions []locomoQuestion
}

func (t locomoTurn) content() string {
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

// loadLocomo reads the data set, normalises evidence ids (the data's known
// errors: several ids in one string, "D:11:26", "D30:05") and drops ids
// that name no turn.
func loadLocomo(path string) ([]locomoConversation, error) {
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
	var out []locomoConversation
	for _, s := range samples {
		c := locomoConversation{ID: s.SampleID}
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
			var turns []locomoTurn
			if err := json.Unmarshal(val, &turns); err != nil {
				return nil, fmt.Errorf("%s %s: %w", s.SampleID, key, err)
			}
			for i := range turns {
				turns[i].Session, turns[i].When = n, ts.Add(time.Duration(i)*time.Second)
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
			c.Questions = append(c.Questions, locomoQuestion{Question: q.Question, Category: q.Category, Evidence: ev})
		}
		out = append(out, c)
	}
	return out, nil
}

// bm25 is the plain BM25 reference of the data's README: "Speaker: text",
// lower-cased alphanumeric tokens minus common English stopwords, no
// stemming, k1 1.2, b 0.75. It reproduces the README's numbers (0.290,
// 0.499, 0.572 against 0.284, 0.498, 0.566), so the comparison is fair.
type bm25 struct {
	docs  [][]string
	df    map[string]int
	avgdl float64
}

var bm25Stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or but of to in on at for with by from as is are was were be been being
		it its this that these those i you he she we they me him her us them my your his our their do does did have
		has had not no so if then than too very can will just what when where who whom which why how`) {
		bm25Stopwords[w] = true
	}
}

func bm25Tokens(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') }) {
		if !bm25Stopwords[w] {
			out = append(out, w)
		}
	}
	return out
}

func newBM25(texts []string) *bm25 {
	b := &bm25{df: map[string]int{}}
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
func (b *bm25) top(q string, k int) []int {
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
type metrics struct {
	n                        int
	r1, r5, r10, ndcg10, mrr float64
}

func (m *metrics) add(ranked []string, evidence []string) {
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
	m.n++
	m.r1 += recallAt(1)
	m.r5 += recallAt(5)
	m.r10 += recallAt(10)
	m.ndcg10 += dcg / idcg
	m.mrr += rr
}

func (m *metrics) row() [5]float64 {
	n := float64(max(m.n, 1))
	return [5]float64{m.r1 / n, m.r5 / n, m.r10 / n, m.ndcg10 / n, m.mrr / n}
}

// benchClient talks to a running mnemo over HTTP.
type benchClient struct {
	base, admin string
	http        *http.Client
}

func (c *benchClient) do(ctx context.Context, method, path, token string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(raw, out)
	}
	return resp.StatusCode, nil
}

var categoryNames = map[int]string{1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}

func benchLocomo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench locomo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8001", "mnemo server URL")
	adminTok := fs.String("admin-token", os.Getenv("ADMIN_API_TOKEN"), "admin token (default $ADMIN_API_TOKEN)")
	data := fs.String("data", "../shared/evals/data/locomo10.json", "path to locomo10.json")
	convs := fs.String("conversations", "", "comma-separated conversation indexes (default all)")
	params := fs.String("params", "", "extra /recall query parameters, e.g. expand_relations=true")
	keep := fs.Bool("keep", false, "keep the benchmark tenants")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *adminTok == "" {
		return fmt.Errorf("set --admin-token or ADMIN_API_TOKEN")
	}
	extra, err := url.ParseQuery(*params)
	if err != nil {
		return fmt.Errorf("--params: %w", err)
	}
	all, err := loadLocomo(*data)
	if err != nil {
		return err
	}
	selected := all
	if *convs != "" {
		selected = nil
		for _, p := range strings.Split(*convs, ",") {
			i, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || i < 0 || i >= len(all) {
				return fmt.Errorf("--conversations: bad index %q", p)
			}
			selected = append(selected, all[i])
		}
	}
	c := &benchClient{base: strings.TrimRight(*base, "/"), admin: *adminTok, http: &http.Client{Timeout: 60 * time.Second}}

	byCat := map[int]*[2]metrics{}
	total := &[2]metrics{}
	var latencies []time.Duration
	turns := 0
	began := time.Now()
	for _, conv := range selected {
		tenant := "locomo-" + strings.ToLower(strings.ReplaceAll(conv.ID, "_", "-"))
		_, _ = c.do(ctx, "DELETE", "/admin/tenants/"+tenant, c.admin, nil, nil)
		var created struct {
			Token string `json:"api_token"`
		}
		if _, err := c.do(ctx, "POST", "/admin/tenants", c.admin, map[string]any{"tenant_id": tenant, "name": "LoCoMo " + conv.ID}, &created); err != nil {
			return err
		}
		if !*keep {
			defer c.do(context.WithoutCancel(ctx), "DELETE", "/admin/tenants/"+tenant, c.admin, nil, nil)
		}
		idToDia := map[string]string{}
		texts := make([]string, len(conv.Turns))
		for start := 0; start < len(conv.Turns); start += 100 {
			chunk := conv.Turns[start:min(start+100, len(conv.Turns))]
			items := make([]map[string]any, len(chunk))
			for i, t := range chunk {
				texts[start+i] = t.content()
				items[i] = map[string]any{"content": t.content(), "timestamp": t.When.Format(time.RFC3339), "type": "Context",
					"tags":     []string{"speaker:" + strings.ToLower(t.Speaker), fmt.Sprintf("session:%d", t.Session)},
					"metadata": map[string]any{"dia_id": t.DiaID, "conversation_id": conv.ID, "session_id": t.Session, "speaker": t.Speaker}}
			}
			var stored struct {
				IDs []string `json:"memory_ids"`
			}
			if _, err := c.do(ctx, "POST", "/memory/batch", created.Token, map[string]any{"memories": items}, &stored); err != nil {
				return err
			}
			for i, id := range stored.IDs {
				idToDia[id] = chunk[i].DiaID
			}
		}
		turns += len(conv.Turns)
		ref := newBM25(texts)
		for _, q := range conv.Questions {
			if q.Category < 1 || q.Category > 4 || len(q.Evidence) == 0 {
				continue
			}
			v := url.Values{"query": {q.Question}, "limit": {"10"}}
			for k, vals := range extra {
				v[k] = vals
			}
			var resp struct {
				Results []struct {
					ID string `json:"id"`
				} `json:"results"`
			}
			t0 := time.Now()
			if _, err := c.do(ctx, "GET", "/recall?"+v.Encode(), created.Token, nil, &resp); err != nil {
				return err
			}
			latencies = append(latencies, time.Since(t0))
			var got []string
			for _, r := range resp.Results {
				got = append(got, idToDia[r.ID])
			}
			var want []string
			for _, i := range ref.top(q.Question, 10) {
				want = append(want, conv.Turns[i].DiaID)
			}
			if byCat[q.Category] == nil {
				byCat[q.Category] = &[2]metrics{}
			}
			for _, m := range []*[2]metrics{byCat[q.Category], total} {
				m[0].add(got, q.Evidence)
				m[1].add(want, q.Evidence)
			}
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	fmt.Fprintf(stdout, "LoCoMo: %d conversations, %d turns, %d questions (categories 1-4 with evidence), %.1fs\n",
		len(selected), turns, total[0].n, time.Since(began).Seconds())
	if len(extra) > 0 {
		fmt.Fprintf(stdout, "recall parameters: %s\n", extra.Encode())
	}
	fmt.Fprintf(stdout, "%-12s %5s | %-33s | %-33s | %s\n", "category", "n", "mnemo  R@1   R@5   R@10  nDCG  MRR", "BM25   R@1   R@5   R@10  nDCG  MRR", "R@5 ratio  R@10 ratio")
	line := func(name string, m *[2]metrics) {
		a, b := m[0].row(), m[1].row()
		fmt.Fprintf(stdout, "%-12s %5d |       %.3f %.3f %.3f %.3f %.3f |       %.3f %.3f %.3f %.3f %.3f | %.2f       %.2f\n",
			name, m[0].n, a[0], a[1], a[2], a[3], a[4], b[0], b[1], b[2], b[3], b[4], a[1]/b[1], a[2]/b[2])
	}
	for cat := 1; cat <= 4; cat++ {
		if m := byCat[cat]; m != nil {
			line(fmt.Sprintf("%d %s", cat, categoryNames[cat]), m)
		}
	}
	line("overall", total)
	fmt.Fprintf(stdout, "recall latency over HTTP (ms): p50 %.2f  p95 %.2f  p99 %.2f\n", pct(0.50), pct(0.95), pct(0.99))
	return nil
}
