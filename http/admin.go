package http

import (
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/mnemohq/mnemo"
)

func tenantJSON(t *mnemo.Tenant, withStats bool) map[string]any {
	out := map[string]any{"tenant_id": t.ID, "name": t.Name, "status": t.Status,
		"created_at": mnemo.FormatTime(t.CreatedAt), "updated_at": mnemo.FormatTime(t.UpdatedAt)}
	if withStats {
		out["stats"] = statsJSON(t)
	}
	return out
}

// statsJSON is the seed's stats shape. In the embedded store every memory
// is a graph node and (once embedded) a vector point.
func statsJSON(t *mnemo.Tenant) map[string]any {
	return map[string]any{
		"memory_count":        t.Stats.Memories,
		"graph_nodes":         t.Stats.Memories,
		"graph_relationships": t.Stats.Relations,
		"vector_points":       t.Stats.Vectors,
		"storage_mb":          math.Round(float64(t.Stats.StorageBytes)/(1<<20)*1000) / 1000,
		"storage_bytes":       t.Stats.StorageBytes,
	}
}

func (s *Server) handleCreateTenant(w http.ResponseWriter, r *http.Request) {
	body, err := s.requireJSONObject(w, r, "JSON body with 'tenant_id' is required")
	if err != nil {
		writeError(w, err)
		return
	}
	id, _ := body["tenant_id"].(string)
	if err := mnemo.ValidateTenantID(id); err != nil {
		writeError(w, err)
		return
	}
	name := id
	if v, ok := body["name"]; ok && v != nil {
		n, isString := v.(string)
		if !isString || len(n) > 200 {
			writeError(w, mnemo.Errorf(mnemo.EINVALID, "'name' must be a string of at most 200 characters"))
			return
		}
		if n = strings.TrimSpace(n); n != "" {
			name = n
		}
	}
	token, generated := "", false
	if v, ok := body["api_token"]; ok && v != nil {
		t, isString := v.(string)
		if !isString || len(t) < mnemo.MinClientTokenLength || len(t) > 512 || strings.TrimSpace(t) != t {
			writeError(w, mnemo.Errorf(mnemo.EINVALID, "'api_token' must be a string of %d to 512 characters without surrounding spaces", mnemo.MinClientTokenLength))
			return
		}
		token = t
	} else {
		token, generated = mnemo.GenerateToken(), true
	}
	now := s.Now()
	t := &mnemo.Tenant{ID: id, Name: name, Status: mnemo.TenantActive, CreatedAt: now, UpdatedAt: now}
	key := &mnemo.Key{ID: mnemo.NewKeyID(), TenantID: id, Label: "initial", Prefix: mnemo.DisplayPrefix(token, generated),
		Scopes: []string{mnemo.ScopeRead, mnemo.ScopeWrite}, CreatedAt: now}
	if err := s.Registry.CreateTenant(r.Context(), t, key, mnemo.HashToken(token)); err != nil {
		s.audit(r, "tenant.create", id, id, err)
		writeError(w, err)
		return
	}
	if err := s.Stores.Create(r.Context(), id); err != nil {
		// Without its data directory the tenant is unusable: undo it.
		s.Registry.DeleteTenant(r.Context(), id)
		s.audit(r, "tenant.create", id, id, err)
		writeError(w, err)
		return
	}
	s.audit(r, "tenant.create", id, id, nil)
	s.audit(r, "key.create", id, key.ID, nil)
	writeJSON(w, http.StatusCreated, map[string]any{"status": "success", "tenant": tenantJSON(t, false),
		"api_token": token, "key_id": key.ID,
		"message": "Store the api_token now: it is shown only in this response."})
}

// pageParam reads a paging parameter; a malformed one is a 400 naming it.
func pageParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, mnemo.Errorf(mnemo.EINVALID, "'%s' must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

func (s *Server) handleListTenants(w http.ResponseWriter, r *http.Request) {
	limit, err := pageParam(r, "limit", 100, 1, 1000)
	if err != nil {
		writeError(w, err)
		return
	}
	offset, err := pageParam(r, "offset", 0, 0, math.MaxInt32)
	if err != nil {
		writeError(w, err)
		return
	}
	withStats := strings.EqualFold(r.URL.Query().Get("include_stats"), "true") || r.URL.Query().Get("include_stats") == "1"
	tenants, total, err := s.Registry.Tenants(r.Context(), limit, offset)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]map[string]any, len(tenants))
	for i, t := range tenants {
		out[i] = tenantJSON(t, withStats)
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "count": len(out), "total": total,
		"limit": limit, "offset": offset, "tenants": out})
}

// pathTenant loads the tenant named by {id}, validating the id first.
func (s *Server) pathTenant(r *http.Request) (*mnemo.Tenant, error) {
	id := r.PathValue("id")
	if err := mnemo.ValidateTenantID(id); err != nil {
		return nil, err
	}
	return s.Registry.Tenant(r.Context(), id)
}

func (s *Server) handleGetTenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.pathTenant(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "tenant": tenantJSON(t, true)})
}

func (s *Server) handleTenantStats(w http.ResponseWriter, r *http.Request) {
	t, err := s.pathTenant(r)
	if err != nil {
		writeError(w, err)
		return
	}
	out := statsJSON(t)
	out["status"], out["tenant_id"] = "success", t.ID
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleDeleteTenant(w http.ResponseWriter, r *http.Request) {
	t, err := s.pathTenant(r)
	if err != nil {
		writeError(w, err)
		return
	}
	// Keys go first, so the tenant's tokens answer 401 from this commit on.
	if err := s.Registry.DeleteTenant(r.Context(), t.ID); err != nil {
		s.audit(r, "tenant.delete", t.ID, t.ID, err)
		writeError(w, err)
		return
	}
	err = s.Stores.Drop(r.Context(), t.ID)
	s.audit(r, "tenant.delete", t.ID, t.ID, err)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "tenant_id": t.ID, "deleted": true})
}
