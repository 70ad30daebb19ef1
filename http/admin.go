package http

import (
	"math"
	"net/http"
	"strconv"
	"strings"

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
		"stored_bytes":        t.Stats.StoredBytes,
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
	t := &mnemo.Tenant{ID: id, Name: name, Status: mnemo.TenantActive, CreatedAt: now, UpdatedAt: now,
		RateLimit: s.Defaults.RateLimit, Quotas: s.Defaults.Quotas}
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
		s.audit(r, "tenant.delete", r.PathValue("id"), r.PathValue("id"), err)
		writeError(w, err)
		return
	}
	// Keys go first, so the tenant's tokens answer 401 from this commit on.
	if err := s.Registry.DeleteTenant(r.Context(), t.ID); err != nil {
		s.audit(r, "tenant.delete", t.ID, t.ID, err)
		writeError(w, err)
		return
	}
	s.limits.forget(t.ID) // a tenant created again with this id starts with a full bucket
	err = s.Stores.Drop(r.Context(), t.ID)
	s.audit(r, "tenant.delete", t.ID, t.ID, err)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "tenant_id": t.ID, "deleted": true})
}

// handleUpdateTenant changes a tenant's name, status (with a reason), rate
// limit and quotas. A field left out is unchanged; null removes a limit.
// Everything is validated before anything changes.
func (s *Server) handleUpdateTenant(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) {
		s.audit(r, "tenant.update", r.PathValue("id"), r.PathValue("id"), err)
		writeError(w, err)
	}
	t, err := s.pathTenant(r)
	if err != nil {
		fail(err)
		return
	}
	body, err := s.requireJSONObject(w, r, "JSON body is required")
	if err != nil {
		fail(err)
		return
	}
	if err := applyTenantPatch(t, body); err != nil {
		fail(err)
		return
	}
	t.UpdatedAt = s.Now()
	err = s.Registry.UpdateTenant(r.Context(), t)
	s.audit(r, "tenant.update", t.ID, t.ID, err)
	if err != nil {
		writeError(w, err)
		return
	}
	s.limits.forget(t.ID) // the next request builds its limiter from the new settings
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "tenant": tenantJSON(t, true)})
}

func applyTenantPatch(t *mnemo.Tenant, body map[string]any) error {
	known := map[string]bool{"name": true, "status": true, "status_reason": true, "rate_limit": true, "quotas": true}
	for k := range body {
		if !known[k] {
			return mnemo.Errorf(mnemo.EINVALID, "unknown field '%s': expected name, status, status_reason, rate_limit or quotas", k)
		}
	}
	if v, ok := body["name"]; ok {
		n, isString := v.(string)
		if !isString || strings.TrimSpace(n) == "" || len(n) > 200 {
			return mnemo.Errorf(mnemo.EINVALID, "'name' must be a non-empty string of at most 200 characters")
		}
		t.Name = strings.TrimSpace(n)
	}
	if v, ok := body["status"]; ok {
		st, _ := v.(string)
		switch st {
		case mnemo.TenantActive, mnemo.TenantSuspended, mnemo.TenantReadOnly:
			t.Status = st
		default:
			return mnemo.Errorf(mnemo.EINVALID, "'status' must be one of active, suspended, read_only")
		}
		if st == mnemo.TenantActive {
			t.StatusReason = ""
		}
	}
	if v, ok := body["status_reason"]; ok {
		if v == nil {
			t.StatusReason = ""
		} else if reason, isString := v.(string); !isString || len(reason) > 500 {
			return mnemo.Errorf(mnemo.EINVALID, "'status_reason' must be a string of at most 500 characters")
		} else {
			t.StatusReason = strings.TrimSpace(reason)
		}
	}
	if v, ok := body["rate_limit"]; ok {
		if v == nil {
			t.RateLimit = nil
		} else {
			obj, isObject := v.(map[string]any)
			rps, rpsOK := obj["requests_per_second"].(float64)
			burst, burstOK := obj["burst"].(float64)
			if !isObject || !rpsOK || rps <= 0 || rps > 1e6 {
				return mnemo.Errorf(mnemo.EINVALID, "'rate_limit.requests_per_second' must be a number above 0 (at most 1000000)")
			}
			if !burstOK || burst < 1 || burst > 1e6 || burst != float64(int(burst)) {
				return mnemo.Errorf(mnemo.EINVALID, "'rate_limit.burst' must be an integer from 1 to 1000000")
			}
			t.RateLimit = &mnemo.RateLimit{RequestsPerSecond: rps, Burst: int(burst)}
		}
	}
	if v, ok := body["quotas"]; ok {
		if v == nil {
			t.Quotas = mnemo.Quotas{}
		} else {
			obj, isObject := v.(map[string]any)
			if !isObject {
				return mnemo.Errorf(mnemo.EINVALID, "'quotas' must be an object with max_memories and/or max_storage_mb")
			}
			if q, ok := obj["max_memories"]; ok {
				if q == nil {
					t.Quotas.MaxMemories = nil
				} else if n, isNum := q.(float64); !isNum || n < 0 || n != float64(int64(n)) {
					return mnemo.Errorf(mnemo.EINVALID, "'quotas.max_memories' must be a non-negative integer or null")
				} else {
					m := int64(n)
					t.Quotas.MaxMemories = &m
				}
			}
			if q, ok := obj["max_storage_mb"]; ok {
				if q == nil {
					t.Quotas.MaxStorageMB = nil
				} else if n, isNum := q.(float64); !isNum || n <= 0 {
					return mnemo.Errorf(mnemo.EINVALID, "'quotas.max_storage_mb' must be a number above 0 or null")
				} else {
					t.Quotas.MaxStorageMB = &n
				}
			}
		}
	}
	return nil
}
