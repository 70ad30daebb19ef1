package http

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mnemohq/mnemo"
)

// limits holds the in-process state of the fair-use limits: a token bucket
// and a concurrency slot pool per tenant, and failed-authentication counts
// per client address. One tenant's burst takes only its own tokens and
// slots, so it never slows another.
type limits struct {
	mu       sync.Mutex
	buckets  map[string]*bucket
	slots    map[string]chan struct{}
	failures map[string]*failureWindow
	writeMu  map[string]*sync.Mutex // serialises quota-checked writes per tenant
}

type bucket struct {
	limiter *rate.Limiter
	conf    mnemo.RateLimit
}

type failureWindow struct {
	start time.Time
	count int
}

func (l *limits) init() {
	if l.buckets == nil {
		l.buckets, l.slots = map[string]*bucket{}, map[string]chan struct{}{}
		l.failures, l.writeMu = map[string]*failureWindow{}, map[string]*sync.Mutex{}
	}
}

// forget drops a tenant's limiter, so a changed limit applies at once.
func (l *limits) forget(tenantID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	delete(l.buckets, tenantID)
}

// allow takes a token for t, or says how long to wait for one.
func (l *limits) allow(t *mnemo.Tenant, now time.Time) (ok bool, wait time.Duration, remaining int) {
	if t.RateLimit == nil {
		return true, 0, 0
	}
	l.mu.Lock()
	l.init()
	b := l.buckets[t.ID]
	if b == nil || b.conf != *t.RateLimit {
		b = &bucket{limiter: rate.NewLimiter(rate.Limit(t.RateLimit.RequestsPerSecond), t.RateLimit.Burst), conf: *t.RateLimit}
		l.buckets[t.ID] = b
	}
	l.mu.Unlock()
	res := b.limiter.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d, 0
	}
	return true, 0, int(math.Max(0, math.Floor(b.limiter.TokensAt(now))))
}

// acquire takes one of the tenant's concurrency slots without waiting.
func (l *limits) acquire(tenantID string, max int) (release func(), ok bool) {
	if max <= 0 {
		return func() {}, true
	}
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
		return func() { <-ch }, true
	default:
		return nil, false
	}
}

// writeLock is held around a quota check and the write it guards, so two
// concurrent writes cannot both pass a check that only one fits.
func (l *limits) writeLock(tenantID string) *sync.Mutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	m := l.writeMu[tenantID]
	if m == nil {
		m = &sync.Mutex{}
		l.writeMu[tenantID] = m
	}
	return m
}

const authWindow = time.Minute

// throttled reports whether addr has failed authentication too often in
// the current window.
func (l *limits) throttled(addr string, max int, now time.Time) (bool, time.Duration) {
	if max <= 0 {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	f := l.failures[addr]
	if f == nil || now.Sub(f.start) >= authWindow {
		return false, 0
	}
	return f.count >= max, authWindow - now.Sub(f.start)
}

// failed counts a failed authentication from addr.
func (l *limits) failed(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	f := l.failures[addr]
	if f == nil || now.Sub(f.start) >= authWindow {
		if len(l.failures) > 100000 { // bound the memory an attacker can make us use
			l.failures = map[string]*failureWindow{}
		}
		f = &failureWindow{start: now}
		l.failures[addr] = f
	}
	f.count++
}

// clientAddr is the address failed logins are counted against: the peer,
// or, when the peer is a trusted proxy, the last address in X-Forwarded-For
// that is not one.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.trusted(a) {
			return a.String()
		}
	}
	return host
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// refuse answers a request a limit turned away.
func (s *Server) refuse(w http.ResponseWriter, reason string, wait time.Duration, err error) {
	s.countRefusal(reason)
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	}
	writeError(w, err)
}

// rateHeaders describe the tenant's bucket: its capacity, the tokens left,
// and the seconds until a token is back.
func rateHeaders(w http.ResponseWriter, rl *mnemo.RateLimit, remaining int, wait time.Duration) {
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(rl.Burst))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	reset := wait
	if remaining < rl.Burst {
		reset = max(reset, time.Duration(float64(time.Second)/rl.RequestsPerSecond))
	}
	w.Header().Set("X-RateLimit-Reset", strconv.Itoa(int(math.Ceil(reset.Seconds()))))
}

// checkQuota refuses a write that would take the tenant over a quota:
// adding memories and bytes to what its store holds now. Reads and deletes
// are never checked.
func checkQuota(t *mnemo.Tenant, st mnemo.TenantStats, addMemories, addBytes int64) error {
	if q := t.Quotas.MaxMemories; q != nil && addMemories > 0 && st.Memories+addMemories > *q {
		return mnemo.Errorf(mnemo.EFORBIDDEN, "Quota exceeded: max_memories is %d; the tenant holds %d and this request adds %d",
			*q, st.Memories, addMemories)
	}
	if q := t.Quotas.MaxStorageMB; q != nil && addBytes > 0 {
		limit := int64(*q * (1 << 20))
		if st.StoredBytes+addBytes > limit {
			return mnemo.Errorf(mnemo.EFORBIDDEN, "Quota exceeded: max_storage_mb is %s (%d bytes); the tenant stores %d bytes and this request adds about %d",
				strconv.FormatFloat(*q, 'f', -1, 64), limit, st.StoredBytes, addBytes)
		}
	}
	return nil
}

// memoryBytes estimates what storing m adds to the tenant's stored bytes,
// counted as the store counts them.
func memoryBytes(m *mnemo.Memory, dim int) int64 {
	tags, _ := json.Marshal(m.Tags)
	meta, _ := json.Marshal(m.Metadata)
	return int64(len(m.Content)+len(tags)+len(meta)) + int64(4*dim)
}

// write runs a write that adds memories (and bytes) under the tenant's
// quotas: the check and the write are serialised per tenant, and the check
// reads the store's exact counters. A refused write changes nothing.
func (s *Server) write(ctx context.Context, tr *tenantRequest, memories, bytes int64, fn func() error) error {
	t := tr.Tenant
	if t.Quotas.MaxMemories != nil || t.Quotas.MaxStorageMB != nil {
		mu := s.limits.writeLock(t.ID)
		mu.Lock()
		defer mu.Unlock()
		st, err := tr.Store.Stats(ctx)
		if err != nil {
			return err
		}
		if err := checkQuota(t, st, memories, bytes); err != nil {
			s.countRefusal("quota")
			return err
		}
	}
	if err := fn(); err != nil {
		return err
	}
	tr.storedMemories += memories
	tr.storedBytes += max(bytes, 0)
	return nil
}
