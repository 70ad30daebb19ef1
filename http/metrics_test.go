package http

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const metricsAdminToken = testAdminToken

// scrape answers GET /metrics through h with the admin token and returns
// the sample lines (no comments) of the families named in prefixes.
func scrape(t *testing.T, h http.Handler, prefixes ...string) []string {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+metricsAdminToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
	var out []string
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		for _, p := range prefixes {
			name, _, _ := strings.Cut(line, " ")
			name, _, _ = strings.Cut(name, "{")
			if name == p {
				out = append(out, line)
			}
		}
	}
	return out
}

func expectLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// Requests through the routed handler are counted by route pattern, the
// pattern's method and status; unknown paths and wrong methods share the
// route "unmatched"; 4xx and 5xx are counted as errors.
func TestMetricsCountRequestsByRoute(t *testing.T) {
	s, _ := newTestServer(t, nil, func(svc *Services) { svc.Tenants = &fakeTenants{memories: []int64{2, 5}} })
	h := s.Handler()
	do := func(method, path, token string) int {
		req := httptest.NewRequest(method, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/recall?query=x", "", 401},
		{"GET", "/recall?query=y", "", 401},
		{"DELETE", "/memory/abc123", "", 401},
		{"DELETE", "/memory/def456", "", 401}, // two ids, one route
		{"GET", "/no/such/path", "", 404},
		{"GET", "/another/path/9", "", 404},
		{"PUT", "/recall", "", 405},
		{"GET", "/metrics", "wrong-token", 401},
	} {
		if got := do(c.method, c.path, c.token); got != c.want {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, got, c.want)
		}
	}
	s.metrics.observeRequest("POST /memory", 500, 3*time.Millisecond)
	s.metrics.observeRequest("POST /memory", 201, 2*time.Second)
	s.metrics.observeRequest("GET /health", 0, time.Millisecond) // nothing written: 200

	got := scrape(t, h, "mnemo_http_requests_total", "mnemo_http_errors_total", "mnemo_http_request_duration_seconds_count",
		"mnemo_tenants", "mnemo_memories")
	expectLines(t, got,
		`mnemo_http_requests_total{method="GET",route="GET /recall",status="401"} 2`,
		`mnemo_http_requests_total{method="DELETE",route="DELETE /memory/{id}",status="401"} 2`,
		`mnemo_http_requests_total{method="other",route="unmatched",status="404"} 2`,
		`mnemo_http_requests_total{method="other",route="unmatched",status="405"} 1`,
		`mnemo_http_requests_total{method="GET",route="GET /metrics",status="401"} 1`,
		`mnemo_http_requests_total{method="POST",route="POST /memory",status="500"} 1`,
		`mnemo_http_requests_total{method="POST",route="POST /memory",status="201"} 1`,
		`mnemo_http_requests_total{method="GET",route="GET /health",status="200"} 1`,
		`mnemo_http_errors_total{class="4xx",route="GET /recall"} 2`,
		`mnemo_http_errors_total{class="4xx",route="DELETE /memory/{id}"} 2`,
		`mnemo_http_errors_total{class="4xx",route="unmatched"} 3`,
		`mnemo_http_errors_total{class="4xx",route="GET /metrics"} 1`,
		`mnemo_http_errors_total{class="5xx",route="POST /memory"} 1`,
		`mnemo_http_request_duration_seconds_count{route="GET /recall"} 2`,
		`mnemo_http_request_duration_seconds_count{route="DELETE /memory/{id}"} 2`,
		`mnemo_http_request_duration_seconds_count{route="unmatched"} 3`,
		`mnemo_http_request_duration_seconds_count{route="GET /metrics"} 1`,
		`mnemo_http_request_duration_seconds_count{route="POST /memory"} 2`,
		`mnemo_http_request_duration_seconds_count{route="GET /health"} 1`,
		`mnemo_tenants 2`,
		`mnemo_memories 7`,
	)

	// The first scrape is itself counted once it has been answered.
	got = scrape(t, h, "mnemo_http_requests_total")
	if !slices.Contains(got, `mnemo_http_requests_total{method="GET",route="GET /metrics",status="200"} 1`) {
		t.Fatalf("scrape not counted: %v", got)
	}

	// The histogram's buckets span 1 ms to 5 s: 3 ms and 2 s land apart.
	got = scrape(t, h, "mnemo_http_request_duration_seconds_bucket")
	for _, want := range []string{
		`mnemo_http_request_duration_seconds_bucket{route="POST /memory",le="0.001"} 0`,
		`mnemo_http_request_duration_seconds_bucket{route="POST /memory",le="0.005"} 1`,
		`mnemo_http_request_duration_seconds_bucket{route="POST /memory",le="1"} 1`,
		`mnemo_http_request_duration_seconds_bucket{route="POST /memory",le="2.5"} 2`,
		`mnemo_http_request_duration_seconds_bucket{route="POST /memory",le="5"} 2`,
		`mnemo_http_request_duration_seconds_bucket{route="POST /memory",le="+Inf"} 2`,
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s", want)
		}
	}
	// No raw path ever becomes a label.
	for _, line := range scrape(t, h, "mnemo_http_requests_total", "mnemo_http_errors_total", "mnemo_http_request_duration_seconds_bucket") {
		if strings.Contains(line, "abc123") || strings.Contains(line, "/no/such") || strings.Contains(line, "query=") {
			t.Fatalf("raw path in %s", line)
		}
	}
}

