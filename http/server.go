// Package http serves mnemo over HTTP: AutoMem's memory API for the tenant
// a key belongs to, the operator's /admin routes, OAuth for MCP
// connectors, and MCP itself at /mcp. It only translates: it decodes a
// request, calls one of the services of package mnemo, and encodes the
// answer; error codes become HTTP statuses here, in one table.
package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/mnemohq/mnemo"
)

// Services are what the server calls; service.Service provides them all.
type Services struct {
	Auth        mnemo.AuthService
	Gate        mnemo.Gate
	Memories    mnemo.MemoryService
	Recall      mnemo.RecallService
	Health      mnemo.HealthService
	Tenants     mnemo.TenantService
	Keys        mnemo.KeyService
	Reports     mnemo.ReportService
	Portability mnemo.PortabilityService
	OAuth       mnemo.OAuthService
}

// Config is how the server reads requests.
type Config struct {
	// AllowQueryToken accepts ?api_key= as AutoMem does.
	AllowQueryToken bool
	// MaxBodyBytes bounds every request body but an import's.
	MaxBodyBytes int64
	// TrustedProxies may set X-Forwarded-For for the client's address.
	TrustedProxies []netip.Prefix
	// PublicURL is the base URL clients use (for OAuth metadata); empty
	// means the scheme and host of each request.
	PublicURL string
	// MCPSessionTimeout closes an idle MCP session.
	MCPSessionTimeout time.Duration
	// MCPMaxBodyBytes bounds the body of a request to /mcp; one that opens
	// a session is held to mcp.MaxInitializeBytes.
	MCPMaxBodyBytes int64
	// Version is the server's version, as MCP's initialize reports it.
	Version string
	// Pruned counts the registry records removed past their retention or
	// as orphans since start, by kind, for /metrics (nil: none).
	Pruned func() map[string]int64
}

// Server is mnemo's HTTP server.
type Server struct {
	svc     Services
	cfg     Config
	logger  *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	metrics *metrics

	// closing is cancelled when the server shuts down, to end the
	// requests that never end on their own (MCP's server-to-client streams).
	closing     context.Context
	stopStreams context.CancelFunc
}

// NewServer returns a server over svc. Every service must be set.
func NewServer(svc Services, cfg Config, logger *slog.Logger) (*Server, error) {
	for name, v := range map[string]any{"Auth": svc.Auth, "Gate": svc.Gate, "Memories": svc.Memories, "Recall": svc.Recall,
		"Health": svc.Health, "Tenants": svc.Tenants, "Keys": svc.Keys, "Reports": svc.Reports,
		"Portability": svc.Portability, "OAuth": svc.OAuth, "logger": logger} {
		if v == nil {
			return nil, errors.New("http: " + name + " is not set")
		}
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	if cfg.MCPSessionTimeout == 0 {
		cfg.MCPSessionTimeout = 5 * time.Minute
	}
	if cfg.MCPMaxBodyBytes == 0 {
		cfg.MCPMaxBodyBytes = 1 << 20
	}
	s := &Server{svc: svc, cfg: cfg, logger: logger, mux: http.NewServeMux()}
	s.closing, s.stopStreams = context.WithCancel(context.Background())
	s.metrics = newMetrics(s)
	s.routes()
	s.handler = s.logRequests(s.recoverPanics(s.envelopeUnrouted(s.mux)))
	return s, nil
}

// Handler returns the routed handler with logging and panic recovery.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() {
	s.mux.HandleFunc("GET /health", s.handleHealth)
	s.mux.Handle("/mcp", s.mcpHandler())
	s.oauthRoutes()

	s.mux.HandleFunc("POST /memory", s.tenant(mnemo.KindStore, s.handleStore))
	s.mux.HandleFunc("POST /memory/batch", s.tenant(mnemo.KindStore, s.handleStoreBatch))
	s.mux.HandleFunc("GET /memory/by-tag", s.tenant(mnemo.KindRecall, s.handleByTag))
	s.mux.HandleFunc("DELETE /memory/by-tag", s.tenant(mnemo.KindDelete, s.handleDeleteByTag))
	s.mux.HandleFunc("GET /memory/{id}", s.tenant(mnemo.KindRecall, s.handleGet))
	s.mux.HandleFunc("PATCH /memory/{id}", s.tenant(mnemo.KindUpdate, s.handlePatch))
	s.mux.HandleFunc("DELETE /memory/{id}", s.tenant(mnemo.KindDelete, s.handleDelete))
	s.mux.HandleFunc("POST /associate", s.tenant(mnemo.KindAssociate, s.handleAssociate))
	s.mux.HandleFunc("GET /memories/{id}/related", s.tenant(mnemo.KindRecall, s.handleRelated))
	s.mux.HandleFunc("GET /recall", s.tenant(mnemo.KindRecall, s.handleRecall))
	s.mux.HandleFunc("GET /startup-recall", s.tenant(mnemo.KindRecall, s.handleStartupRecall))
	s.mux.HandleFunc("GET /analyze", s.tenant(mnemo.KindRecall, s.handleAnalyze))

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
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// The mux's own answer says which: 405 with Allow, or 404.
		probe := &allowProbe{header: http.Header{}}
		mux.ServeHTTP(probe, r)
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if probe.status == http.StatusMethodNotAllowed {
			writeEnvelope(w, http.StatusMethodNotAllowed, "Method "+r.Method+" is not allowed for "+r.URL.Path)
			return
		}
		s.error(w, r, mnemo.Errorf(mnemo.ENOTFOUND, "The requested URL %s was not found on the server", r.URL.Path))
	})
}

// allowProbe records the status and headers the mux gives an unrouted
// request, and drops its body.
type allowProbe struct {
	header http.Header
	status int
}

func (p *allowProbe) Header() http.Header         { return p.header }
func (p *allowProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *allowProbe) WriteHeader(code int)        { p.status = code }

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.Error("panic", "request_id", mnemo.RequestIDFromContext(r.Context()), "panic", v, "stack", string(debug.Stack()))
				writeEnvelope(w, http.StatusInternalServerError, mnemo.ErrorMessage(nil))
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
	server := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	server.RegisterOnShutdown(s.stopStreams)
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- server.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return server.Shutdown(shutdownCtx)
}

func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
