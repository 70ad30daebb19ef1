package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/embed"
	"github.com/mnemohq/mnemo/recall"
	"github.com/mnemohq/mnemo/sqlite"
)

// benchLoad measures, in process, how fast one tenant's store takes
// memories and how long recall takes as the tenant grows. Vectors are
// computed before the clock starts: the numbers exclude the embedder.
func benchLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "1000,10000,100000", "tenant sizes to measure, ascending")
	dim := fs.Int("dim", 768, "vector dimension")
	queries := fs.Int("queries", 300, "recall queries per size")
	dir := fs.String("dir", "", "where to put the database (default: a temporary directory, removed after)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the recall queries to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var steps []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || (len(steps) > 0 && n <= steps[len(steps)-1]) {
			return fmt.Errorf("--sizes must be ascending positive integers")
		}
		steps = append(steps, n)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "mnemo-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	e := embed.NewHash(*dim)
	store, err := sqlite.OpenStore(ctx, filepath.Join(*dir, "memories.db"), e.Model(), *dim)
	if err != nil {
		return err
	}
	defer store.Close()
	gen := newTextGen(42)
	rc := &recall.Recaller{Config: recall.DefaultConfig, Embedder: e}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(stdout, "one tenant, %d-dim vectors (hash embedder, computed before timing), SQLite synchronous=FULL\n", *dim)
	fmt.Fprintf(stdout, "%9s | %14s %14s | %-31s | %-31s\n", "memories", "batch store/s", "single store/s", "recall ms p50 / p95 / p99", "tag-scoped recall p50 / p95 / p99")
	have := 0
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, target := range steps {
		// Grow in batches of 100, as /memory/batch does.
		var batchDur time.Duration
		batched := 0
		for have < target {
			n := min(100, target-have)
			mems := gen.memories(e, n, have, base)
			t0 := time.Now()
			if _, err := store.Write(ctx, mnemo.Write{Create: mems}, mnemo.Quotas{}); err != nil {
				return err
			}
			batchDur += time.Since(t0)
			have += n
			batched += n
		}
		// Single stores, as POST /memory does: one transaction each.
		singles := gen.memories(e, 200, have, base)
		t0 := time.Now()
		for _, m := range singles {
			if _, err := store.Write(ctx, mnemo.Write{Create: []*mnemo.Memory{m}}, mnemo.Quotas{}); err != nil {
				return err
			}
		}
		singleRate := float64(len(singles)) / time.Since(t0).Seconds()
		have += len(singles)

		plain, scoped, err := measureRecall(ctx, rc, store, e, gen, *queries)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%9d | %14.0f %14.0f | %8.2f / %8.2f / %8.2f  | %8.2f / %8.2f / %8.2f\n", have,
			float64(batched)/batchDur.Seconds(), singleRate, plain[0], plain[1], plain[2], scoped[0], scoped[1], scoped[2])
	}
	return nil
}

func measureRecall(ctx context.Context, rc *recall.Recaller, store mnemo.MemoryStore, e mnemo.Embedder, gen *textGen, n int) (plain, scoped [3]float64, err error) {
	run := func(extra url.Values) ([3]float64, error) {
		var lat []time.Duration
		for i := 0; i < n+10; i++ {
			text := gen.query(4)
			vecs, _ := e.Embed(ctx, []string{text})
			v := url.Values{"query": {text}, "limit": {"10"}}
			for k, vals := range extra {
				v[k] = vals
			}
			q, err := recall.ParseQuery(v, rc.Config, mnemo.DefaultLimits, e.Dim(), time.Now())
			if err != nil {
				return [3]float64{}, err
			}
			q.Embedding = vecs[0]
			t0 := time.Now()
			if _, err := rc.Run(ctx, store, q); err != nil {
				return [3]float64{}, err
			}
			if i >= 10 { // the first queries warm the index and the caches
				lat = append(lat, time.Since(t0))
			}
		}
		return percentiles(lat), nil
	}
	if plain, err = run(nil); err != nil {
		return
	}
	scoped, err = run(url.Values{"tags": {"project:p3"}})
	return
}

func percentiles(lat []time.Duration) [3]float64 {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	at := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	return [3]float64{at(0.50), at(0.95), at(0.99)}
}

// textGen makes reproducible memory-like text: words drawn Zipf-style from
// a synthetic vocabulary, so some words are common and most are rare.
type textGen struct {
	r     *rand.Rand
	zipf  *rand.Zipf
	vocab []string
}

func newTextGen(seed uint64) *textGen {
	r := rand.New(rand.NewPCG(seed, seed))
	g := &textGen{r: r, zipf: rand.NewZipf(r, 1.1, 2, 29999)}
	syll := []string{"ka", "to", "ri", "mo", "len", "sa", "vu", "ne", "pi", "dor", "an", "est", "ul", "bra", "qui", "zo"}
	for i := 0; i < 30000; i++ {
		var b strings.Builder
		for n := 2 + r.IntN(3); n > 0; n-- {
			b.WriteString(syll[r.IntN(len(syll))])
		}
		g.vocab = append(g.vocab, b.String())
	}
	return g
}

func (g *textGen) sentence(words int) string {
	out := make([]string, words)
	for i := range out {
		out[i] = g.vocab[g.zipf.Uint64()]
	}
	return strings.Join(out, " ")
}

// query draws words outside the 100 most frequent, which play the part of
// stopwords in this vocabulary: recall drops real stopwords from a query
// before searching, so a query of only very common words is not realistic.
func (g *textGen) query(words int) string {
	out := make([]string, 0, words)
	for len(out) < words {
		if i := g.zipf.Uint64(); i >= 100 {
			out = append(out, g.vocab[i])
		}
	}
	return strings.Join(out, " ")
}

func (g *textGen) memories(e mnemo.Embedder, n, offset int, base time.Time) []*mnemo.Memory {
	mems := make([]*mnemo.Memory, n)
	texts := make([]string, n)
	for i := range mems {
		ts := base.Add(time.Duration(offset+i) * time.Minute)
		texts[i] = g.sentence(15 + g.r.IntN(40))
		mems[i] = &mnemo.Memory{ID: uuid.NewString(), Content: texts[i], Type: "Context", Importance: g.r.Float64(), Confidence: 0.9,
			Tags:      []string{fmt.Sprintf("project:p%d", g.r.IntN(20)), "bench"},
			Timestamp: ts, TValid: ts, UpdatedAt: ts, LastAccessed: ts, Metadata: map[string]any{"n": offset + i}}
	}
	vecs, _ := e.Embed(context.Background(), texts)
	for i, m := range mems {
		m.Embedding, m.EmbeddingModel = vecs[i], e.Model()
	}
	return mems
}
