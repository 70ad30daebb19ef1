package http

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric label values are bounded: a route is a mux pattern (or
// unmatchedRoute), never a raw path; a method comes from the pattern; a
// refusal reason is one the service counts. No series is per tenant.
const (
	unmatchedRoute = "unmatched"
	otherLabel     = "other"
	// tenantsPageSize is how many tenants a scrape reads per registry page.
	tenantsPageSize = 500
	// collectTimeout bounds the registry reads of one scrape.
	collectTimeout = 5 * time.Second
)

// metrics is the server's Prometheus state: a private registry, the
// request collectors fed by observeRequest, and collectors that read the
// service at scrape time.
type metrics struct {
	registry *prometheus.Registry
	handler  http.Handler
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
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
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.errors,
		&serviceCollector{s: s},
	)
	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// A failing registry read drops mnemo_tenants and mnemo_memories from
		// the scrape (and is logged) instead of failing the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      promLogger{s},
	})
	return m
}

// promLogger sends promhttp's errors to the server's logger.
type promLogger struct{ s *Server }

func (l promLogger) Println(v ...any) {
	l.s.logger.Error("metrics", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}

// handleMetrics serves the metrics in Prometheus' text format.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.handler.ServeHTTP(w, r)
}

// observeRequest records one answered request. route is the request's mux
// pattern, "METHOD /path/{id}", or "" when no route matched. The method
// label is the pattern's (a HEAD served by a GET route counts as GET), so a
// client's arbitrary method never becomes a label value.
func (m *metrics) observeRequest(route string, status int, d time.Duration) {
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

// serviceCollector reports, at scrape time, the requests each limit has
// refused, how many tenants there are and how many memories they hold in
// all. It reads the counters the registry keeps for each tenant and opens
// no tenant store.
type serviceCollector struct{ s *Server }

var (
	refusalsDesc = prometheus.NewDesc("mnemo_refusals_total", "Requests refused by a limit, by reason: rate_limit, quota, concurrency, auth_throttle or oauth_registration.", []string{"reason"}, nil)
	tenantsDesc  = prometheus.NewDesc("mnemo_tenants", "Tenants in the registry.", nil, nil)
	memoriesDesc = prometheus.NewDesc("mnemo_memories", "Memories stored, summed over all tenants.", nil, nil)
	prunedDesc   = prometheus.NewDesc("mnemo_records_pruned_total", "Registry records removed past their retention, or as orphans at start, by kind.", []string{"kind"}, nil)
)

// The tenant store pool. A damaged tenant is named: there are few, and an
// operator must know which to restore.
var (
	storesOpenDesc     = prometheus.NewDesc("mnemo_stores_open", "Tenant stores open.", nil, nil)
	storesMaxOpenDesc  = prometheus.NewDesc("mnemo_stores_max_open", "Bound on the tenant stores open at once (MNEMO_MAX_OPEN_STORES; 0: none).", nil, nil)
	storeEvictionsDesc = prometheus.NewDesc("mnemo_store_evictions_total", "Idle tenant stores closed early to make room (the open-store bound or the vector budget).", nil, nil)
	storeRefusalsDesc  = prometheus.NewDesc("mnemo_store_refusals_total", "Requests answered 503 because no tenant store could be opened (every open one in use, or no file descriptor left).", nil, nil)
	storeVectorsDesc   = prometheus.NewDesc("mnemo_store_vector_bytes", "Bytes of the resident vector indexes of open tenant stores.", nil, nil)
	storesDamagedDesc  = prometheus.NewDesc("mnemo_stores_damaged", "Tenants whose store is damaged and out of service until restored.", nil, nil)
	storeDamagedDesc   = prometheus.NewDesc("mnemo_store_damaged", "1 for each tenant whose store is damaged (at most 100 named).", []string{"tenant"}, nil)
	maxNamedDamaged    = 100
)

func (c *serviceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- refusalsDesc
	ch <- tenantsDesc
	ch <- memoriesDesc
	ch <- prunedDesc
	for _, d := range []*prometheus.Desc{storesOpenDesc, storesMaxOpenDesc, storeEvictionsDesc, storeRefusalsDesc, storeVectorsDesc, storesDamagedDesc, storeDamagedDesc} {
		ch <- d
	}
}

// collectStores reports the tenant store pool.
func (c *serviceCollector) collectStores(ch chan<- prometheus.Metric) {
	p := c.s.svc.Health.StorePool()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(storesOpenDesc, float64(p.Open))
	gauge(storesMaxOpenDesc, float64(p.MaxOpen))
	ch <- prometheus.MustNewConstMetric(storeEvictionsDesc, prometheus.CounterValue, float64(p.Evictions))
	ch <- prometheus.MustNewConstMetric(storeRefusalsDesc, prometheus.CounterValue, float64(p.Refusals))
	gauge(storeVectorsDesc, float64(p.VectorBytes))
	gauge(storesDamagedDesc, float64(len(p.Damaged)))
	for _, d := range p.Damaged[:min(len(p.Damaged), maxNamedDamaged)] {
		gauge(storeDamagedDesc, 1, d.TenantID)
	}
}

func (c *serviceCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectStores(ch)
	for reason, n := range c.s.svc.Health.Refusals() {
		ch <- prometheus.MustNewConstMetric(refusalsDesc, prometheus.CounterValue, float64(n), reason)
	}
	if c.s.cfg.Pruned != nil {
		for kind, n := range c.s.cfg.Pruned() {
			ch <- prometheus.MustNewConstMetric(prunedDesc, prometheus.CounterValue, float64(n), kind)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	var tenants, memories int64
	for offset := 0; ; offset += tenantsPageSize {
		page, total, err := c.s.svc.Tenants.Tenants(ctx, tenantsPageSize, offset)
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
