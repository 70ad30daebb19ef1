package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The operations of bench mixed, in the order of its report.
const (
	opRecall = iota
	opRecallTags
	opStore
	opPatch
	opAssociate
	opDelete
	numOps
)

var opNames = [numOps]string{"recall", "recall+tags", "store", "patch", "associate", "delete"}

// mixedTenant is a benchmark tenant with the ids of its memories that no
// request has deleted, and the ids deleted so far: a 404 on a deleted id is
// a race between two of the benchmark's own requests, not a server error.
type mixedTenant struct {
	*benchTenant
	mu      sync.Mutex
	ids     []string
	deleted map[string]bool
}

func (t *mixedTenant) add(ids ...string) {
	t.mu.Lock()
	t.ids = append(t.ids, ids...)
	t.mu.Unlock()
}

// pick returns n (1 or 2) distinct live ids, or nil when the tenant has
// too few.
func (t *mixedTenant) pick(g *textGen, n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ids) < n {
		return nil
	}
	i := g.r.IntN(len(t.ids))
	if n == 1 {
		return []string{t.ids[i]}
	}
	j := g.r.IntN(len(t.ids) - 1)
	if j >= i {
		j++
	}
	return []string{t.ids[i], t.ids[j]}
}

// take removes a live id for a delete, so that no later request picks it;
// it keeps a few ids for the other operations.
func (t *mixedTenant) take(g *textGen) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ids) < 10 {
		return ""
	}
	i := g.r.IntN(len(t.ids))
	id := t.ids[i]
	t.ids[i] = t.ids[len(t.ids)-1]
	t.ids = t.ids[:len(t.ids)-1]
	t.deleted[id] = true
	return id
}

func (t *mixedTenant) wasDeleted(ids ...string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		if t.deleted[id] {
			return true
		}
	}
	return false
}

// opStats is what one client saw of one operation.
type opStats struct {
	lat    []time.Duration
	errors int
	races  int // 404 on an id another request deleted
}

