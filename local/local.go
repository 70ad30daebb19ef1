// Package local keeps the state of the fair-use limits in this process:
// a token bucket and a pool of concurrency slots per tenant, and the
// failed-authentication counts per client address and key prefix. It is right for one
// replica; replicas that share tenants need a shared implementation of the
// same seams (mnemo.RateLimiter, mnemo.ConcurrencyLimiter,
// mnemo.AuthThrottle).
//
// Leases (leases.go) and Registrations (registrations.go) are the other
// one-process seams. internal/limitertest holds all of them to the
// contract the shared implementations (falkordb) meet.
package local

import (
	"container/list"
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
	// MaxThrottleEntries bounds the failed-authentication windows kept
	// (0: DefaultThrottleEntries).
	MaxThrottleEntries int

	mu       sync.Mutex
	buckets  map[string]*bucket
	slots    map[string]chan struct{}
	failures map[string]*failureWindow
	// open holds the windows under their limit, blocked those that
	// reached it, each oldest first: when the table is full an open window
	// is forgotten first, so cycling through addresses cannot free a
	// throttled one.
	open, blocked list.List
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
	key     string
	start   time.Time
	count   int
	elem    *list.Element
	blocked bool
}

// AuthWindow is how long failed authentications are counted for.
const AuthWindow = time.Minute

// DefaultThrottleEntries bounds the memory an attacker cycling through
// addresses can make the throttle use: about 20 MB.
const DefaultThrottleEntries = 100000

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
		return sync.OnceFunc(func() { <-ch }), true, nil // a second call must not free another's slot
	default:
		return nil, false, nil
	}
}

// Throttled reports whether key has failed max times in the current
// window, and how long until it ends.
func (l *Limits) Throttled(_ context.Context, key string, max int, now time.Time) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	f := l.failures[key]
	if f == nil || now.Sub(f.start) >= AuthWindow {
		return false, 0, nil
	}
	return f.count >= max, AuthWindow - now.Sub(f.start), nil
}

// Failed counts a failed authentication against key. When the table is
// full it forgets, in order: windows that ended, the oldest window under
// max, and only when every window is throttled, the oldest throttled one.
func (l *Limits) Failed(_ context.Context, key string, max int, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	f := l.failures[key]
	if f != nil && now.Sub(f.start) >= AuthWindow {
		l.forget(f)
		f = nil
	}
	if f == nil {
		limit := l.MaxThrottleEntries
		if limit <= 0 {
			limit = DefaultThrottleEntries
		}
		for len(l.failures) >= limit {
			l.evict(now)
		}
		f = &failureWindow{key: key, start: now}
		f.elem = l.open.PushBack(f)
		l.failures[key] = f
	}
	f.count++
	if f.count >= max && !f.blocked {
		l.open.Remove(f.elem)
		f.elem, f.blocked = l.blocked.PushBack(f), true
	}
	return nil
}

// ThrottleEntries is how many failed-authentication windows are kept.
func (l *Limits) ThrottleEntries() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.failures)
}

// evict forgets one window (see Failed).
func (l *Limits) evict(now time.Time) {
	for _, q := range []*list.List{&l.open, &l.blocked} {
		if e := q.Front(); e != nil && now.Sub(e.Value.(*failureWindow).start) >= AuthWindow {
			l.forget(e.Value.(*failureWindow))
			return
		}
	}
	if e := l.open.Front(); e != nil {
		l.forget(e.Value.(*failureWindow))
		return
	}
	l.forget(l.blocked.Front().Value.(*failureWindow))
}

func (l *Limits) forget(f *failureWindow) {
	if f.blocked {
		l.blocked.Remove(f.elem)
	} else {
		l.open.Remove(f.elem)
	}
	delete(l.failures, f.key)
}
