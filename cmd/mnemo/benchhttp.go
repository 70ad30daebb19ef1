package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The HTTP benchmarks talk to a running server only through its public API
// (tenant and admin routes), so they measure any version of the server the
// same way, whatever its internals.

// flagGiven reports whether args set the flag name (-name, --name, with or
// without =value), before any "--".
func flagGiven(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// newHTTPBenchClient returns a client whose pool keeps an idle connection
// for each of conns concurrent callers: with the default of 2 per host,
// every other request would open a new connection and a long run would
// fill the ephemeral port range with TIME_WAIT sockets.
func newHTTPBenchClient(base, admin string, conns int) *benchClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	return &benchClient{base: strings.TrimRight(base, "/"), admin: admin, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// send makes one request with an already encoded body and reads the whole
// answer, so that the connection returns to the pool. A transport error
// has status 0.
func (c *benchClient) send(ctx context.Context, method, path, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// benchTenant is a tenant the benchmark created, with its key.
type benchTenant struct{ id, token string }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// createTenant makes a tenant with a random id, so that runs never collide
// with each other or with real tenants.
func (c *benchClient) createTenant(ctx context.Context, prefix string) (*benchTenant, error) {
	t := &benchTenant{id: prefix + "-" + randHex(5), token: "bench_" + randHex(16)}
	_, err := c.do(ctx, "POST", "/admin/tenants", c.admin, map[string]any{"tenant_id": t.id, "name": "mnemo bench", "api_token": t.token}, nil)
	return t, err
}

// deleteTenant removes a benchmark tenant, also after an interrupt.
func (c *benchClient) deleteTenant(ctx context.Context, t *benchTenant, stderr io.Writer) {
	if _, err := c.do(context.WithoutCancel(ctx), "DELETE", "/admin/tenants/"+t.id, c.admin, nil, nil); err != nil {
		fmt.Fprintf(stderr, "could not delete tenant %s: %v\n", t.id, err)
	}
}

// storeBatch stores items with one POST /memory/batch and returns their ids.
func (c *benchClient) storeBatch(ctx context.Context, t *benchTenant, items []map[string]any) ([]string, error) {
	var out struct {
		IDs []string `json:"memory_ids"`
	}
	if _, err := c.do(ctx, "POST", "/memory/batch", t.token, map[string]any{"memories": items}, &out); err != nil {
		return nil, err
	}
	if len(out.IDs) != len(items) {
		return nil, fmt.Errorf("POST /memory/batch: %d ids for %d memories", len(out.IDs), len(items))
	}
	return out.IDs, nil
}

// grow adds memories in batches of 100 from have up to target and returns
// the batch store rate (0 when nothing was added) and the new ids.
func (c *benchClient) grow(ctx context.Context, t *benchTenant, gen *textGen, have, target int, base time.Time) (float64, []string, error) {
	var ids []string
	var took time.Duration
	for n := have; n < target; {
		items := make([]map[string]any, min(100, target-n))
		for i := range items {
			items[i] = gen.item(n+i, base)
		}
		t0 := time.Now()
		got, err := c.storeBatch(ctx, t, items)
		if err != nil {
			return 0, nil, err
		}
		took += time.Since(t0)
		ids = append(ids, got...)
		n += len(items)
	}
	if len(ids) == 0 {
		return 0, nil, nil
	}
	return float64(len(ids)) / took.Seconds(), ids, nil
}

// metric reads one unlabelled sample from the server's GET /metrics, such
// as process_resident_memory_bytes.
func (c *benchClient) metric(ctx context.Context, name string) (float64, error) {
	status, raw, err := c.send(ctx, "GET", "/metrics", c.admin, nil)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %d %s", status, raw)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("GET /metrics has no %s", name)
}

// serverCPU runs f and returns the server's CPU time (from GET /metrics)
// per operation in ms: on a machine shared with other work it moves much
// less than wall time. It counts all the server's work, so it is only
// meaningful while this benchmark is the server's only client.
func (c *benchClient) serverCPU(ctx context.Context, ops int, f func() error) (float64, error) {
	before, err := c.metric(ctx, "process_cpu_seconds_total")
	if err != nil {
		return 0, err
	}
	if err := f(); err != nil {
		return 0, err
	}
	after, err := c.metric(ctx, "process_cpu_seconds_total")
	if err != nil {
		return 0, err
	}
	return (after - before) * 1000 / float64(ops), nil
}

// item is one memory for /memory/batch, shaped like the in-process
// benchmark's: one minute apart, a project tag out of 20.
func (g *textGen) item(n int, base time.Time) map[string]any {
	return map[string]any{"content": g.sentence(15 + g.r.IntN(40)), "tags": []string{fmt.Sprintf("project:p%d", g.r.IntN(20)), "bench"},
		"importance": math.Round(g.r.Float64()*100) / 100, "timestamp": base.Add(time.Duration(n) * time.Minute).Format(time.RFC3339)}
}

// storeBody is one POST /memory body.
func (g *textGen) storeBody() []byte {
	raw, _ := json.Marshal(map[string]any{"content": g.sentence(15 + g.r.IntN(40)), "tags": []string{fmt.Sprintf("project:p%d", g.r.IntN(20)), "bench"}})
	return raw
}

// fork returns a generator with the same vocabulary and its own random
// source: textGen is not safe for concurrent use, and a new seed alone
// would make a different vocabulary.
func (g *textGen) fork(seed uint64) *textGen {
	r := mrand.New(mrand.NewPCG(seed, seed+1))
	return &textGen{r: r, zipf: mrand.NewZipf(r, 1.1, 2, 29999), vocab: g.vocab}
}

// benchLoadHTTP is bench load against a running server: the same growth
// and recall measurements, over HTTP, with concurrent single stores and a
// fairness measurement between two tenants.
func benchLoadHTTP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench load --url", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8001", "mnemo server URL")
	adminTok := fs.String("admin-token", os.Getenv("ADMIN_API_TOKEN"), "admin token (default $ADMIN_API_TOKEN)")
	sizes := fs.String("sizes", "1000,10000", "tenant sizes to measure, ascending")
	clients := fs.Int("clients", 4, "concurrent clients for single stores and for the burst (a tenant may have MNEMO_TENANT_MAX_CONCURRENT, 16 by default, in flight)")
	queries := fs.Int("queries", 300, "recall queries per measurement")
	stores := fs.Int("stores", 400, "single stores (POST /memory) per size")
	quietSize := fs.Int("quiet-size", 1000, "memories of the quiet tenant of the fairness measurement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *adminTok == "" {
		return fmt.Errorf("set --admin-token or ADMIN_API_TOKEN")
	}
	if *clients < 1 || *queries < 1 || *stores < 1 || *quietSize < 1 {
		return fmt.Errorf("--clients, --queries, --stores and --quiet-size must be positive")
	}
	var steps []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || (len(steps) > 0 && n <= steps[len(steps)-1]) {
			return fmt.Errorf("--sizes must be ascending positive integers")
		}
		steps = append(steps, n)
	}
	// The burst's writers and the quiet tenant's reader run at once.
	c := newHTTPBenchClient(*base, *adminTok, *clients+2)
	load, err := c.createTenant(ctx, "bench-load")
	if err != nil {
		return err
	}
	defer c.deleteTenant(ctx, load, stderr)
	quiet, err := c.createTenant(ctx, "bench-quiet")
	if err != nil {
		return err
	}
	defer c.deleteTenant(ctx, quiet, stderr)

	gen := newTextGen(42)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, _, err := c.grow(ctx, quiet, gen, 0, *quietSize, start); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mnemo at %s over HTTP: tenant grown with POST /memory/batch (100 each); %d single stores (POST /memory) from %d clients; %d recall queries (GET /recall, limit 10) per column, sequential\n",
		c.base, *stores, *clients, *queries)
	fmt.Fprintf(stdout, "%9s %9s | %14s %14s %12s | %-31s %13s | %-31s\n", "size", "memories", "batch store/s", "single store/s", "CPU ms/store",
		"recall ms p50 / p95 / p99", "CPU ms/recall", "tag-scoped recall p50 / p95 / p99")
	var fairness []string
	have := 0
	for _, target := range steps {
		batchRate, ids, err := c.grow(ctx, load, gen, have, target, start)
		if err != nil {
			return err
		}
		have += len(ids)
		bodies := make([][]byte, *stores)
		for i := range bodies {
			bodies[i] = gen.storeBody()
		}
		var took time.Duration
		storeCPU, err := c.serverCPU(ctx, len(bodies), func() (err error) {
			took, err = storeConcurrently(ctx, c, load, bodies, *clients)
			return err
		})
		if err != nil {
			return err
		}
		have += len(bodies)
		var plain [3]float64
		recallCPU, err := c.serverCPU(ctx, *queries+10, func() (err error) {
			plain, err = recallLatency(ctx, c, load, gen, *queries, "")
			return err
		})
		if err != nil {
			return err
		}
		scoped, err := recallLatency(ctx, c, load, gen, *queries, "project:p3")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%9d %9d | %14.0f %14.0f %12.2f | %8.2f / %8.2f / %8.2f  %13.2f | %8.2f / %8.2f / %8.2f\n", target, have,
			batchRate, float64(len(bodies))/took.Seconds(), storeCPU, plain[0], plain[1], plain[2], recallCPU, scoped[0], scoped[1], scoped[2])

		alone, err := recallLatency(ctx, c, quiet, gen, *queries, "")
		if err != nil {
			return err
		}
		during, burst, burstRate, err := recallDuringBurst(ctx, c, quiet, load, gen, *queries, *clients)
		have += burst
		if err != nil {
			return err
		}
		fairness = append(fairness, fmt.Sprintf("%9d %9d | %8.2f / %8.2f / %8.2f  | %8.2f / %8.2f / %8.2f  | %9.2f | %14.0f", target, have-burst,
			alone[0], alone[1], alone[2], during[0], during[1], during[2], during[1]/alone[1], burstRate))
	}
	fmt.Fprintf(stdout, "\nfairness: a quiet tenant (%d memories) recalls alone, then while %d clients store into the other tenant (memories: its size when the burst began) at full speed\n", *quietSize, *clients)
	fmt.Fprintf(stdout, "%9s %9s | %-31s | %-31s | %9s | %14s\n", "size", "memories", "quiet alone p50 / p95 / p99", "quiet in burst p50 / p95 / p99", "p95 ratio", "burst store/s")
	for _, row := range fairness {
		fmt.Fprintln(stdout, row)
	}
	return nil
}

