package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
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
	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/recall"
	"github.com/mnemohq/mnemo/sqlite"
)

// benchLoad measures, in process, how fast one tenant's store takes
// memories and how long recall takes as the tenant grows, on SQLite,
// FalkorDB or both. Vectors are computed before the clock starts: the
// numbers exclude the embedder. With both, each backend gets the same
// generated memories and queries (the generator restarts from its seed).
func benchLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "1000,10000,100000", "tenant sizes to measure, ascending")
	dim := fs.Int("dim", 768, "vector dimension")
	queries := fs.Int("queries", 300, "recall queries per size")
	backend := fs.String("backend", "sqlite", "sqlite, falkordb, or both (the same data and queries on each, one table per backend)")
	falkorAddr := fs.String("falkordb", benchFalkorDBAddr(), "FalkorDB host:port for --backend falkordb|both (default from FALKORDB_HOST and FALKORDB_PORT)")
	dir := fs.String("dir", "", "where to put the SQLite database (default: a temporary directory, removed after)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (not FalkorDB's server) to this file")
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
	var backends []string
	switch *backend {
	case "sqlite", "falkordb":
		backends = []string{*backend}
	case "both":
		backends = []string{"sqlite", "falkordb"}
	default:
		return fmt.Errorf("--backend must be sqlite, falkordb or both, got %q", *backend)
	}
	e := embed.NewHash(*dim)
	// Every store is opened before any is measured, so an unreachable
	// FalkorDB fails at once, not after the SQLite run.
	stores := make([]benchStore, 0, len(backends))
	defer func() {
		for _, s := range stores {
			if err := s.close(); err != nil {
				fmt.Fprintf(stderr, "bench load: closing %s: %v\n", s.name, err)
			}
		}
	}()
	for _, b := range backends {
		s, err := openBenchStore(ctx, b, *dir, *falkorAddr, e)
		if err != nil {
			return err
		}
		stores = append(stores, s)
	}

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
	results := make([][]loadRow, len(stores))
	for i, s := range stores {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "one tenant, %d-dim vectors (hash embedder, computed before timing), %s\n", *dim, s.desc)
		rows, err := measureLoad(ctx, s.store, e, steps, *queries, stdout)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		results[i] = rows
	}
	if len(results) == 2 {
		fmt.Fprintf(stdout, "\nrecall p95 %s/%s:", stores[1].name, stores[0].name)
		for i, a := range results[0] {
			b := results[1][i]
			fmt.Fprintf(stdout, " %d memories %.1fx (tag-scoped %.1fx);", a.memories, b.plain[1]/a.plain[1], b.scoped[1]/a.scoped[1])
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

// benchStore is one backend's store for benchLoad; the backend decides
// only how it is opened and closed.
type benchStore struct {
	name, desc string
	store      mnemo.MemoryStore
	close      func() error
}

// openBenchStore opens a fresh tenant store: SQLite in dir (a temporary
// directory when empty), or a new graph on the FalkorDB at addr, deleted
// by close.
func openBenchStore(ctx context.Context, backend, dir, addr string, e mnemo.Embedder) (benchStore, error) {
	if backend == "sqlite" {
		var tmp string
		if dir == "" {
			d, err := os.MkdirTemp("", "mnemo-bench-")
			if err != nil {
				return benchStore{}, err
			}
			tmp, dir = d, d
		}
		st, err := sqlite.OpenStore(ctx, filepath.Join(dir, "memories.db"), e.Model(), e.Dim())
		if err != nil {
			os.RemoveAll(tmp) // "" when --dir was given: removes nothing
			return benchStore{}, err
		}
		return benchStore{name: "sqlite", desc: "SQLite synchronous=FULL", store: st, close: func() error {
			err := st.Close()
			if tmp != "" {
				err = errors.Join(err, os.RemoveAll(tmp))
			}
			return err
		}}, nil
	}
	rdb, err := dialFalkorDB(ctx, addr)
	if err != nil {
		return benchStore{}, err
	}
	desc := "FalkorDB at " + addr
	if cfg, err := rdb.ConfigGet(ctx, "appendfsync").Result(); err == nil && cfg["appendfsync"] != "" {
		desc += " appendfsync=" + cfg["appendfsync"]
	}
	c := falkordb.New(rdb)
	id := "bench-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	drop := func() error {
		// Also after Ctrl-C: the bench graph must not outlive the run.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return errors.Join(c.Graph(falkordb.GraphName(id)).Delete(ctx), rdb.Close())
	}
	st, err := falkordb.OpenStore(ctx, c, id, e.Model(), e.Dim())
	if err != nil {
		return benchStore{}, errors.Join(err, drop())
	}
	return benchStore{name: "falkordb", desc: desc + ", graph " + falkordb.GraphName(id), store: st, close: drop}, nil
}

// benchFalkorDBAddr is FALKORDB_HOST:FALKORDB_PORT, each defaulting as a
// local server does.
func benchFalkorDBAddr() string {
	host, port := os.Getenv("FALKORDB_HOST"), os.Getenv("FALKORDB_PORT")
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "6379"
	}
	return net.JoinHostPort(host, port)
}

// loadRow is one size's measurements; plain and scoped are recall's
// p50/p95/p99 in milliseconds.
type loadRow struct {
	memories              int
	batchRate, singleRate float64
	plain, scoped         [3]float64
}

// measureLoad grows the tenant of store to each size in steps, printing
// one row per size, with a generator restarted from its seed so every
// store gets the same memories and queries.
func measureLoad(ctx context.Context, store mnemo.MemoryStore, e mnemo.Embedder, steps []int, queries int, stdout io.Writer) ([]loadRow, error) {
	gen := newTextGen(42)
	rc := &recall.Recaller{Config: recall.DefaultConfig, Embedder: e}
	fmt.Fprintf(stdout, "%9s | %14s %14s | %-31s | %-31s\n", "memories", "batch store/s", "single store/s", "recall ms p50 / p95 / p99", "tag-scoped recall p50 / p95 / p99")
	var rows []loadRow
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
				return nil, err
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
				return nil, err
			}
		}
		row := loadRow{memories: have + len(singles), singleRate: float64(len(singles)) / time.Since(t0).Seconds()}
		have += len(singles)
		if batched > 0 {
			row.batchRate = float64(batched) / batchDur.Seconds()
		}
		var err error
		if row.plain, row.scoped, err = measureRecall(ctx, rc, store, e, gen, queries); err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "%9d | %14.0f %14.0f | %8.2f / %8.2f / %8.2f  | %8.2f / %8.2f / %8.2f\n", row.memories,
			row.batchRate, row.singleRate, row.plain[0], row.plain[1], row.plain[2], row.scoped[0], row.scoped[1], row.scoped[2])
		rows = append(rows, row)
	}
	return rows, nil
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
