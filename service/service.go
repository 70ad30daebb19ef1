// Package service implements the services of package mnemo once, over the
// seams of any backend. Every rule of the application lives here:
// authentication to a tenant, scopes, tenant status, rate limits,
// concurrency caps, quotas, idempotency, usage, audit and validation. The
// transports (http, mcp) only decode, call and encode.
package service

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/recall"
)

// Backend is every seam the services need. A backend provides each of
// them; the types make a missing capability a compile error, and New
// refuses a nil one.
type Backend struct {
	Tenants     mnemo.TenantRegistry
	Keys        mnemo.KeyRegistry
	Audit       mnemo.AuditLog
	Usage       mnemo.UsageLog
	Idempotency mnemo.IdempotencyStore
	OAuth       mnemo.OAuthStore
	Backup      mnemo.Backuper
	Stores      mnemo.Stores

	Rate          mnemo.RateLimiter
	Concurrency   mnemo.ConcurrencyLimiter
	Throttle      mnemo.AuthThrottle
	Registrations mnemo.RegistrationLimiter
}

// Config is how the service behaves.
type Config struct {
	Limits mnemo.Limits
	Recall recall.Config

	// AdminToken authorizes the operator's routes; "" closes them.
	AdminToken string
	// DefaultRateLimit and DefaultQuotas are a new tenant's.
	DefaultRateLimit *mnemo.RateLimit
	DefaultQuotas    mnemo.Quotas
	// TenantConcurrency caps a tenant's requests in flight (0: no cap).
	TenantConcurrency int
	// AuthFailuresPerMinute throttles a client address, and a token
	// prefix, after this many failed authentications in a minute (0:
	// never).
	AuthFailuresPerMinute int
	// RequestTimeout is every tenant request's time budget (0: none).
	RequestTimeout time.Duration
	// TenantRunning caps the requests of one tenant running at once; the
	// others wait their turn behind that tenant's own (0: no cap). A write
	// gives its turn back while it waits for its commit, which takes no CPU
	// of its own and which group commit shares.
	TenantRunning int
	// OAuth is how the OAuth server treats the clients anyone may register.
	OAuth OAuthConfig
	// MinClientTokenLength is the shortest api_token a client may choose
	// (at most mnemo.MinClientTokenLength has no effect).
	MinClientTokenLength int
	// MCPSessionsPerTenant and MCPMaxSessions cap the MCP sessions open at
	// once for one tenant and in all (0: no cap); MCPSessionTimeout is how
	// long the transport keeps an idle one, for the refusal's message.
	MCPSessionsPerTenant, MCPMaxSessions int
	MCPSessionTimeout                    time.Duration

	// IdempotencyTTL is how long an Idempotency-Key's answer is kept (0:
	// DefaultRetention's).
	IdempotencyTTL time.Duration

	// Backend and Version name the service in /health.
	Backend, Version string
	// Backlog reports how many memories, over all tenants, wait for a
	// vector (nil: none tracked).
	Backlog func() int64
	// DiskFull reports whether the data directory's disk is full, which
	// /health shows (nil: not watched).
	DiskFull func() bool
	// Ping checks the backend's server (FalkorDB), which /health reports
	// (nil: an embedded backend, nothing to reach).
	Ping func(ctx context.Context) error
	// Now is the clock (nil: the system's, in UTC); tests set it.
	Now func() time.Time
}

// Service implements every service of package mnemo.
type Service struct {
	b        Backend
	cfg      Config
	embedder mnemo.Embedder
	recaller *recall.Recaller
	turns    *turns
	logger   *slog.Logger

	refusals map[string]*atomic.Int64
	sessions sessions
}

var (
	_ mnemo.AuthService        = (*Service)(nil)
	_ mnemo.Gate               = (*Service)(nil)
	_ mnemo.MemoryService      = (*Service)(nil)
	_ mnemo.RecallService      = (*Service)(nil)
	_ mnemo.HealthService      = (*Service)(nil)
	_ mnemo.TenantService      = (*Service)(nil)
	_ mnemo.KeyService         = (*Service)(nil)
	_ mnemo.ReportService      = (*Service)(nil)
	_ mnemo.PortabilityService = (*Service)(nil)
	_ mnemo.OAuthService       = (*Service)(nil)
)

// RefusalReasons are the limits that refuse requests, as Refusals counts
// them.
var RefusalReasons = []string{"rate_limit", "quota", "concurrency", "auth_throttle", "oauth_registration", "mcp_sessions"}

// New returns the service over b. Every seam of b must be set.
func New(b Backend, embedder mnemo.Embedder, cfg Config, logger *slog.Logger) (*Service, error) {
	for name, v := range map[string]any{"Tenants": b.Tenants, "Keys": b.Keys, "Audit": b.Audit, "Usage": b.Usage,
		"Idempotency": b.Idempotency, "OAuth": b.OAuth, "Backup": b.Backup, "Stores": b.Stores, "Rate": b.Rate,
		"Concurrency": b.Concurrency, "Throttle": b.Throttle, "Registrations": b.Registrations, "embedder": embedder, "logger": logger} {
		if v == nil {
			return nil, errors.New("service: " + name + " is not set")
		}
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	cfg.Limits = cfg.Limits.OrDefaults()
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = DefaultRetention.Idempotency
	}
	embedder = outsideTurn(embedder)
	s := &Service{b: b, cfg: cfg, embedder: embedder, logger: logger, turns: &turns{max: cfg.TenantRunning},
		recaller: &recall.Recaller{Config: cfg.Recall, Embedder: embedder}, refusals: map[string]*atomic.Int64{}}
	for _, r := range RefusalReasons {
		s.refusals[r] = &atomic.Int64{}
	}
	return s, nil
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// refuse counts a request refused by a limit.
func (s *Service) refuse(reason string) { s.refusals[reason].Add(1) }

// Refusals returns how many requests each limit has refused since start.
func (s *Service) Refusals() map[string]int64 {
	out := make(map[string]int64, len(s.refusals))
	for r, n := range s.refusals {
		out[r] = n.Load()
	}
	return out
}

// countQuota counts err as a quota refusal when it is one.
func (s *Service) countQuota(err error) {
	var q *mnemo.QuotaError
	if errors.As(err, &q) {
		s.refuse("quota")
	}
}

func elapsedMS(began time.Time) float64 {
	return math.Round(float64(time.Since(began).Microseconds())/10) / 100
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
