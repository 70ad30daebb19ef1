package http

import (
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

func tenantJSON(t *mnemo.Tenant, withStats bool) map[string]any {
	var rate any
	if t.RateLimit != nil {
		rate = map[string]any{"requests_per_second": t.RateLimit.RequestsPerSecond, "burst": t.RateLimit.Burst}
	}
	quotas := map[string]any{"max_memories": nil, "max_storage_mb": nil}
	if t.Quotas.MaxMemories != nil {
		quotas["max_memories"] = *t.Quotas.MaxMemories
	}
	if t.Quotas.MaxStorageMB != nil {
		quotas["max_storage_mb"] = *t.Quotas.MaxStorageMB
	}
	out := map[string]any{"tenant_id": t.ID, "name": t.Name, "status": t.Status, "status_reason": t.StatusReason,
		"rate_limit": rate, "quotas": quotas,
		"created_at": mnemo.FormatTime(t.CreatedAt), "updated_at": mnemo.FormatTime(t.UpdatedAt), "incarnation": t.Incarnation}
	if withStats {
		out["stats"] = statsJSON(t)
	}
	return out
}

// statsJSON is the seed's stats shape. In the embedded store every memory
// is a graph node and (once embedded) a vector point; a graph backend
// counts its graph.
func statsJSON(t *mnemo.Tenant) map[string]any {
	nodes, edges := t.Stats.Memories, t.Stats.Relations
	if t.Stats.GraphNodes > 0 {
		nodes, edges = t.Stats.GraphNodes, t.Stats.GraphRelationships
	}
	return map[string]any{
		"memory_count":        t.Stats.Memories,
		"graph_nodes":         nodes,
		"graph_relationships": edges,
		"vector_points":       t.Stats.Vectors,
		"storage_mb":          math.Round(float64(t.Stats.StorageBytes)/(1<<20)*1000) / 1000,
		"storage_bytes":       t.Stats.StorageBytes,
		"stored_bytes":        t.Stats.StoredBytes,
	}
}

func keyJSON(k *mnemo.Key) map[string]any {
	return map[string]any{"key_id": k.ID, "label": k.Label, "scopes": k.Scopes, "prefix": k.Prefix,
		"created_at": mnemo.FormatTime(k.CreatedAt), "expires_at": fmtTimePtr(k.ExpiresAt),
		"last_used_at": fmtTimePtr(k.LastUsedAt), "revoked_at": fmtTimePtr(k.RevokedAt)}
}

func fmtTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return mnemo.FormatTime(*t)
}

const tokenShownOnce = "Store the api_token now: it is shown only in this response."

func (s *Server) handleCreateTenant(w http.ResponseWriter, r *http.Request) {
	body, err := s.requireJSONObject(w, r, "JSON body with 'tenant_id' is required")
	if err != nil {
		s.error(w, r, err)
		return
	}
	c, err := s.svc.Tenants.CreateTenant(r.Context(), body)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := map[string]any{"status": "success", "tenant": tenantJSON(c.Tenant, false),
		"api_token": c.Token, "key_id": c.Key.ID, "message": tokenShownOnce}
	if c.Warning != "" {
		out["warning"] = c.Warning
	}
	s.reply(w, r, http.StatusCreated, out)
}

func (s *Server) handleListTenants(w http.ResponseWriter, r *http.Request) {
	limit, err := pageParam(r, "limit", 100, 1, 1000)
	if err != nil {
		s.error(w, r, err)
		return
	}
	offset, err := pageParam(r, "offset", 0, 0, math.MaxInt32)
	if err != nil {
		s.error(w, r, err)
		return
	}
	withStats, err := boolParam(r, "include_stats", false)
	if err != nil {
		s.error(w, r, err)
		return
	}
	tenants, total, err := s.svc.Tenants.Tenants(r.Context(), limit, offset)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := make([]map[string]any, len(tenants))
	for i, t := range tenants {
		out[i] = tenantJSON(t, withStats)
	}
	s.reply(w, r, http.StatusOK, map[string]any{"status": "success", "count": len(out), "total": total,
		"limit": limit, "offset": offset, "tenants": out})
}

func (s *Server) handleGetTenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.svc.Tenants.Tenant(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, map[string]any{"status": "success", "tenant": tenantJSON(t, true)})
}

func (s *Server) handleTenantStats(w http.ResponseWriter, r *http.Request) {
	t, err := s.svc.Tenants.Tenant(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := statsJSON(t)
	out["status"], out["tenant_id"] = "success", t.ID
	s.reply(w, r, http.StatusOK, out)
}

func (s *Server) handleDeleteTenant(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.svc.Tenants.DeleteTenant(r.Context(), id); err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, map[string]any{"status": "success", "tenant_id": id, "deleted": true})
}

