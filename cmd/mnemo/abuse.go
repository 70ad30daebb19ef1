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

// benchAbuse measures whether one tenant, or anyone without a key, can slow
// another tenant down: a quiet tenant's recall latency alone, while a noisy
// tenant sends the most expensive valid requests it can at its concurrency
// cap, and while clients without a key flood /oauth/register and /mcp.
func benchAbuse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench abuse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8001", "mnemo server URL")
	adminTok := fs.String("admin-token", os.Getenv("ADMIN_API_TOKEN"), "admin token (default $ADMIN_API_TOKEN)")
	clients := fs.Int("clients", 16, "attacking clients in each phase (a tenant may have MNEMO_TENANT_MAX_CONCURRENT, 16 by default, in flight)")
	queries := fs.Int("queries", 300, "quiet recalls measured per phase")
	quietSize := fs.Int("quiet-size", 1000, "memories of the quiet tenant")
	noisySize := fs.Int("noisy-size", 10000, "memories of the noisy tenant")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *adminTok == "" {
		return fmt.Errorf("set --admin-token or ADMIN_API_TOKEN")
	}
	if *clients < 1 || *queries < 10 || *quietSize < 1 || *noisySize < 100 {
		return fmt.Errorf("--clients >= 1, --queries >= 10, --quiet-size >= 1, --noisy-size >= 100")
	}
	c := newHTTPBenchClient(*base, *adminTok, *clients+2)
	gen := newTextGen(7)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	quiet, err := c.createTenant(ctx, "bench-quiet")
	if err != nil {
		return err
	}
	defer c.deleteTenant(ctx, quiet, stderr)
	noisy, err := c.createTenant(ctx, "bench-noisy")
	if err != nil {
		return err
	}
	defer c.deleteTenant(ctx, noisy, stderr)
	if _, _, err := c.grow(ctx, quiet, gen, 0, *quietSize, start); err != nil {
		return err
	}
	_, ids, err := c.grow(ctx, noisy, gen, 0, *noisySize, start)
	if err != nil {
		return err
	}
	hubs, err := relateHubs(ctx, c, noisy, ids)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mnemo at %s over HTTP: a quiet tenant (%d memories) recalls, one query at a time (%d per phase), alone and under attack by %d clients;\n"+
		"the noisy tenant holds %d memories and %d relations\n", c.base, *quietSize, *queries, *clients, *noisySize, len(hubs)*100)
	fmt.Fprintf(stdout, "%-52s | %-28s | %11s | %s\n", "phase", "quiet recall ms p50 / p95 / p99", "p99 ÷ alone", "attack: requests/s, answers")

	time.Sleep(2 * time.Second) // let the growth's last commits and checkpoints settle
	alone, refused, err := quietRecalls(ctx, c, quiet, gen, *queries)
	if err != nil {
		return err
	}
	row := func(name string, lat [3]float64, refused map[int]int, rate float64, answers map[int]int) {
		quietFail := ""
		if len(refused) > 0 {
			quietFail = "; quiet tenant refused: " + statusCounts(refused)
		}
		fmt.Fprintf(stdout, "%-52s | %8.2f / %7.2f / %7.2f | %11.2f | %.0f/s %s%s\n", name, lat[0], lat[1], lat[2], lat[2]/alone[2], rate, statusCounts(answers), quietFail)
	}
	row("alone", alone, refused, 0, nil)

	heavy := heavyRequests(gen, noisy, hubs)
	lat, refused, rate, answers, err := underAttack(ctx, c, quiet, gen, *queries, *clients, func(i int) attackRequest { return heavy[i%len(heavy)] })
	if err != nil {
		return err
	}
	row(fmt.Sprintf("noisy tenant's heaviest requests (%d clients)", *clients), lat, refused, rate, answers)

	flood := floodRequests()
	lat, refused, rate, answers, err = underAttack(ctx, c, quiet, gen, *queries, *clients, func(i int) attackRequest { return flood[i%len(flood)] })
	if err != nil {
		return err
	}
	row(fmt.Sprintf("/oauth/register and /mcp without a key (%d clients)", *clients), lat, refused, rate, answers)
	return nil
}

// relateHubs makes the noisy tenant's graph dense: 100 hubs, each related
// to 100 of its memories, so that relation walks have much to read.
func relateHubs(ctx context.Context, c *benchClient, t *benchTenant, ids []string) ([]string, error) {
	var hubs []string
	for h := 0; h < 100 && (h+1)*100 < len(ids); h++ {
		hub := ids[h]
		var rels []any
		for _, other := range ids[100+h*100 : 100+(h+1)*100] {
			rels = append(rels, map[string]any{"memory1_id": hub, "memory2_id": other, "type": "RELATES_TO", "strength": 0.9})
		}
		if _, err := c.do(ctx, "POST", "/associate", t.token, map[string]any{"associations": rels}, nil); err != nil {
			return nil, err
		}
		hubs = append(hubs, hub)
	}
	if len(hubs) == 0 {
		return nil, fmt.Errorf("the noisy tenant is too small for a graph")
	}
	return hubs, nil
}

// attackRequest is one request an attacking client sends.
type attackRequest struct {
	method, path, token string
	body                []byte
}

