package http

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// tenantRequest is what a tenant route gets: the key, its tenant, and the
// store bound to that tenant. Handlers reach data only through Store, and
// note what the request stored for usage.
type tenantRequest struct {
	Key    *mnemo.Key
	Tenant *mnemo.Tenant
	Store  mnemo.MemoryStore

	storedMemories, storedBytes, embeddingCalls int64
	replayed                                    bool // an idempotent replay: count nothing
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
	return s.authenticateToken(r.Context(), s.tenantToken(r))
}

// authenticateToken resolves a tenant key, or an OAuth access token to the
// key it was granted for.
func (s *Server) authenticateToken(ctx context.Context, token string) (*mnemo.Key, *mnemo.Tenant, error) {
	if token == "" {
		return nil, nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	if strings.HasPrefix(token, accessTokenPrefix) {
		return s.Registry.AuthenticateOAuth(ctx, mnemo.HashToken(token), s.Now())
	}
	return s.Registry.Authenticate(ctx, mnemo.HashToken(token))
}

// tenant wraps a tenant route. In order: a client address that keeps
// failing authentication is throttled (429); the key is authenticated
// (401) and its scope checked (403); a suspended tenant gets 423, and a
// read-only one 423 on writes; the tenant's rate limit and concurrency cap
// apply (429). The handler then gets the store of that tenant alone; its
// answer is held until the request's usage is on disk.
func (s *Server) tenant(scope, kind string, h func(http.ResponseWriter, *http.Request, *tenantRequest)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := s.Now()
		addr := s.clientAddr(r)
		if blocked, wait := s.limits.throttled(addr, s.AuthFailuresPerMinute, now); blocked {
			s.refuse(w, "auth_throttle", wait, mnemo.Errorf(mnemo.ETOOMANY, "Too many failed authentications from this address; retry later"))
			return
		}
		key, t, err := s.authenticate(r)
		if err != nil {
			if mnemo.ErrorCode(err) == mnemo.EUNAUTHORIZED {
				s.limits.failed(addr, now)
			}
			writeError(w, err)
			return
		}
		if rec, ok := w.(*statusRecorder); ok {
			rec.tenant = t.ID
		}
		s.touchKey(key, now)
		if !key.HasScope(scope) {
			writeError(w, mnemo.Errorf(mnemo.EFORBIDDEN, "This key lacks the '%s' scope", scope))
			return
		}
		if err := statusError(t, scope); err != nil {
			writeError(w, err)
			return
		}
		if ok, wait, remaining := s.limits.allow(t, now); t.RateLimit != nil {
			rateHeaders(w, t.RateLimit, remaining, wait)
			if !ok {
				s.refuse(w, "rate_limit", wait, mnemo.Errorf(mnemo.ETOOMANY, "Rate limit exceeded: %s requests per second, burst %d",
					strconv.FormatFloat(t.RateLimit.RequestsPerSecond, 'f', -1, 64), t.RateLimit.Burst))
				return
			}
		}
		release, ok := s.limits.acquire(t.ID, s.TenantConcurrency)
		if !ok {
			s.refuse(w, "concurrency", time.Second, mnemo.Errorf(mnemo.ETOOMANY, "Too many concurrent requests for this tenant (at most %d)", s.TenantConcurrency))
			return
		}
		defer release()
		store, closeStore, err := s.Stores.Open(r.Context(), t.ID)
		if err != nil {
			writeError(w, err)
			return
		}
		defer closeStore()
		tr := &tenantRequest{Key: key, Tenant: t, Store: store}
		buf := newBufferedWriter()
		s.idempotent(buf, withActor(r, key.ID), tr, h)
		if buf.status != mnemo.ETOOMANY && !tr.replayed {
			if err := s.usage.record(r.Context(), usageOf(t.ID, day(now), kind, tr)); err != nil {
				s.Logger.Error("record usage", "request_id", requestID(r.Context()), "tenant", t.ID, "err", err)
			}
		}
		buf.send(w)
	}
}

// statusError is the 423 of a suspended tenant, or of a write to a
// read-only one, with the operator's reason.
func statusError(t *mnemo.Tenant, scope string) error {
	reason := ""
	if t.StatusReason != "" {
		reason = ": " + t.StatusReason
	}
	switch {
	case t.Status == mnemo.TenantSuspended:
		return mnemo.Errorf(mnemo.ELOCKED, "Tenant '%s' is suspended%s", t.ID, reason)
	case t.Status == mnemo.TenantReadOnly && scope == mnemo.ScopeWrite:
		return mnemo.Errorf(mnemo.ELOCKED, "Tenant '%s' is read-only%s", t.ID, reason)
	}
	return nil
}

// touchKey records a key's last use, at most once a minute per key and
// off the request path: it is informational.
func (s *Server) touchKey(k *mnemo.Key, now time.Time) {
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < time.Minute {
		return
	}
	go func() {
		if err := s.Registry.TouchKey(context.Background(), k.ID, now); err != nil {
			s.Logger.Warn("record key use", "key_id", k.ID, "err", err)
		}
	}()
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
		now, addr := s.Now(), s.clientAddr(r)
		if blocked, wait := s.limits.throttled(addr, s.AuthFailuresPerMinute, now); blocked {
			s.refuse(w, "auth_throttle", wait, mnemo.Errorf(mnemo.ETOOMANY, "Too many failed authentications from this address; retry later"))
			return
		}
		got, want := sha256.Sum256([]byte(adminToken(r))), sha256.Sum256([]byte(s.AdminToken))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			s.limits.failed(addr, now)
			writeError(w, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Admin authorization required"))
			return
		}
		// Admin work on one tenant counts in that tenant's usage, recorded
		// before the work so it is there when the answer is (an export
		// streams, so its answer cannot wait).
		if id := r.PathValue("id"); id != "" && mnemo.ValidateTenantID(id) == nil && s.tenantExists(r.Context(), id) {
			if err := s.usage.record(r.Context(), []mnemo.Usage{{TenantID: id, Day: day(now), Kind: usageAdmin, Count: 1}}); err != nil {
				s.Logger.Error("record usage", "request_id", requestID(r.Context()), "tenant", id, "err", err)
			}
		}
		h(w, withActor(r, "admin"))
	}
}

// tenantExists reports whether id names a tenant: usage is never recorded
// for one that does not exist.
func (s *Server) tenantExists(ctx context.Context, id string) bool {
	_, err := s.Registry.Tenant(ctx, id)
	return err == nil
}