func (s *Server) handleUpdateTenant(w http.ResponseWriter, r *http.Request) {
	body, err := s.readJSONObject(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	t, err := s.svc.Tenants.UpdateTenant(r.Context(), r.PathValue("id"), body)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, map[string]any{"status": "success", "tenant": tenantJSON(t, true)})
}

func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request) {
	body, err := s.readJSONObject(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	c, err := s.svc.Keys.CreateKey(r.Context(), r.PathValue("id"), body)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusCreated, map[string]any{"status": "success", "key": keyJSON(c.Key), "api_token": c.Token,
		"message": tokenShownOnce})
}

func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	keys, err := s.svc.Keys.Keys(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := make([]map[string]any, len(keys))
	for i, k := range keys {
		out[i] = keyJSON(k)
	}
	s.reply(w, r, http.StatusOK, map[string]any{"status": "success", "tenant_id": id, "keys": out})
}

func (s *Server) handleRevokeKey(w http.ResponseWriter, r *http.Request) {
	id, keyID := r.PathValue("id"), r.PathValue("key_id")
	if err := s.svc.Keys.RevokeKey(r.Context(), id, keyID); err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, map[string]any{"status": "success", "tenant_id": id, "key_id": keyID, "revoked": true})
}

// auditFilter reads ?action=&since=&limit=&incarnation= (and, for all
// tenants, ?tenant_id=).
func auditFilter(r *http.Request) (mnemo.AuditFilter, error) {
	q := r.URL.Query()
	f := mnemo.AuditFilter{TenantID: q.Get("tenant_id"), Action: q.Get("action")}
	var err error
	if f.Limit, err = pageParam(r, "limit", 100, 1, 1000); err != nil {
		return f, err
	}
	if f.Incarnation, err = incarnationParam(r); err != nil {
		return f, err
	}
	if since := q.Get("since"); since != "" {
		if f.Since, err = mnemo.ParseTime(since); err != nil {
			return f, mnemo.Errorf(mnemo.EINVALID, "'since' must be an ISO 8601 timestamp")
		}
	}
	return f, nil
}

func (s *Server) writeAudit(w http.ResponseWriter, r *http.Request, events []*mnemo.AuditEvent) {
	out := make([]map[string]any, len(events))
	for i, e := range events {
		out[i] = map[string]any{"id": e.ID, "time": mnemo.FormatTime(e.At), "actor": e.Actor, "tenant_id": e.TenantID,
			"action": e.Action, "target": e.Target, "request_id": e.RequestID, "outcome": outcome(e.Outcome), "incarnation": e.Incarnation}
	}
	s.reply(w, r, http.StatusOK, map[string]any{"status": "success", "count": len(out), "events": out})
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	events, err := s.svc.Reports.Audit(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.writeAudit(w, r, events)
}

func (s *Server) handleTenantAudit(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := mnemo.ValidateTenantID(id); err != nil {
		s.error(w, r, err)
		return
	}
	f, err := auditFilter(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	events, err := s.svc.Reports.TenantAudit(r.Context(), id, f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.writeAudit(w, r, events)
}

// usageRange reads ?from=&to= (YYYY-MM-DD, UTC, inclusive); the default is
// the current month to today.
func usageRange(r *http.Request, now time.Time) (string, string, error) {
	from, to := now.Format("2006-01")+"-01", now.Format("2006-01-02")
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

// incarnationParam reads ?incarnation=, which selects one life of a tenant
// id that was deleted and created again (0 when absent: the latest).
func incarnationParam(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("incarnation")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, mnemo.Errorf(mnemo.EINVALID, "'incarnation' must be a positive integer")
	}
	return n, nil
}

// writeUsage answers with the counters as JSON (per tenant, per day, kind →
// count, plus totals) or, with format=csv, one row per tenant, day and kind.
func (s *Server) writeUsage(w http.ResponseWriter, r *http.Request, tenantID string) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		s.error(w, r, mnemo.Errorf(mnemo.EINVALID, "'format' must be json or csv"))
		return
	}
	from, to, err := usageRange(r, time.Now().UTC())
	if err != nil {
		s.error(w, r, err)
		return
	}
	incarnation, err := incarnationParam(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	rows, err := s.svc.Reports.Usage(r.Context(), tenantID, incarnation, from, to)
	if err != nil {
		s.error(w, r, err)
		return
	}
	// An earlier life of an id created again is listed apart, as
	// "<id>@<incarnation>", so the new tenant's bill holds none of it, even
	// for a script that sums by tenant_id.
	name := func(u mnemo.Usage) string {
		if u.Superseded && tenantID == "" {
			return fmt.Sprintf("%s@%d", u.TenantID, u.Incarnation)
		}
		return u.TenantID
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		cw.Write([]string{"tenant_id", "day", "kind", "count", "incarnation"})
		for _, u := range rows {
			cw.Write([]string{name(u), u.Day, u.Kind, strconv.FormatInt(u.Count, 10), strconv.FormatInt(u.Incarnation, 10)})
		}
		cw.Flush()
		return
	}
	type tenantUsage struct {
		Days        map[string]map[string]int64 `json:"days"`
		Totals      map[string]int64            `json:"totals"`
		Incarnation int64                       `json:"incarnation"`
	}
	byTenant := map[string]*tenantUsage{}
	for _, u := range rows {
		name := name(u)
		tu := byTenant[name]
		if tu == nil {
			tu = &tenantUsage{Days: map[string]map[string]int64{}, Totals: map[string]int64{}, Incarnation: u.Incarnation}
			byTenant[name] = tu
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
		if incarnation > 0 {
			tu.Incarnation = incarnation
		}
		if tu.Incarnation > 0 { // unknown when no usage was asked for or found
			out["incarnation"] = tu.Incarnation
		}
	} else {
		out["tenants"] = byTenant
	}
	s.reply(w, r, http.StatusOK, out)
}

// handleTenantUsage: GET /admin/tenants/{id}/usage. A deleted tenant's
// usage stays readable, for the last bill.
func (s *Server) handleTenantUsage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := mnemo.ValidateTenantID(id); err != nil {
		s.error(w, r, err)
		return
	}
	s.writeUsage(w, r, id)
}

func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) { s.writeUsage(w, r, "") }

// startedWriter records whether anything reached the client, so that an
// error can still be answered with the error envelope until then.
type startedWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *startedWriter) Write(p []byte) (int, error) {
	s.started = true
	return s.w.Write(p)
}

