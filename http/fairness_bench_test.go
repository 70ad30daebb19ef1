package http

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkQuietTenantDuringBurst measures what one tenant's burst (refused
// with 429 by its rate limit) costs another tenant: the quiet tenant's
// recall latency with and without the burst, reported as p50/p95 in ms and
// the ratio of the p95s.
//
//	go test ./http -run XXX -bench QuietTenant -benchtime 300x
func BenchmarkQuietTenantDuringBurst(b *testing.B) {
	srv, _ := newTestServer(b, nil, nil)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	do := func(method, path, token, body string) int {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, id := range []string{"noisy", "quiet"} {
		if c := do("POST", "/admin/tenants", testAdminToken, `{"tenant_id":"`+id+`","api_token":"token-of-`+id+`"}`); c != 201 {
			b.Fatalf("create %s: %d", id, c)
		}
		for i := 0; i < 200; i++ {
			do("POST", "/memory", "token-of-"+id, `{"content":"note `+strings.Repeat("word ", i%20)+id+`"}`)
		}
	}
	do("PATCH", "/admin/tenants/noisy", testAdminToken, `{"rate_limit":{"requests_per_second":1,"burst":1}}`)

	measure := func(n int) []time.Duration {
		lat := make([]time.Duration, 0, n)
		for i := 0; i < n; i++ {
			t0 := time.Now()
			if c := do("GET", "/recall?query=note+word&limit=10", "token-of-quiet", ""); c != 200 {
				b.Fatalf("quiet tenant got %d", c)
			}
			lat = append(lat, time.Since(t0))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return lat
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

	b.ResetTimer()
	calm := measure(b.N)
	stop := make(chan struct{})
	var refused atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					if do("GET", "/recall?query=note", "token-of-noisy", "") == 429 {
						refused.Add(1)
					}
				}
			}
		}()
	}
	busy := measure(b.N)
	close(stop)
	wg.Wait()
	p := func(l []time.Duration, q float64) time.Duration { return l[min(len(l)-1, int(q*float64(len(l))))] }
	b.ReportMetric(ms(p(calm, 0.5)), "calm-p50-ms")
	b.ReportMetric(ms(p(calm, 0.95)), "calm-p95-ms")
	b.ReportMetric(ms(p(busy, 0.5)), "burst-p50-ms")
	b.ReportMetric(ms(p(busy, 0.95)), "burst-p95-ms")
	b.ReportMetric(float64(refused.Load()), "noisy-429s")
}
