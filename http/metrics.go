package http

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric label values are bounded: a route is a mux pattern (or
// unmatchedRoute), never a raw path; a method comes from the pattern; a
// refusal reason is one of refusalReasons (or "other"). No series is per
// tenant.
const (
	unmatchedRoute = "unmatched"
	otherLabel     = "other"
	// tenantsPageSize is how many tenants a scrape reads per registry page.
	tenantsPageSize = 500
	// collectTimeout bounds the registry reads of one scrape.
	collectTimeout = 5 * time.Second
)

var refusalReasons = []string{"rate_limit", "quota", "concurrency", "auth_throttle"}

// metrics is the server's Prometheus state: a private registry and the
// collectors fed by observeRequest and countRefusal. The Server holds it and
// builds it on first use, so a Server literal needs no constructor.
type metrics struct {
	once     sync.Once
	registry *prometheus.Registry
	handler  http.Handler
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	refusals *prometheus.CounterVec
}

// metricsState returns the server's metrics, building them once.
func (s *Server) metricsState() *metrics {
	m := &s.metrics
	m.once.Do(func() { m.init(s) })
	return m
}

func (m *metrics) init(s *Server) {
	m.registry = prometheus.NewRegistry()
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mnemo", Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests answered, by route pattern, method and status code.",
	}, []string{"route", "method", "status"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "mnemo", Subsystem: "http", Name: "request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mnemo", Subsystem: "http", Name: "errors_total",
		Help: "HTTP requests answered with an error status, by route pattern and class (4xx or 5xx).",
	}, []string{"route", "class"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mnemo", Name: "refusals_total",
		Help: "Requests refused by a limit, by reason: rate_limit, quota, concurrency or auth_throttle.",
	}, []string{"reason"})
	for _, reason := range refusalReasons {
		m.refusals.WithLabelValues(reason) // export every reason, at 0
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.errors, m.refusals,
		&tenantCollector{s: s},
	)
	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// A failing registry read drops mnemo_tenants and mnemo_memories from
		// the scrape (and is logged) instead of failing the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      promLogger{s},
	})
}

// promLogger sends promhttp's errors to the server's logger.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) {
	if l.s.Logger != nil {
		l.s.Logger.Error("metrics", "err", strings.TrimSpace(fmt.Sprintln(v...)))
	}
}

// handleMetrics serves the metrics in Prometheus' text format.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.metricsState().handler.ServeHTTP(w, r)
}

// observeRequest records one answered request. route is the request's mux
// pattern, "METHOD /path/{id}", or "" when no route matched. The method
// label is the pattern's (a HEAD served by a GET route counts as GET), so a
// client's arbitrary method never becomes a label value.
func (s *Server) observeRequest(route string, status int, d time.Duration) {
	m := s.metricsState()
	if status == 0 {
		status = http.StatusOK // the handler wrote nothing: net/http answers 200
	}
	method := otherLabel
	if route == "" {
		route = unmatchedRoute
	} else if i := strings.IndexByte(route, ' '); i > 0 {
		method = route[:i]
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
	switch {
	case status >= 500:
		m.errors.WithLabelValues(route, "5xx").Inc()
	case status >= 400:
		m.errors.WithLabelValues(route, "4xx").Inc()
	}
}

// countRefusal records a request refused by a limit: reason is
// "rate_limit", "quota", "concurrency" or "auth_throttle"; any other reason
// is counted as "other".
func (s *Server) countRefusal(reason string) {
	m := s.metricsState()
	for _, known := range refusalReasons {
		if reason == known {
			m.refusals.WithLabelValues(reason).Inc()
			return
		}
	}
	m.refusals.WithLabelValues(otherLabel).Inc()
}

// tenantCollector reports, at scrape time, how many tenants there are and
// how many memories they hold in all. It reads the counters the registry
// keeps for each tenant and opens no tenant store.
type tenantCollector struct{ s *Server }

var (
	tenantsDesc  = prometheus.NewDesc("mnemo_tenants", "Tenants in the registry.", nil, nil)
	memoriesDesc = prometheus.NewDesc("mnemo_memories", "Memories stored, summed over all tenants.", nil, nil)
)

func (c *tenantCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tenantsDesc
	ch <- memoriesDesc
}

func (c *tenantCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.Registry == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	var tenants, memories int64
	for offset := 0; ; offset += tenantsPageSize {
		page, total, err := c.s.Registry.Tenants(ctx, tenantsPageSize, offset)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(tenantsDesc, err)
			ch <- prometheus.NewInvalidMetric(memoriesDesc, err)
			return
		}
		for _, t := range page {
			tenants++
			memories += t.Stats.Memories
		}
		if len(page) < tenantsPageSize || offset+len(page) >= total {
			break
		}
	}
	ch <- prometheus.MustNewConstMetric(tenantsDesc, prometheus.GaugeValue, float64(tenants))
	ch <- prometheus.MustNewConstMetric(memoriesDesc, prometheus.GaugeValue, float64(memories))
}
