// Package http serves mnemo over HTTP: AutoMem's memory API for the tenant
// a key belongs to, and the operator's /admin routes.
package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/recall"
)

// Registry is what the server needs of the tenant registry.
type Registry interface {
	mnemo.Registry
	AddKey(ctx context.Context, key *mnemo.Key, keyHash []byte) error
	UpdateTenant(ctx context.Context, t *mnemo.Tenant) error
	Keys(ctx context.Context, tenantID string) ([]*mnemo.Key, error)
	RevokeKey(ctx context.Context, tenantID, keyID string, at time.Time) error
	TouchKey(ctx context.Context, keyID string, at time.Time) error
	AppendAudit(ctx context.Context, e *mnemo.AuditEvent) error
	Audit(ctx context.Context, f mnemo.AuditFilter) ([]*mnemo.AuditEvent, error)
	AddUsage(ctx context.Context, rows []mnemo.Usage) error
	Usage(ctx context.Context, tenantID, from, to string) ([]mnemo.Usage, error)
	ReserveIdempotency(ctx context.Context, tenantID, key string, fingerprint []byte, now time.Time) (reserved bool, status int, body []byte, err error)
	CompleteIdempotency(ctx context.Context, tenantID, key string, status int, body []byte) error
	ReleaseIdempotency(ctx context.Context, tenantID, key string) error
	RegisterOAuthClient(ctx context.Context, c *mnemo.OAuthClient) error
	OAuthClient(ctx context.Context, id string) (*mnemo.OAuthClient, error)
	SaveOAuthGrant(ctx context.Context, g *mnemo.OAuthGrant) error
	ConsumeOAuthGrant(ctx context.Context, kind string, hash []byte, now time.Time) (*mnemo.OAuthGrant, error)
	AuthenticateOAuth(ctx context.Context, hash []byte, now time.Time) (*mnemo.Key, *mnemo.Tenant, error)
	LiveKey(ctx context.Context, keyID string, now time.Time) bool
}

// Stores is what the server needs of the tenant store pool.
type Stores interface {
	mnemo.Stores
	Create(ctx context.Context, tenantID string) error
}

// Server is mnemo's HTTP server.
type Server struct {
	Registry Registry
	Stores   Stores
	Embedder mnemo.Embedder
	Recaller *recall.Recaller
	Limits   mnemo.Limits
	Logger   *slog.Logger

	// AdminToken authorizes the operator routes; empty disables them.
	AdminToken string
	// AllowQueryToken accepts ?api_key= as AutoMem does.
	AllowQueryToken bool
	// MaxBodyBytes bounds every request body.
	MaxBodyBytes int64
	// Backend names the storage for /health.
	Backend string
	Version string

	// Defaults are the rate limit and quotas a new tenant starts with.
	Defaults struct {
		RateLimit *mnemo.RateLimit
		Quotas    mnemo.Quotas
	}
	// TenantConcurrency caps a tenant's requests in flight (0: no cap).
	TenantConcurrency int
	// AuthFailuresPerMinute throttles a client address after this many
	// failed authentications in a minute (0: never).
	AuthFailuresPerMinute int
	// TrustedProxies may set X-Forwarded-For for the throttle's address.
	TrustedProxies []netip.Prefix

	// Backlog reports how many memories, over all tenants, wait for a
	// vector (nil: none tracked).
	Backlog func() int64

	// PublicURL is the base URL clients use (for OAuth metadata); empty
	// means the scheme and host of each request.
	PublicURL string

	// Now is the clock; tests set it.
	Now func() time.Time

	limits  limits
	usage   usageRecorder
	handler http.Handler // the whole chain, for in-process calls

	mux     *http.ServeMux
	server  *http.Server
	metrics metrics // built on first use; see metrics.go
}

