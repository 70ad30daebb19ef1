package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// metricLines GETs /metrics with the admin token and returns the sample
// lines (no comments) of the named families.
func metricLines(t *testing.T, s *Server, names ...string) []string {
	t.Helper()
	r := s.Admin("GET", "/metrics", nil).Expect(t, 200)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
	var out []string
	for _, line := range strings.Split(string(r.Raw), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		if slices.Contains(names, name) {
			out = append(out, line)
		}
	}
	return out
}

func expectMetrics(t *testing.T, got []string, want ...string) {
	t.Helper()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("metrics:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestMetricsEndToEnd: GET /metrics, behind the admin token, counts
// requests by route pattern, and reports tenants and memories from the
// registry, across a restart.
func TestMetricsEndToEnd(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	s.CreateTenant("acme", "acme-token-0123456789")
	var ids []string
	for _, c := range []string{"the deploy runs on Fridays", "the cache is Redis", "the queue is NATS"} {
		ids = append(ids, s.Store("acme-token-0123456789", map[string]any{"content": c}))
	}
	s.As("acme-token-0123456789", "GET", "/recall"+Q("query", "deploy"), nil).Expect(t, 200)
	s.As("acme-token-0123456789", "GET", "/recall"+Q("query", "cache"), nil).Expect(t, 200)
	s.Do("GET", "/no/such/route/"+ids[0], nil).ExpectError(t, 404, "not found")

	// Without the admin token, or with a tenant's token, there is nothing.
	r := s.Do("GET", "/metrics", nil)
	r.ExpectError(t, 401, "Admin authorization required")
	if strings.Contains(string(r.Raw), "mnemo_") {
		t.Fatalf("metrics leaked: %s", r.Raw)
	}
	s.As("acme-token-0123456789", "GET", "/metrics", nil).Expect(t, 401)

	expectMetrics(t, metricLines(t, s, "mnemo_http_requests_total", "mnemo_http_errors_total",
		"mnemo_http_request_duration_seconds_count", "mnemo_refusals_total", "mnemo_tenants", "mnemo_memories"),
		`mnemo_http_requests_total{method="POST",route="POST /admin/tenants",status="201"} 1`,
		`mnemo_http_requests_total{method="POST",route="POST /memory",status="201"} 3`,
		`mnemo_http_requests_total{method="GET",route="GET /recall",status="200"} 2`,
		`mnemo_http_requests_total{method="other",route="unmatched",status="404"} 1`,
		`mnemo_http_requests_total{method="GET",route="GET /metrics",status="401"} 2`,
		`mnemo_http_errors_total{class="4xx",route="unmatched"} 1`,
		`mnemo_http_errors_total{class="4xx",route="GET /metrics"} 2`,
		`mnemo_http_request_duration_seconds_count{route="POST /admin/tenants"} 1`,
		`mnemo_http_request_duration_seconds_count{route="POST /memory"} 3`,
		`mnemo_http_request_duration_seconds_count{route="GET /recall"} 2`,
		`mnemo_http_request_duration_seconds_count{route="unmatched"} 1`,
		`mnemo_http_request_duration_seconds_count{route="GET /metrics"} 2`,
		`mnemo_refusals_total{reason="auth_throttle"} 0`,
		`mnemo_refusals_total{reason="concurrency"} 0`,
		`mnemo_refusals_total{reason="mcp_sessions"} 0`,
		`mnemo_refusals_total{reason="oauth_registration"} 0`,
		`mnemo_refusals_total{reason="quota"} 0`,
		`mnemo_refusals_total{reason="rate_limit"} 0`,
		`mnemo_tenants 1`,
		`mnemo_memories 3`,
	)

	// The scrape counts itself once answered, and the Go and process
	// collectors are there.
	got := metricLines(t, s, "mnemo_http_requests_total", "go_goroutines", "process_start_time_seconds")
	if !slices.Contains(got, `mnemo_http_requests_total{method="GET",route="GET /metrics",status="200"} 1`) || len(got) != 8 {
		t.Fatalf("second scrape: %v", got)
	}

	// The gauges follow the registry: a second tenant, a delete.
	s.CreateTenant("globex", "globex-token-0123456789")
	s.Store("globex-token-0123456789", map[string]any{"content": "globex uses Postgres"})
	s.Store("globex-token-0123456789", map[string]any{"content": "globex deploys on Tuesdays"})
	s.As("acme-token-0123456789", "DELETE", "/memory/"+ids[1], nil).Expect(t, 200)
	got = metricLines(t, s, "mnemo_tenants", "mnemo_memories", "mnemo_http_requests_total")
	for _, want := range []string{
		`mnemo_tenants 2`,
		`mnemo_memories 4`,
		`mnemo_http_requests_total{method="DELETE",route="DELETE /memory/{id}",status="200"} 1`,
		`mnemo_http_requests_total{method="POST",route="POST /memory",status="201"} 5`,
	} {
		if !slices.Contains(got, want) {
			t.Fatalf("missing %s in %v", want, got)
		}
	}
	for _, line := range got {
		if strings.Contains(line, ids[1]) || strings.Contains(line, "acme") || strings.Contains(line, "globex") {
			t.Fatalf("unbounded label in %s", line)
		}
	}

	// After a restart the counters start again; the gauges, read from the
	// registry without opening a tenant store, do not.
	s.Restart(false)
	expectMetrics(t, metricLines(t, s, "mnemo_http_requests_total", "mnemo_tenants", "mnemo_memories"),
		`mnemo_tenants 2`,
		`mnemo_memories 4`,
	)
	if r := s.Do(http.MethodPost, "/metrics", nil, "Authorization", "Bearer "+adminToken); r.Status != 405 {
		t.Fatalf("POST /metrics: %d", r.Status)
	}
}
