package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// The failed-authentication throttle counts failed attempts per client
// address (an IPv6 address by its /64, which one host usually holds whole)
// and per token prefix (so that guessing the variants of one key is
// throttled from any number of addresses). Only failures count, and a
// credential that checks out is never refused because of its address or
// its prefix, with one exception: a token shorter than
// mnemo.StrongTokenLength could be a lucky guess, so from a throttled
// address or prefix it is refused before it is looked up. Generated keys,
// OAuth tokens and any client key of 24 characters or more are never
// refused; a shorter one is warned about when it is chosen.
//
// A missing credential guesses nothing and is not counted; nor is a known
// credential that expired (an OAuth client answered 401 refreshes its
// access token: an expired token is its normal state, not an attack).

// errExpired is a credential that was valid and has expired.
var errExpired = mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized: the credential has expired")

// addressBucket is the throttle key of a client address.
func addressBucket(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return "addr:" + addr
	}
	if a = a.Unmap(); a.Is6() {
		return "addr:" + netip.PrefixFrom(a, 64).Masked().String()
	}
	return "addr:" + a.String()
}

// tokenPrefixes mark the tokens mnemo generates; they are skipped when a
// token's prefix is taken, or every OAuth token would share one.
var tokenPrefixes = []string{mnemo.AccessTokenPrefix, mnemo.RefreshTokenPrefix, mnemo.CodePrefix, mnemo.TokenPrefix}

// prefixBucket is the throttle key of a presented token: a hash of its
// first characters, at most 8 past a generated token's marker and at most
// half of the token, so that two different keys rarely share one and the
// table never holds a secret's characters.
func prefixBucket(token string) string {
	rest := token
	for _, p := range tokenPrefixes {
		if r, ok := strings.CutPrefix(token, p); ok {
			rest = r
			break
		}
	}
	n := min(8, max(1, len(rest)/2))
	n = min(n, len(rest))
	sum := sha256.Sum256([]byte(token[:len(token)-len(rest)+n]))
	return "prefix:" + hex.EncodeToString(sum[:12])
}

// checkCredential runs check, which verifies token, under the throttle.
// A failure of check that is EUNAUTHORIZED (but not errExpired) is
// counted against addr and the token's prefix; from a throttled address
// or prefix it is ETOOMANY rather than EUNAUTHORIZED.
func (s *Service) checkCredential(ctx context.Context, token, addr string, now time.Time, check func() error) error {
	limit := s.cfg.AuthFailuresPerMinute
	if limit <= 0 || token == "" {
		return check()
	}
	buckets := [2]string{addressBucket(addr), prefixBucket(token)}
	var blocked bool
	var wait time.Duration
	for _, b := range buckets {
		th, w, err := s.b.Throttle.Throttled(ctx, b, limit, now)
		if err != nil {
			return err
		}
		if th {
			blocked, wait = true, max(wait, w)
		}
	}
	if blocked && len(token) < mnemo.StrongTokenLength {
		return s.throttledError(wait)
	}
	err := check()
	if err == nil || mnemo.ErrorCode(err) != mnemo.EUNAUTHORIZED || errors.Is(err, errExpired) {
		return err
	}
	for _, b := range buckets {
		if ferr := s.b.Throttle.Failed(ctx, b, limit, now); ferr != nil {
			s.logger.Error("count a failed authentication", "request_id", mnemo.RequestIDFromContext(ctx), "err", ferr)
		}
	}
	if blocked {
		return s.throttledError(wait)
	}
	return err
}

func (s *Service) throttledError(wait time.Duration) error {
	s.refuse("auth_throttle")
	return &mnemo.Error{Code: mnemo.ETOOMANY, RetryAfter: wait,
		Message: "Too many failed authentications from this address or with a key like this one; retry later"}
}

// Authenticate resolves a tenant key or an OAuth access token.
func (s *Service) Authenticate(ctx context.Context, token, addr string) (*mnemo.Caller, error) {
	now := s.now()
	var c *mnemo.Caller
	err := s.checkCredential(ctx, token, addr, now, func() (err error) {
		c, err = s.resolve(ctx, token, now)
		return err
	})
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
// that key. A key or an access token past its expiry is errExpired.
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
			return nil, errExpired // KeyByHash returns no revoked key
		}
		return &mnemo.Caller{Key: key, Tenant: t}, nil
	}
	g, err := s.b.OAuth.AccessGrant(ctx, mnemo.HashToken(token), now)
	if err != nil {
		return nil, err
	}
	if !now.Before(g.ExpiresAt) {
		return nil, errExpired
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
	return s.checkCredential(ctx, token, addr, s.now(), func() error {
		got, want := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(s.cfg.AdminToken))
		if token == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return mnemo.Errorf(mnemo.EUNAUTHORIZED, "Admin authorization required")
		}
		return nil
	})
}