func benchMixed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench mixed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8001", "mnemo server URL")
	adminTok := fs.String("admin-token", os.Getenv("ADMIN_API_TOKEN"), "admin token (default $ADMIN_API_TOKEN)")
	tenants := fs.Int("tenants", 20, "tenants to create")
	clients := fs.Int("clients", 16, "concurrent clients (a tenant may have MNEMO_TENANT_MAX_CONCURRENT, 16 by default, in flight)")
	duration := fs.Duration("duration", 30*time.Second, "how long the clients run")
	seed := fs.Int("seed", 200, "memories stored in each tenant before the run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *adminTok == "" {
		return fmt.Errorf("set --admin-token or ADMIN_API_TOKEN")
	}
	if *tenants < 1 || *clients < 1 || *duration <= 0 || *seed < 0 {
		return fmt.Errorf("--tenants, --clients and --duration must be positive, --seed not negative")
	}
	c := newHTTPBenchClient(*base, *adminTok, *clients+1)
	gen := newTextGen(42)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var ts []*mixedTenant
	defer func() {
		for _, t := range ts {
			c.deleteTenant(ctx, t.benchTenant, stderr)
		}
	}()
	for range *tenants {
		bt, err := c.createTenant(ctx, "bench-mixed")
		if err != nil {
			return err
		}
		t := &mixedTenant{benchTenant: bt, deleted: map[string]bool{}}
		ts = append(ts, t)
		_, ids, err := c.grow(ctx, bt, gen, 0, *seed, start)
		if err != nil {
			return err
		}
		t.add(ids...)
	}
	// The server's CPU time per request is steadier than requests/s on a
	// machine shared with other work.
	rssBefore, err := c.metric(ctx, "process_resident_memory_bytes")
	if err != nil {
		return err
	}
	cpuBefore, err := c.metric(ctx, "process_cpu_seconds_total")
	if err != nil {
		return err
	}

	// Errors are kept whole for the first few, and counted by kind
	// (operation, status, message) so that a long run shows every cause.
	var mu sync.Mutex
	var firstErrors []string
	kinds := map[string]int{}
	var errCount atomic.Int64
	fail := func(op int, status int, raw []byte, err error) {
		errCount.Add(1)
		kind, full := fmt.Sprintf("%s: %v", opNames[op], err), fmt.Sprintf("%s: %v", opNames[op], err)
		if err == nil {
			var body struct{ Message string }
			if json.Unmarshal(raw, &body) != nil || body.Message == "" {
				body.Message = string(raw[:min(len(raw), 100)])
			}
			kind = fmt.Sprintf("%s: %d %s", opNames[op], status, body.Message)
			full = fmt.Sprintf("%s: %d %s", opNames[op], status, strings.TrimSpace(string(raw)))
		}
		mu.Lock()
		defer mu.Unlock()
		kinds[kind]++
		if len(firstErrors) < 5 {
			firstErrors = append(firstErrors, full)
		}
	}
	stats := make([][numOps]opStats, *clients)
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range *clients {
		g := gen.fork(uint64(2000 + w))
		st := &stats[w]
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := ts[g.r.IntN(len(ts))]
				op, method, path, body, ids := mixedOp(t, g)
				if path == "" {
					continue // too few ids left for this operation
				}
				began := time.Now()
				status, raw, err := c.send(ctx, method, path, t.token, body)
				took := time.Since(began)
				if ctx.Err() != nil {
					return
				}
				switch {
				case err == nil && status >= 200 && status < 300:
					st[op].lat = append(st[op].lat, took)
					if op == opStore {
						var out struct {
							ID string `json:"memory_id"`
						}
						if json.Unmarshal(raw, &out) == nil && out.ID != "" {
							t.add(out.ID)
						}
					}
				case err == nil && status == http.StatusNotFound && len(ids) > 0 && t.wasDeleted(ids...):
					st[op].races++
				default:
					st[op].errors++
					fail(op, status, raw, err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if err := ctx.Err(); err != nil {
		return err
	}
	cpuAfter, err := c.metric(ctx, "process_cpu_seconds_total")
	if err != nil {
		return err
	}
	rssAfter, err := c.metric(ctx, "process_resident_memory_bytes")
	if err != nil {
		return err
	}

	var all []time.Duration
	var merged [numOps]opStats
	requests, races := 0, 0
	for w := range stats {
		for op := range numOps {
			s := stats[w][op]
			merged[op].lat = append(merged[op].lat, s.lat...)
			merged[op].errors += s.errors
			merged[op].races += s.races
			all = append(all, s.lat...)
			requests += len(s.lat) + s.errors + s.races
			races += s.races
		}
	}
	fmt.Fprintf(stdout, "mixed load on %s: %d tenants seeded with %d memories each, %d clients for %s\n", c.base, *tenants, *seed, *clients, *duration)
	fmt.Fprintf(stdout, "requests %d in %.1fs: %.1f requests/s; errors %d; 404 on an id deleted by a concurrent request (expected) %d\n",
		requests, elapsed.Seconds(), float64(requests)/elapsed.Seconds(), errCount.Load(), races)
	fmt.Fprintf(stdout, "%-12s %8s %8s %8s | %s\n", "operation", "ok", "errors", "404 race", "latency ms p50 / p95 / p99")
	row := func(name string, lat []time.Duration, errs, races int) {
		p := [3]float64{}
		if len(lat) > 0 {
			p = percentiles(lat)
		}
		fmt.Fprintf(stdout, "%-12s %8d %8d %8d | %8.2f / %8.2f / %8.2f\n", name, len(lat), errs, races, p[0], p[1], p[2])
	}
	for op := range numOps {
		row(opNames[op], merged[op].lat, merged[op].errors, merged[op].races)
	}
	row("all", all, int(errCount.Load()), races)
	fmt.Fprintf(stdout, "server CPU (process_cpu_seconds_total): %.1f s during the run, %.2f ms per request\n",
		cpuAfter-cpuBefore, (cpuAfter-cpuBefore)*1000/float64(max(requests, 1)))
	fmt.Fprintf(stdout, "server RSS (process_resident_memory_bytes): %.1f MiB after seeding, %.1f MiB after the run\n", rssBefore/(1<<20), rssAfter/(1<<20))
	if len(firstErrors) > 0 {
		fmt.Fprintln(stdout, "first errors:")
		for _, e := range firstErrors {
			fmt.Fprintln(stdout, "  "+e)
		}
		fmt.Fprintln(stdout, "errors by kind:")
		byCount := make([]string, 0, len(kinds))
		for k := range kinds {
			byCount = append(byCount, k)
		}
		sort.Slice(byCount, func(i, j int) bool { return kinds[byCount[i]] > kinds[byCount[j]] })
		for _, k := range byCount {
			fmt.Fprintf(stdout, "  %6d  %s\n", kinds[k], k)
		}
		return fmt.Errorf("%d requests failed", errCount.Load())
	}
	return nil
}

// mixedOp draws one request: 70% recall (a quarter of them scoped to a
// tag), 25% store, 2% patch, 2% associate, 1% delete. ids are the memories
// the request names, to tell a race on a deleted id from an error.
func mixedOp(t *mixedTenant, g *textGen) (op int, method, path string, body []byte, ids []string) {
	p := g.r.IntN(100)
	switch {
	case p < 70:
		v := url.Values{"query": {g.query(3 + g.r.IntN(2))}, "limit": {"10"}}
		op = opRecall
		if g.r.IntN(4) == 0 {
			op = opRecallTags
			v.Set("tags", fmt.Sprintf("project:p%d", g.r.IntN(20)))
		}
		return op, "GET", "/recall?" + v.Encode(), nil, nil
	case p < 95:
		return opStore, "POST", "/memory", g.storeBody(), nil
	case p < 97:
		if ids = t.pick(g, 1); ids == nil {
			return opPatch, "", "", nil, nil
		}
		return opPatch, "PATCH", "/memory/" + ids[0], []byte(`{"importance":0.7}`), ids
	case p < 99:
		if ids = t.pick(g, 2); ids == nil {
			return opAssociate, "", "", nil, nil
		}
		body, _ := json.Marshal(map[string]any{"memory1_id": ids[0], "memory2_id": ids[1], "type": "RELATES_TO", "strength": 0.5})
		return opAssociate, "POST", "/associate", body, ids
	default:
		id := t.take(g)
		if id == "" {
			return opDelete, "", "", nil, nil
		}
		// A 404 here would be an error: no other request deletes this id.
		return opDelete, "DELETE", "/memory/" + id, nil, nil
	}
}
