package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// throttled refuses an address that has failed authentication too often
// in the current window.
func (s *Service) throttled(ctx context.Context, addr string, now time.Time) error {
	if s.cfg.AuthFailuresPerMinute <= 0 {
		return nil
	}
	blocked, wait, err := s.b.Throttle.Throttled(ctx, addr, s.cfg.AuthFailuresPerMinute, now)
	if err != nil {
		return err
	}
	if blocked {
		s.refuse("auth_throttle")
		return &mnemo.Error{Code: mnemo.ETOOMANY, Message: "Too many failed authentications from this address; retry later", RetryAfter: wait}
	}
	return nil
}

// failed counts a failed authentication against addr.
func (s *Service) failed(ctx context.Context, addr string, now time.Time) {
	if s.cfg.AuthFailuresPerMinute <= 0 {
		return
	}
	if err := s.b.Throttle.Failed(ctx, addr, now); err != nil {
		s.logger.Error("count a failed authentication", "request_id", mnemo.RequestIDFromContext(ctx), "err", err)
	}
}

// Authenticate resolves a tenant key or an OAuth access token.
func (s *Service) Authenticate(ctx context.Context, token, addr string) (*mnemo.Caller, error) {
	now := s.now()
	if err := s.throttled(ctx, addr, now); err != nil {
		return nil, err
	}
	c, err := s.resolve(ctx, token, now)
	if mnemo.ErrorCode(err) == mnemo.EUNAUTHORIZED {
		s.failed(ctx, addr, now)
	}
	if err != nil {
		return nil, err
	}
	// The last use is informational: at most once a minute per key.
	if k := c.Key; k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) >= time.Minute {
		if err := s.b.Keys.TouchKey(ctx, k.ID, now); err != nil {
			s.logger.Warn("record key use", "key_id", k.ID, "err", err)
		}
	}
	return c, nil
}

var unauthorized = mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")

// resolve finds the key a token stands for. An OAuth access token stands
// for the key it was granted with, within the scopes granted: it dies with
// that key.
func (s *Service) resolve(ctx context.Context, token string, now time.Time) (*mnemo.Caller, error) {
	if token == "" {
		return nil, unauthorized
	}
	if !strings.HasPrefix(token, mnemo.AccessTokenPrefix) {
		key, t, err := s.b.Keys.KeyByHash(ctx, mnemo.HashToken(token))
		if err != nil {
			return nil, err
		}
		if !key.Live(now) {
			return nil, unauthorized
		}
		return &mnemo.Caller{Key: key, Tenant: t}, nil
	}
	g, err := s.b.OAuth.AccessGrant(ctx, mnemo.HashToken(token), now)
	if err != nil {
		return nil, err
	}
	key, t, err := s.b.Keys.KeyByID(ctx, g.KeyID)
	if mnemo.ErrorCode(err) == mnemo.ENOTFOUND || err == nil && !key.Live(now) {
		return nil, unauthorized
	}
	if err != nil {
		return nil, err
	}
	var both []string
	for _, sc := range g.Scopes {
		if key.HasScope(sc) {
			both = append(both, sc)
		}
	}
	key.Scopes = both
	return &mnemo.Caller{Key: key, Tenant: t}, nil
}

// AuthenticateAdmin checks the operator's token. Both sides are hashed
// before the constant-time compare, so neither length nor content leaks
// through timing.
func (s *Service) AuthenticateAdmin(ctx context.Context, token, addr string) error {
	if s.cfg.AdminToken == "" {
		return mnemo.Errorf(mnemo.EFORBIDDEN, "Admin token not configured: set ADMIN_API_TOKEN to enable the admin routes")
	}
	now := s.now()
	if err := s.throttled(ctx, addr, now); err != nil {
		return err
	}
	got, want := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(s.cfg.AdminToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		s.failed(ctx, addr, now)
		return mnemo.Errorf(mnemo.EUNAUTHORIZED, "Admin authorization required")
	}
	return nil
}