// stream runs a download: write gets a writer and a begin function that
// sets the file name. An error before anything was written is answered
// with the envelope; after, the connection is cut, so the client sees a
// failed download rather than a file that merely looks complete.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, contentType string, write func(sw *startedWriter, begin func(string)) error) {
	// A large download takes longer than the server's write timeout.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	sw := &startedWriter{w: w}
	begin := func(name string) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
		w.Header().Set("Cache-Control", "no-store")
	}
	err := write(sw, begin)
	if err == nil {
		return
	}
	if !sw.started {
		for _, h := range []string{"Content-Disposition", "Cache-Control"} {
			w.Header().Del(h)
		}
		s.error(w, r, err)
		return
	}
	s.logger.Error("download failed mid-stream", "request_id", mnemo.RequestIDFromContext(r.Context()), "path", r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
}

// handleExport streams one tenant as NDJSON (see package export), with its
// vectors unless ?vectors=false.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	vectors, err := boolParam(r, "vectors", true)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.stream(w, r, "application/x-ndjson", func(sw *startedWriter, begin func(string)) error {
		return s.svc.Portability.Export(r.Context(), r.PathValue("id"), vectors, sw, begin)
	})
}

// handleImport loads an export into a tenant: the whole body is validated
// first, and written in one transaction or not at all.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	// A whole tenant may take longer to upload, and to embed, than the
	// server's timeouts for ordinary requests.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(30 * time.Minute))
	rc.SetWriteDeadline(time.Time{})
	res, err := s.svc.Portability.Import(r.Context(), r.PathValue("id"), r.Body)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.reply(w, r, http.StatusOK, res)
}

// handleBackup streams a tar.gz of everything (AutoMem's GET /backup);
// `mnemo restore` unpacks it. AutoMem's ?include= is accepted with its
// values; the archive always holds everything, since the embedded store
// keeps graph and vectors in the same files.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("include"); v != "" {
		for _, part := range strings.Split(v, ",") {
			if p := strings.TrimSpace(strings.ToLower(part)); p != "falkordb" && p != "qdrant" {
				s.error(w, r, mnemo.Errorf(mnemo.EINVALID, "include must be a comma-separated subset of: falkordb,qdrant"))
				return
			}
		}
	}
	s.stream(w, r, "application/gzip", func(sw *startedWriter, begin func(string)) error {
		// Which tenants were skipped (damaged) is known only at the end:
		// a trailer says it, and the archive's skipped.json says why.
		res, err := s.svc.Portability.Backup(r.Context(), sw, func(name string) {
			begin(name)
			w.Header().Set("Trailer", skippedTrailer)
		})
		if err == nil {
			ids := make([]string, len(res.Skipped))
			for i, d := range res.Skipped {
				ids[i] = d.TenantID
			}
			w.Header().Set(skippedTrailer, strings.Join(ids, ","))
		}
		return err
	})
}

// skippedTrailer names the tenants a backup skipped because their store
// is damaged (empty: none).
const skippedTrailer = "X-Mnemo-Skipped-Tenants"