// storeConcurrently sends each body with POST /memory from clients
// goroutines and returns the wall time; the first failure stops the run.
func storeConcurrently(ctx context.Context, c *benchClient, t *benchTenant, bodies [][]byte, clients int) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range clients {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(bodies) && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				status, raw, err := c.send(ctx, "POST", "/memory", t.token, bodies[i])
				if err == nil && status != http.StatusCreated {
					err = fmt.Errorf("POST /memory: %d %s", status, raw)
				}
				if err != nil {
					cancel(err)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(t0)
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return took, nil
}

// recallLatency runs n recall queries one after another, after 10 that warm
// the tenant's database and caches, and returns p50/p95/p99 in ms. A
// non-empty tag scopes every query to it.
func recallLatency(ctx context.Context, c *benchClient, t *benchTenant, gen *textGen, n int, tag string) ([3]float64, error) {
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n+10; i++ {
		v := url.Values{"query": {gen.query(4)}, "limit": {"10"}}
		if tag != "" {
			v.Set("tags", tag)
		}
		t0 := time.Now()
		status, raw, err := c.send(ctx, "GET", "/recall?"+v.Encode(), t.token, nil)
		if err != nil {
			return [3]float64{}, err
		}
		if status != http.StatusOK {
			return [3]float64{}, fmt.Errorf("GET /recall: %d %s", status, raw)
		}
		if i >= 10 {
			lat = append(lat, time.Since(t0))
		}
	}
	return percentiles(lat), nil
}

// recallDuringBurst measures quiet's recall latency while clients
// goroutines store into noisy as fast as the server answers. It returns the
// latencies, how many memories the burst stored and its rate. The writers
// finish their request in flight rather than cancel it, so the count is
// exact.
func recallDuringBurst(ctx context.Context, c *benchClient, quiet, noisy *benchTenant, gen *textGen, n, clients int) ([3]float64, int, float64, error) {
	var stop atomic.Bool
	var stored atomic.Int64
	var mu sync.Mutex
	var burstErr error
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range clients {
		g := gen.fork(uint64(1000 + i))
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				status, raw, err := c.send(ctx, "POST", "/memory", noisy.token, g.storeBody())
				if err == nil && status != http.StatusCreated {
					err = fmt.Errorf("burst POST /memory: %d %s", status, raw)
				}
				if err != nil {
					mu.Lock()
					burstErr = err
					mu.Unlock()
					stop.Store(true)
					return
				}
				stored.Add(1)
			}
		})
	}
	lat, err := recallLatency(ctx, c, quiet, gen, n, "")
	stop.Store(true)
	wg.Wait()
	rate := float64(stored.Load()) / time.Since(t0).Seconds()
	if err == nil {
		err = burstErr
	}
	return lat, int(stored.Load()), rate, err
}