// heavyRequests are the most expensive requests the input limits
// let a tenant make: recalls of 64 common words with every expansion and
// the largest limits, the same as ten queries at once, three-hop /related
// on dense hubs, and batches of 500 memories with many tags.
func heavyRequests(gen *textGen, t *benchTenant, hubs []string) []attackRequest {
	common := func() string { // 64 of the 200 most common words: the most matches to rank
		words := make([]string, 64)
		for i := range words {
			words[i] = gen.vocab[gen.r.IntN(200)]
		}
		return strings.Join(words, " ")
	}
	var out []attackRequest
	for i := range 8 {
		v := url.Values{"query": {common()}, "limit": {"100"}, "expand_relations": {"true"}, "relation_limit": {"200"},
			"expansion_limit": {"500"}, "expand_entities": {"true"}, "context_window": {"10"}}
		out = append(out, attackRequest{"GET", "/recall?" + v.Encode(), t.token, nil})
		multi := url.Values{"limit": {"100"}, "per_query_limit": {"100"}, "expand_relations": {"true"}}
		for range 10 {
			multi.Add("queries", common())
		}
		out = append(out, attackRequest{"GET", "/recall?" + multi.Encode(), t.token, nil})
		out = append(out, attackRequest{"GET", "/memories/" + hubs[i%len(hubs)] + "/related?max_depth=3&limit=200", t.token, nil})
		if i%4 == 0 {
			items := make([]map[string]any, 500)
			for j := range items {
				tags := make([]string, 20)
				for k := range tags {
					tags[k] = fmt.Sprintf("area%d:topic%d:item%d", k, gen.r.IntN(50), gen.r.IntN(1000))
				}
				items[j] = map[string]any{"content": gen.sentence(60), "tags": tags}
			}
			body, _ := json.Marshal(map[string]any{"memories": items})
			out = append(out, attackRequest{"POST", "/memory/batch", t.token, body})
		}
	}
	return out
}

// floodRequests are what anyone can send without a key: client
// registrations and MCP requests with made-up tokens.
func floodRequests() []attackRequest {
	register, _ := json.Marshal(map[string]any{"client_name": "Claude", "redirect_uris": []string{"https://attacker.example/callback"},
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"}, "token_endpoint_auth_method": "none"})
	initialize, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize",
		"params": map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "flood", "version": "1"}}})
	var out []attackRequest
	for i := range 16 {
		out = append(out, attackRequest{"POST", "/oauth/register", "", register},
			attackRequest{"POST", "/mcp", fmt.Sprintf("mnemo_made_up_token_%d", i), initialize})
	}
	return out
}

// underAttack measures the quiet tenant's recall latency while clients
// goroutines send next(i) requests as fast as the server answers. It
// returns the latencies, the quiet tenant's refusals by status, the
// attack's rate and its answers by status.
func underAttack(ctx context.Context, c *benchClient, quiet *benchTenant, gen *textGen, n, clients int, next func(int) attackRequest) ([3]float64, map[int]int, float64, map[int]int, error) {
	var stop atomic.Bool
	var sent atomic.Int64
	var mu sync.Mutex
	answers := map[int]int{}
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range clients {
		wg.Go(func() {
			for j := i; !stop.Load() && ctx.Err() == nil; j += clients {
				r := next(j)
				status, _, err := c.send(ctx, r.method, r.path, r.token, r.body)
				if err != nil {
					status = 0 // a transport error
				}
				sent.Add(1)
				mu.Lock()
				answers[status]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Second) // the attack at full speed before measuring
	lat, refused, err := quietRecalls(ctx, c, quiet, gen, n)
	stop.Store(true)
	wg.Wait()
	return lat, refused, float64(sent.Load()) / time.Since(t0).Seconds(), answers, err
}

// quietRecalls is recallLatency that counts the quiet tenant's refusals
// instead of stopping at the first: being refused is what an attack may
// cause. The percentiles are of the answered recalls.
func quietRecalls(ctx context.Context, c *benchClient, t *benchTenant, gen *textGen, n int) ([3]float64, map[int]int, error) {
	refused := map[int]int{}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n+10; i++ {
		v := url.Values{"query": {gen.query(4)}, "limit": {"10"}}
		t0 := time.Now()
		status, _, err := c.send(ctx, "GET", "/recall?"+v.Encode(), t.token, nil)
		if err != nil {
			return [3]float64{}, nil, err
		}
		switch {
		case status != http.StatusOK:
			refused[status]++
		case i >= 10:
			lat = append(lat, time.Since(t0))
		}
	}
	if len(lat) == 0 {
		return [3]float64{}, refused, nil
	}
	return percentiles(lat), refused, nil
}

// statusCounts renders answers as "200: 812, 429: 3" (0 is a transport error).
func statusCounts(answers map[int]int) string {
	var codes []int
	for code := range answers {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	var parts []string
	for _, code := range codes {
		name := http.StatusText(code)
		if code == 0 {
			name = "transport error"
		}
		parts = append(parts, fmt.Sprintf("%d %s: %d", code, name, answers[code]))
	}
	return strings.Join(parts, ", ")
}