// Handler returns the routed handler with logging and panic recovery.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = func() time.Time { return time.Now().UTC() }
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = 8 << 20
	}
	s.usage.write = s.Registry.AddUsage
	s.mux = http.NewServeMux()
	s.routes()
	s.handler = s.logRequests(s.recoverPanics(s.envelopeUnrouted(s.mux)))
	return s.handler
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /health", s.handleHealth)
	s.mux.Handle("/mcp", s.mcpHandler())
	s.oauthRoutes()

	s.mux.HandleFunc("POST /memory", s.tenant(mnemo.ScopeWrite, usageStore, s.handleStore))
	s.mux.HandleFunc("POST /memory/batch", s.tenant(mnemo.ScopeWrite, usageStore, s.handleStoreBatch))
	s.mux.HandleFunc("GET /memory/by-tag", s.tenant(mnemo.ScopeRead, usageRecall, s.handleByTag))
	s.mux.HandleFunc("DELETE /memory/by-tag", s.tenant(mnemo.ScopeWrite, usageDelete, s.handleDeleteByTag))
	s.mux.HandleFunc("GET /memory/{id}", s.tenant(mnemo.ScopeRead, usageRecall, s.handleGet))
	s.mux.HandleFunc("PATCH /memory/{id}", s.tenant(mnemo.ScopeWrite, usageUpdate, s.handlePatch))
	s.mux.HandleFunc("DELETE /memory/{id}", s.tenant(mnemo.ScopeWrite, usageDelete, s.handleDelete))
	s.mux.HandleFunc("POST /associate", s.tenant(mnemo.ScopeWrite, usageAssociate, s.handleAssociate))
	s.mux.HandleFunc("GET /memories/{id}/related", s.tenant(mnemo.ScopeRead, usageRecall, s.handleRelated))
	s.mux.HandleFunc("GET /recall", s.tenant(mnemo.ScopeRead, usageRecall, s.handleRecall))
	s.mux.HandleFunc("GET /startup-recall", s.tenant(mnemo.ScopeRead, usageRecall, s.handleStartupRecall))
	s.mux.HandleFunc("GET /analyze", s.tenant(mnemo.ScopeRead, usageRecall, s.handleAnalyze))

	s.mux.HandleFunc("POST /admin/tenants", s.admin(s.handleCreateTenant))
	s.mux.HandleFunc("GET /admin/tenants", s.admin(s.handleListTenants))
	s.mux.HandleFunc("GET /admin/tenants/{id}", s.admin(s.handleGetTenant))
	s.mux.HandleFunc("GET /admin/tenants/{id}/stats", s.admin(s.handleTenantStats))
	s.mux.HandleFunc("DELETE /admin/tenants/{id}", s.admin(s.handleDeleteTenant))
	s.mux.HandleFunc("PATCH /admin/tenants/{id}", s.admin(s.handleUpdateTenant))
	s.mux.HandleFunc("POST /admin/tenants/{id}/keys", s.admin(s.handleCreateKey))
	s.mux.HandleFunc("GET /admin/tenants/{id}/keys", s.admin(s.handleListKeys))
	s.mux.HandleFunc("DELETE /admin/tenants/{id}/keys/{key_id}", s.admin(s.handleRevokeKey))
	s.mux.HandleFunc("GET /admin/tenants/{id}/audit", s.admin(s.handleTenantAudit))
	s.mux.HandleFunc("GET /admin/audit", s.admin(s.handleAudit))
	s.mux.HandleFunc("GET /admin/tenants/{id}/usage", s.admin(s.handleTenantUsage))
	s.mux.HandleFunc("GET /admin/usage", s.admin(s.handleUsage))
	s.mux.HandleFunc("GET /admin/tenants/{id}/export", s.admin(s.handleExport))
	s.mux.HandleFunc("POST /admin/tenants/{id}/import", s.admin(s.handleImport))
	s.mux.HandleFunc("GET /backup", s.admin(s.handleBackup))
	s.mux.HandleFunc("GET /metrics", s.admin(s.handleMetrics))
}

// envelopeUnrouted answers unknown routes and wrong methods with AutoMem's
// error envelope instead of the mux's plain text.
func (s *Server) envelopeUnrouted(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if allow := rec.Header().Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		switch rec.Code {
		case http.StatusMethodNotAllowed:
			writeError(w, mnemo.Errorf(http.StatusMethodNotAllowed, "Method %s is not allowed for %s", r.Method, r.URL.Path))
		default:
			writeError(w, mnemo.Errorf(mnemo.ENOTFOUND, "The requested URL %s was not found on the server", r.URL.Path))
		}
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic", "request_id", requestID(r.Context()), "panic", v)
				writeError(w, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// ListenAndServe serves on addr until ctx ends, then shuts down gracefully:
// in-flight requests, writes included, are given time to finish.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.server = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- s.server.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.server.Shutdown(shutdownCtx)
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	recorderKey         // the *statusRecorder, so deeper layers can name the tenant in the log
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