// Every refusal reason the service counts is exported, from the start at
// 0, and follows the service's counts from one scrape to the next.
func TestMetricsRefusals(t *testing.T) {
	refusals := &fakeRefusals{}
	s, svc := newTestServer(t, nil, func(svcs *Services) {
		refusals.HealthService = svcs.Health
		svcs.Health = refusals
	})
	refusals.counts = svc.Refusals()
	h := s.Handler()
	expectLines(t, scrape(t, h, "mnemo_refusals_total"),
		`mnemo_refusals_total{reason="rate_limit"} 0`,
		`mnemo_refusals_total{reason="quota"} 0`,
		`mnemo_refusals_total{reason="concurrency"} 0`,
		`mnemo_refusals_total{reason="auth_throttle"} 0`,
		`mnemo_refusals_total{reason="mcp_sessions"} 0`,
		`mnemo_refusals_total{reason="oauth_registration"} 0`,
	)
	refusals.counts = map[string]int64{"rate_limit": 3, "quota": 1, "concurrency": 2, "auth_throttle": 1, "mcp_sessions": 4, "oauth_registration": 5}
	expectLines(t, scrape(t, h, "mnemo_refusals_total"),
		`mnemo_refusals_total{reason="rate_limit"} 3`,
		`mnemo_refusals_total{reason="quota"} 1`,
		`mnemo_refusals_total{reason="concurrency"} 2`,
		`mnemo_refusals_total{reason="auth_throttle"} 1`,
		`mnemo_refusals_total{reason="mcp_sessions"} 4`,
		`mnemo_refusals_total{reason="oauth_registration"} 5`,
	)
}

// mnemo_tenants and mnemo_memories page through the whole registry at
// scrape time, and the Go and process collectors are there too.
func TestMetricsTenantsAndMemories(t *testing.T) {
	mems := make([]int64, 1201) // three pages of 500
	var sum int64
	for i := range mems {
		mems[i] = int64(i % 7)
		sum += mems[i]
	}
	reg := &fakeTenants{memories: mems}
	s, _ := newTestServer(t, nil, func(svc *Services) { svc.Tenants = reg })
	h := s.Handler()
	expectLines(t, scrape(t, h, "mnemo_tenants", "mnemo_memories"), `mnemo_tenants 1201`, `mnemo_memories 3597`)
	if sum != 3597 || reg.calls != 3 {
		t.Fatalf("sum %d, %d registry calls", sum, reg.calls)
	}
	// The counts follow the registry from one scrape to the next.
	reg.memories = mems[:3]
	expectLines(t, scrape(t, h, "mnemo_tenants", "mnemo_memories"), `mnemo_tenants 3`, `mnemo_memories 3`)
	reg.memories = nil
	expectLines(t, scrape(t, h, "mnemo_tenants", "mnemo_memories"), `mnemo_tenants 0`, `mnemo_memories 0`)

	if got := scrape(t, h, "go_goroutines", "process_start_time_seconds"); len(got) != 2 {
		t.Fatalf("Go and process collectors: %v", got)
	}
}

// A failing registry drops the tenant gauges from the scrape and logs why;
// the rest of the scrape is still served.
func TestMetricsRegistryFailure(t *testing.T) {
	var logs bytes.Buffer
	s, _ := newTestServer(t, slog.New(slog.NewJSONHandler(&logs, nil)), func(svc *Services) {
		svc.Tenants = &fakeTenants{err: errors.New("registry is down")}
	})
	h := s.Handler()
	if got := scrape(t, h, "mnemo_tenants", "mnemo_memories"); len(got) != 0 {
		t.Fatalf("tenant gauges despite the failure: %v", got)
	}
	if got := scrape(t, h, "mnemo_refusals_total"); !slices.Contains(got, `mnemo_refusals_total{reason="quota"} 0`) {
		t.Fatalf("refusals: %v", got)
	}
	if !strings.Contains(logs.String(), "registry is down") {
		t.Fatalf("failure not logged: %s", logs.String())
	}
}

// Requests observed concurrently are all counted, and each Server has
// its own registry.
func TestMetricsConcurrentAndPerServer(t *testing.T) {
	a, _ := newTestServer(t, nil, nil)
	b, _ := newTestServer(t, nil, nil)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { a.metrics.observeRequest("GET /recall", 200, time.Millisecond) })
	}
	wg.Wait()
	expectLines(t, scrape(t, a.Handler(), "mnemo_http_requests_total"),
		`mnemo_http_requests_total{method="GET",route="GET /recall",status="200"} 50`,
	)
	expectLines(t, scrape(t, b.Handler(), "mnemo_http_requests_total", "mnemo_tenants"),
		`mnemo_tenants 0`,
	)
}
