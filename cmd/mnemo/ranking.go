package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/embed"
	"github.com/mnemohq/mnemo/internal/evalset"
	"github.com/mnemohq/mnemo/internal/locomo"
	"github.com/mnemohq/mnemo/recall"
	"github.com/mnemohq/mnemo/sqlite"
)

// qualityRow is one ranking's R@5, R@10, nDCG@10 and violation rate on
// one set (violations only where the set labels them).
type qualityRow struct{ r5, r10, ndcg, viol float64 }

// benchRanking measures every ranking step on both evaluation sets, in
// process on SQLite: the assistant-style set (internal/evalset) and LoCoMo,
// each with the defaults, without each default step, with each opt-in
// step, and plain BM25 on the same memories.
func benchRanking(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench ranking", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dim := fs.Int("dim", 768, "vector dimension")
	data := fs.String("data", "../shared/evals/data/locomo10.json", "path to locomo10.json")
	embedURL := fs.String("embedder-url", "", "an OpenAI-compatible embeddings endpoint (e.g. scripts/embed-minilm's) instead of the hash embedder")
	embedModel := fs.String("embedder-model", "all-MiniLM-L6-v2", "the model to ask --embedder-url for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	began := time.Now()
	var e mnemo.Embedder = embed.NewHash(*dim)
	if *embedURL != "" {
		e = embed.NewOpenAI(*embedURL, "bench", *embedModel, *dim)
	}
	e = &memoEmbedder{Embedder: e, seen: map[string][]float32{}}
	dir, err := os.MkdirTemp("", "mnemo-bench-ranking-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	set, err := evalset.Assistant()
	if err != nil {
		return err
	}
	assistant, err := rankAssistant(ctx, set, e, filepath.Join(dir, "assistant.db"))
	if err != nil {
		return err
	}
	convs, err := locomo.Load(*data)
	if err != nil {
		return err
	}
	loco, questions, err := rankLocomo(ctx, convs, e, dir)
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "assistant set: %d memories, %d questions; LoCoMo: %d conversations, %d questions; embedder %s, in process on SQLite, %.0fs\n",
		len(set.Memories), len(set.Questions), len(convs), questions, e.Model(), time.Since(began).Seconds())
	fmt.Fprintf(stdout, "%-24s | %-31s | %-24s\n", "", "assistant-style", "LoCoMo")
	fmt.Fprintf(stdout, "%-24s | %-5s %-5s %-7s %-5s   | %-5s %-5s %-7s\n", "ranking", "R@5", "R@10", "nDCG@10", "viol", "R@5", "R@10", "nDCG@10")
	base := [2]qualityRow{assistant[0], loco[0]}
	for i := range assistant {
		a, l := assistant[i], loco[i]
		name := "BM25"
		if i < len(evalset.Variants) {
			name = evalset.Variants[i].Name
		}
		mark := ""
		if i > 0 && i < len(evalset.Variants) {
			mark = fmt.Sprintf("  Δ R@10 %+.3f / %+.3f", a.r10-base[0].r10, l.r10-base[1].r10)
		}
		fmt.Fprintf(stdout, "%-24s | %.3f %.3f %.3f   %.3f   | %.3f %.3f %.3f%s\n", name, a.r5, a.r10, a.ndcg, a.viol, l.r5, l.r10, l.ndcg, mark)
	}
	bm := loco[len(loco)-1]
	fmt.Fprintf(stdout, "LoCoMo, defaults over BM25: R@5 %.2fx, R@10 %.2fx\n", base[1].r5/bm.r5, base[1].r10/bm.r10)
	return nil
}

// rankAssistant scores each variant, then BM25, on the assistant set.
func rankAssistant(ctx context.Context, set *evalset.Set, e mnemo.Embedder, path string) ([]qualityRow, error) {
	st, err := set.Open(ctx, path, e)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	row := func(r evalset.Report) qualityRow {
		return qualityRow{r.Overall.R5, r.Overall.R10, r.Overall.NDCG10, r.Overall.Violation}
	}
	var out []qualityRow
	for _, v := range evalset.Variants {
		_, rep, err := st.Ask(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("assistant: %w", err)
		}
		out = append(out, row(rep))
	}
	return append(out, row(set.Score(set.BM25(10)))), nil
}

// rankLocomo stores each conversation in a store of its own, as `bench
// locomo` does over HTTP, and scores each variant, then BM25, on the
// questions of categories 1-4 with evidence.
func rankLocomo(ctx context.Context, convs []locomo.Conversation, e mnemo.Embedder, dir string) ([]qualityRow, int, error) {
	metrics := make([]locomo.Metrics, len(evalset.Variants)+1)
	for ci, conv := range convs {
		st, err := sqlite.OpenStore(ctx, filepath.Join(dir, fmt.Sprintf("locomo-%d.db", ci)), e.Model(), e.Dim())
		if err != nil {
			return nil, 0, err
		}
		defer st.Close()
		now := time.Now()
		var w mnemo.Write
		dia := map[string]string{}
		texts := make([]string, len(conv.Turns))
		for i, item := range conv.Items() {
			m, err := mnemo.NewBatchMemory(item, i, now, mnemo.DefaultLimits, e.Dim())
			if err != nil {
				return nil, 0, fmt.Errorf("%s turn %d: %w", conv.ID, i, err)
			}
			w.Create, dia[m.ID], texts[i] = append(w.Create, m), conv.Turns[i].DiaID, m.Content
		}
		vecs, err := e.Embed(ctx, texts)
		if err != nil {
			return nil, 0, err
		}
		for i, m := range w.Create {
			m.Embedding, m.EmbeddingModel = vecs[i], e.Model()
		}
		if _, err := st.Write(ctx, w, mnemo.Quotas{}); err != nil {
			return nil, 0, err
		}
		ref := locomo.NewBM25(texts)
		for _, q := range conv.Questions {
			if q.Category < 1 || q.Category > 4 || len(q.Evidence) == 0 {
				continue
			}
			for vi, v := range evalset.Variants {
				rc, params := v.Recaller(e)
				vals := url.Values{"query": {q.Question}, "limit": {"10"}}
				for k, p := range params {
					vals[k] = p
				}
				pq, err := recall.ParseQuery(vals, rc.Config, mnemo.DefaultLimits, e.Dim(), now)
				if err != nil {
					return nil, 0, err
				}
				resp, err := rc.Run(ctx, st, pq)
				if err != nil {
					return nil, 0, fmt.Errorf("LoCoMo %s, %s: %w", conv.ID, v.Name, err)
				}
				var got []string
				for _, r := range resp.Results {
					got = append(got, dia[r.ID])
				}
				metrics[vi].Add(got, q.Evidence)
			}
			var want []string
			for _, i := range ref.Top(q.Question, 10) {
				want = append(want, conv.Turns[i].DiaID)
			}
			metrics[len(evalset.Variants)].Add(want, q.Evidence)
		}
	}
	out := make([]qualityRow, len(metrics))
	for i := range metrics {
		r := metrics[i].Row()
		out[i] = qualityRow{r5: r[1], r10: r[2], ndcg: r[3]}
	}
	return out, metrics[0].N, nil
}

// memoEmbedder remembers the vectors of the texts it embedded: every
// variant asks the same questions, and a remote embedder is slow.
type memoEmbedder struct {
	mnemo.Embedder
	seen map[string][]float32
}

func (m *memoEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 1 {
		if v, ok := m.seen[texts[0]]; ok {
			return [][]float32{v}, nil
		}
	}
	var out [][]float32
	for start := 0; start < len(texts); start += 64 {
		vecs, err := m.Embedder.Embed(ctx, texts[start:min(start+64, len(texts))])
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	if len(texts) == 1 {
		m.seen[texts[0]] = out[0]
	}
	return out, nil
}
