// Package local keeps the state of the fair-use limits in this process:
// a token bucket and a pool of concurrency slots per tenant, and the
// failed-authentication counts per client address. It is right for one
// replica; replicas that share tenants need a shared implementation of the
// same seams (mnemo.RateLimiter, mnemo.ConcurrencyLimiter,
// mnemo.AuthThrottle).
package local

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mnemohq/mnemo"
)

// Limits is the in-process limiter state. The zero value is ready to use.
// One tenant's burst takes only its own tokens and slots, so it never
// slows another.
type Limits struct {
	mu       sync.Mutex
	buckets  map[string]*bucket
	slots    map[string]chan struct{}
	failures map[string]*failureWindow
}

var (
	_ mnemo.RateLimiter        = (*Limits)(nil)
	_ mnemo.ConcurrencyLimiter = (*Limits)(nil)
	_ mnemo.AuthThrottle       = (*Limits)(nil)
)

type bucket struct {
	limiter *rate.Limiter
	conf    mnemo.RateLimit
}

type failureWindow struct {
	start time.Time
	count int
}

// AuthWindow is how long failed authentications are counted for.
const AuthWindow = time.Minute

// maxAddresses bounds the memory an attacker cycling through addresses can
// make the throttle use.
const maxAddresses = 100000

func (l *Limits) init() {
	if l.buckets == nil {
		l.buckets, l.slots, l.failures = map[string]*bucket{}, map[string]chan struct{}{}, map[string]*failureWindow{}
	}
}

// Allow takes a token from the tenant's bucket, or says how long to wait.
func (l *Limits) Allow(_ context.Context, tenantID string, limit mnemo.RateLimit, now time.Time) (mnemo.RateDecision, error) {
	l.mu.Lock()
	l.init()
	b := l.buckets[tenantID]
	if b == nil || b.conf != limit {
		b = &bucket{limiter: rate.NewLimiter(rate.Limit(limit.RequestsPerSecond), limit.Burst), conf: limit}
		l.buckets[tenantID] = b
	}
	l.mu.Unlock()
	res := b.limiter.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return mnemo.RateDecision{Wait: d}, nil
	}
	return mnemo.RateDecision{Allowed: true, Remaining: int(math.Max(0, math.Floor(b.limiter.TokensAt(now))))}, nil
}

// Debit takes n more tokens from the tenant's bucket, into debt if need be.
func (l *Limits) Debit(_ context.Context, tenantID string, limit mnemo.RateLimit, n int, now time.Time) error {
	l.mu.Lock()
	b := l.buckets[tenantID]
	l.mu.Unlock()
	if b == nil || b.conf != limit || n <= 0 {
		return nil // a bucket made afresh since the request was let in owes nothing
	}
	b.limiter.ReserveN(now, min(n, limit.Burst)) // kept, not cancelled: the debt stands
	return nil
}

// ResetRate forgets the tenant's bucket.
func (l *Limits) ResetRate(_ context.Context, tenantID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	delete(l.buckets, tenantID)
	return nil
}

// Acquire takes one of the tenant's max concurrency slots without waiting.
func (l *Limits) Acquire(_ context.Context, tenantID string, max int) (func(), bool, error) {
	l.mu.Lock()
	l.init()
	ch := l.slots[tenantID]
	if ch == nil || cap(ch) != max {
		ch = make(chan struct{}, max)
		l.slots[tenantID] = ch
	}
	l.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, true, nil
	default:
		return nil, false, nil
	}
}

// Throttled reports whether addr has failed max times in the current
// window, and how long until it ends.
func (l *Limits) Throttled(_ context.Context, addr string, max int, now time.Time) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	f := l.failures[addr]
	if f == nil || now.Sub(f.start) >= AuthWindow {
		return false, 0, nil
	}
	return f.count >= max, AuthWindow - now.Sub(f.start), nil
}

// Failed counts a failed authentication from addr.
func (l *Limits) Failed(_ context.Context, addr string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	f := l.failures[addr]
	if f == nil || now.Sub(f.start) >= AuthWindow {
		if len(l.failures) >= maxAddresses {
			l.failures = map[string]*failureWindow{}
		}
		f = &failureWindow{start: now}
		l.failures[addr] = f
	}
	f.count++
	return nil
}
