package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mnemohq/mnemo/internal/locomo"
)

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
	all, err := locomo.Load(*data)
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

	byCat := map[int]*[2]locomo.Metrics{}
	total := &[2]locomo.Metrics{}
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
		for i, t := range conv.Turns {
			texts[i] = t.Content()
		}
		all := conv.Items()
		for start := 0; start < len(all); start += 100 {
			chunk := all[start:min(start+100, len(all))]
			var stored struct {
				IDs []string `json:"memory_ids"`
			}
			if _, err := c.do(ctx, "POST", "/memory/batch", created.Token, map[string]any{"memories": chunk}, &stored); err != nil {
				return err
			}
			for i, id := range stored.IDs {
				idToDia[id] = conv.Turns[start+i].DiaID
			}
		}
		turns += len(conv.Turns)
		ref := locomo.NewBM25(texts)
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
			for _, i := range ref.Top(q.Question, 10) {
				want = append(want, conv.Turns[i].DiaID)
			}
			if byCat[q.Category] == nil {
				byCat[q.Category] = &[2]locomo.Metrics{}
			}
			for _, m := range []*[2]locomo.Metrics{byCat[q.Category], total} {
				m[0].Add(got, q.Evidence)
				m[1].Add(want, q.Evidence)
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
		len(selected), turns, total[0].N, time.Since(began).Seconds())
	if len(extra) > 0 {
		fmt.Fprintf(stdout, "recall parameters: %s\n", extra.Encode())
	}
	fmt.Fprintf(stdout, "%-12s %5s | %-33s | %-33s | %s\n", "category", "n", "mnemo  R@1   R@5   R@10  nDCG  MRR", "BM25   R@1   R@5   R@10  nDCG  MRR", "R@5 ratio  R@10 ratio")
	line := func(name string, m *[2]locomo.Metrics) {
		a, b := m[0].Row(), m[1].Row()
		fmt.Fprintf(stdout, "%-12s %5d |       %.3f %.3f %.3f %.3f %.3f |       %.3f %.3f %.3f %.3f %.3f | %.2f       %.2f\n",
			name, m[0].N, a[0], a[1], a[2], a[3], a[4], b[0], b[1], b[2], b[3], b[4], a[1]/b[1], a[2]/b[2])
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
