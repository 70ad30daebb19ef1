package http

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/mnemohq/mnemo"
)

// tenantRequest is what a tenant route gets: the key, its tenant, and the
// store bound to that tenant. Handlers reach data only through Store.
type tenantRequest struct {
	Key    *mnemo.Key
	Tenant *mnemo.Tenant
	Store  mnemo.MemoryStore
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) >= 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

// tenantToken reads a tenant credential as AutoMem does, first match wins:
// Bearer, then X-API-Key, then ?api_key= (read from the URL, never with
// ParseForm, which would consume a POST body).
func (s *Server) tenantToken(r *http.Request) string {
	if t, ok := bearer(r); ok {
		return t
	}
	if t := strings.TrimSpace(r.Header.Get("X-API-Key")); t != "" {
		return t
	}
	if s.AllowQueryToken {
		return strings.TrimSpace(r.URL.Query().Get("api_key"))
	}
	return ""
}

// authenticate resolves the request's key and tenant, or a 401.
func (s *Server) authenticate(r *http.Request) (*mnemo.Key, *mnemo.Tenant, error) {
	token := s.tenantToken(r)
	if token == "" {
		return nil, nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	return s.Registry.Authenticate(r.Context(), mnemo.HashToken(token))
}

// tenant wraps a tenant route: it authenticates the key, checks its scope and
// the tenant's status, and hands the handler the store of that tenant alone.
func (s *Server) tenant(scope string, h func(http.ResponseWriter, *http.Request, *tenantRequest)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, t, err := s.authenticate(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if rec, ok := w.(*statusRecorder); ok {
			rec.tenant = t.ID
		}
		if !key.HasScope(scope) {
			writeError(w, mnemo.Errorf(mnemo.EFORBIDDEN, "This key lacks the '%s' scope", scope))
			return
		}
		switch {
		case t.Status == mnemo.TenantSuspended:
			writeError(w, mnemo.Errorf(mnemo.ELOCKED, "Tenant '%s' is suspended", t.ID))
			return
		case t.Status == mnemo.TenantReadOnly && scope == mnemo.ScopeWrite:
			writeError(w, mnemo.Errorf(mnemo.ELOCKED, "Tenant '%s' is read-only", t.ID))
			return
		}
		store, release, err := s.Stores.Open(r.Context(), t.ID)
		if err != nil {
			writeError(w, err)
			return
		}
		defer release()
		h(w, withActor(r, key.ID), &tenantRequest{Key: key, Tenant: t, Store: store})
	}
}

// adminToken reads the operator's token: Bearer, X-Admin-Token, or
// AutoMem's X-Admin-Api-Key.
func adminToken(r *http.Request) string {
	if t := strings.TrimSpace(r.Header.Get("X-Admin-Token")); t != "" {
		return t
	}
	if t := strings.TrimSpace(r.Header.Get("X-Admin-Api-Key")); t != "" {
		return t
	}
	t, _ := bearer(r)
	return t
}

// admin wraps an operator route. Without a configured admin token the
// routes are closed (403); a missing or wrong token is a 401. Both sides are
// hashed before the constant-time compare, so neither length nor content
// leaks through timing.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.AdminToken == "" {
			writeError(w, mnemo.Errorf(mnemo.EFORBIDDEN, "Admin token not configured: set ADMIN_API_TOKEN to enable the admin routes"))
			return
		}
		got, want := sha256.Sum256([]byte(adminToken(r))), sha256.Sum256([]byte(s.AdminToken))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			writeError(w, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Admin authorization required"))
			return
		}
		h(w, withActor(r, "admin"))
	}
}
