package http

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mnemohq/mnemo"
)

// Usage kinds: requests by kind, and what they stored or cost.
const (
	usageStore         = "store"
	usageRecall        = "recall"
	usageUpdate        = "update"
	usageDelete        = "delete"
	usageAssociate     = "associate"
	usageAdmin         = "admin"
	usageMemories      = "memories_stored"
	usageBytes         = "bytes_stored"
	usageEmbeddingCall = "embedding_calls"
)

// usageRecorder writes usage counters durably before a request answers.
// Requests that arrive while a write is in flight are written together by
// the next one (group commit), so under load many requests share an fsync.
type usageRecorder struct {
	write func(ctx context.Context, rows []mnemo.Usage) error

	mu      sync.Mutex
	pending []mnemo.Usage
	waiters []chan error
	busy    bool
}

// record adds rows and returns once they are committed.
func (u *usageRecorder) record(ctx context.Context, rows []mnemo.Usage) error {
	done := make(chan error, 1)
	u.mu.Lock()
	u.pending = append(u.pending, rows...)
	u.waiters = append(u.waiters, done)
	if !u.busy {
		u.busy = true
		go u.flush(context.WithoutCancel(ctx))
	}
	u.mu.Unlock()
	return <-done
}

func (u *usageRecorder) flush(ctx context.Context) {
	for {
		u.mu.Lock()
		rows, waiters := u.pending, u.waiters
		u.pending, u.waiters = nil, nil
		if len(waiters) == 0 {
			u.busy = false
			u.mu.Unlock()
			return
		}
		u.mu.Unlock()
		err := u.write(ctx, mergeUsage(rows))
		for _, w := range waiters {
			w <- err
		}
	}
}

func mergeUsage(rows []mnemo.Usage) []mnemo.Usage {
	idx := map[[3]string]int{}
	var out []mnemo.Usage
	for _, r := range rows {
		k := [3]string{r.TenantID, r.Day, r.Kind}
		if i, ok := idx[k]; ok {
			out[i].Count += r.Count
			continue
		}
		idx[k] = len(out)
		out = append(out, r)
	}
	return out
}

// usageOf lists the counters a tenant request adds.
func usageOf(tenantID string, day string, kind string, tr *tenantRequest) []mnemo.Usage {
	rows := []mnemo.Usage{{TenantID: tenantID, Day: day, Kind: kind, Count: 1}}
	for k, n := range map[string]int64{usageMemories: tr.storedMemories, usageBytes: tr.storedBytes, usageEmbeddingCall: tr.embeddingCalls} {
		if n > 0 {
			rows = append(rows, mnemo.Usage{TenantID: tenantID, Day: day, Kind: k, Count: n})
		}
	}
	return rows
}

// bufferedWriter holds a handler's answer until usage is on disk, so the
// counts are readable as soon as the client has its answer.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedWriter() *bufferedWriter { return &bufferedWriter{header: http.Header{}} }

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

// send copies the buffered answer to w.
func (b *bufferedWriter) send(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes())
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// usageRange reads ?from=&to= (YYYY-MM-DD, UTC, inclusive); the default is
// the current month to today.
func (s *Server) usageRange(r *http.Request) (string, string, error) {
	now := s.Now().UTC()
	from, to := now.Format("2006-01")+"-01", day(now)
	for name, dst := range map[string]*string{"from": &from, "to": &to} {
		if v := r.URL.Query().Get(name); v != "" {
			if _, err := time.Parse("2006-01-02", v); err != nil {
				return "", "", mnemo.Errorf(mnemo.EINVALID, "'%s' must be a date as YYYY-MM-DD", name)
			}
			*dst = v
		}
	}
	if from > to {
		return "", "", mnemo.Errorf(mnemo.EINVALID, "'from' (%s) must not be after 'to' (%s)", from, to)
	}
	return from, to, nil
}

// writeUsage answers with the counters as JSON (per tenant, per day, kind →
// count, plus totals) or, with format=csv, one row per tenant, day and kind.
func (s *Server) writeUsage(w http.ResponseWriter, r *http.Request, tenantID string) {
	from, to, err := s.usageRange(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rows, err := s.Registry.Usage(r.Context(), tenantID, from, to)
	if err != nil {
		writeError(w, err)
		return
	}
	switch r.URL.Query().Get("format") {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		cw.Write([]string{"tenant_id", "day", "kind", "count"})
		for _, u := range rows {
			cw.Write([]string{u.TenantID, u.Day, u.Kind, strconv.FormatInt(u.Count, 10)})
		}
		cw.Flush()
		return
	case "", "json":
	default:
		writeError(w, mnemo.Errorf(mnemo.EINVALID, "'format' must be json or csv"))
		return
	}
	type tenantUsage struct {
		Days   map[string]map[string]int64 `json:"days"`
		Totals map[string]int64            `json:"totals"`
	}
	byTenant := map[string]*tenantUsage{}
	for _, u := range rows {
		tu := byTenant[u.TenantID]
		if tu == nil {
			tu = &tenantUsage{Days: map[string]map[string]int64{}, Totals: map[string]int64{}}
			byTenant[u.TenantID] = tu
		}
		if tu.Days[u.Day] == nil {
			tu.Days[u.Day] = map[string]int64{}
		}
		tu.Days[u.Day][u.Kind] += u.Count
		tu.Totals[u.Kind] += u.Count
	}
	out := map[string]any{"status": "success", "from": from, "to": to}
	if tenantID != "" {
		tu := byTenant[tenantID]
		if tu == nil {
			tu = &tenantUsage{Days: map[string]map[string]int64{}, Totals: map[string]int64{}}
		}
		out["tenant_id"], out["days"], out["totals"] = tenantID, tu.Days, tu.Totals
	} else {
		out["tenants"] = byTenant
	}
	writeJSON(w, http.StatusOK, out)
}

// handleTenantUsage: GET /admin/tenants/{id}/usage. A deleted tenant's
// usage stays readable, for the last bill.
func (s *Server) handleTenantUsage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := mnemo.ValidateTenantID(id); err != nil {
		writeError(w, err)
		return
	}
	s.writeUsage(w, r, id)
}

func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) { s.writeUsage(w, r, "") }
