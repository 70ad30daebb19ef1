package falkordb_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/internal/falkortest"
	"github.com/mnemohq/mnemo/internal/limitertest"
)

// emptyServer returns a function that gives each subtest the server
// emptied: one server serves the whole contract, and the subtests run one
// after another.
func emptyServer(t *testing.T) func(t *testing.T) *redis.Client {
	srv := falkortest.Start(t)
	rdb := srv.Client()
	return func(t *testing.T) *redis.Client {
		if err := rdb.FlushDB(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		return rdb
	}
}

// The shared limiters and leases are held to the contract the in-process
// ones (local) are held to.
func TestLimitsContract(t *testing.T) {
	fresh := emptyServer(t)
	t.Run("RateLimiter", func(t *testing.T) {
		limitertest.TestRateLimiter(t, func(t *testing.T) mnemo.RateLimiter { return falkordb.NewLimits(fresh(t)) })
	})
	t.Run("ConcurrencyLimiter", func(t *testing.T) {
		limitertest.TestConcurrencyLimiter(t, func(t *testing.T) mnemo.ConcurrencyLimiter { return falkordb.NewLimits(fresh(t)) })
	})
	t.Run("AuthThrottle", func(t *testing.T) {
		limitertest.TestAuthThrottle(t, func(t *testing.T) mnemo.AuthThrottle { return falkordb.NewLimits(fresh(t)) })
	})
	t.Run("RegistrationLimiter", func(t *testing.T) {
		limitertest.TestRegistrationLimiter(t, func(t *testing.T) mnemo.RegistrationLimiter { return falkordb.NewLimits(fresh(t)) })
	})
	t.Run("Leases", func(t *testing.T) {
		limitertest.TestLeases(t, func(t *testing.T) mnemo.Leases { return falkordb.NewLeases(fresh(t)) })
	})
	if falkordb.AuthWindow != limitertest.Window || falkordb.RegistrationWindow != limitertest.Window {
		t.Fatalf("windows %v and %v, the contract's %v", falkordb.AuthWindow, falkordb.RegistrationWindow, limitertest.Window)
	}
}

// replicas are two processes' views of one server: each its own client,
// so its own connections, and its own Limits and Leases.
type replica struct {
	rdb    *redis.Client
	limits *falkordb.Limits
	leases *falkordb.Leases
}

func replicas(t *testing.T, srv *falkortest.Server, slotTTL time.Duration) [2]replica {
	var rs [2]replica
	for i := range rs {
		rdb := srv.Client()
		rs[i] = replica{rdb: rdb, limits: falkordb.NewLimits(rdb), leases: falkordb.NewLeases(rdb)}
		rs[i].limits.SlotTTL = slotTTL
	}
	return rs
}

// A burst split across replicas is refused at the bucket's size in all.
func TestReplicasShareOneBucket(t *testing.T) {
	ctx := t.Context()
	rs := replicas(t, falkortest.Start(t), 0)
	limit := mnemo.RateLimit{RequestsPerSecond: 1, Burst: 25}
	now := time.Unix(1_800_000_000, 0)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			d, err := rs[i%2].limits.Allow(ctx, "a", limit, now)
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 25 {
		t.Fatalf("%d of 100 requests split across two replicas were allowed by one bucket of 25", n)
	}
	// A debit through one replica is owed on the other.
	if err := rs[0].limits.Debit(ctx, "a", limit, 3, now.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if d, _ := rs[1].limits.Allow(ctx, "a", limit, now.Add(3*time.Second)); d.Allowed || d.Wait != time.Second {
		t.Fatalf("after 3 tokens back and 3 debited on the other replica: %+v, want refused for 1s", d)
	}
}

// The concurrency cap is one cap across replicas.
func TestReplicasShareOneSlotPool(t *testing.T) {
	ctx := t.Context()
	rs := replicas(t, falkortest.Start(t), 0)
	acquire := func(r replica, want bool) func() {
		t.Helper()
		release, ok, err := r.limits.Acquire(ctx, "a", 3)
		if err != nil || ok != want {
			t.Fatalf("Acquire = %v, %v; want %v", ok, err, want)
		}
		return release
	}
	a1, a2 := acquire(rs[0], true), acquire(rs[0], true)
	b1 := acquire(rs[1], true)
	acquire(rs[1], false)
	acquire(rs[0], false)
	a1()
	b2 := acquire(rs[1], true)
	for _, r := range []func(){a2, b1, b2} {
		r()
	}
	for range 3 {
		acquire(rs[1], true)
	}
}

// A lease held by one replica is refused to the other until it is
// released or expires.
func TestReplicasShareLeases(t *testing.T) {
	ctx := t.Context()
	rs := replicas(t, falkortest.Start(t), 0)
	try := func(r replica, ttl time.Duration, want bool) mnemo.Lease {
		t.Helper()
		l, ok, err := r.leases.TryLease(ctx, "backfill:a", ttl)
		if err != nil || ok != want {
			t.Fatalf("TryLease = %v, %v; want %v", ok, err, want)
		}
		return l
	}
	a := try(rs[0], 10*time.Second, true)
	try(rs[1], 10*time.Second, false)
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b := try(rs[1], 200*time.Millisecond, true)
	try(rs[0], 10*time.Second, false)
	time.Sleep(300 * time.Millisecond) // replica 1 died holding it
	try(rs[0], 10*time.Second, true)
	if err := b.Renew(ctx); mnemo.ErrorCode(err) != mnemo.ECONFLICT {
		t.Fatalf("the dead replica's Renew after the other took over: %v, want ECONFLICT", err)
	}
}

// The slots of a replica that died holding them come back after SlotTTL;
// a live replica's are renewed for as long as it holds them.
func TestSlotsOfADeadReplicaExpire(t *testing.T) {
	ctx := t.Context()
	const ttl = 200 * time.Millisecond
	rs := replicas(t, falkortest.Start(t), ttl)
	if _, ok, err := rs[0].limits.Acquire(ctx, "a", 2); !ok || err != nil {
		t.Fatalf("Acquire: %v, %v", ok, err)
	}
	release, ok, err := rs[1].limits.Acquire(ctx, "a", 2)
	if !ok || err != nil {
		t.Fatalf("Acquire: %v, %v", ok, err)
	}
	rs[0].rdb.Close() // replica 0 dies: its slot is renewed no more
	if _, ok, _ := rs[1].limits.Acquire(ctx, "a", 2); ok {
		t.Fatal("a third slot of 2 while both are held")
	}
	time.Sleep(2 * ttl)
	r, ok, err := rs[1].limits.Acquire(ctx, "a", 2)
	if !ok || err != nil {
		t.Fatalf("after SlotTTL the dead replica's slot is still held (%v, %v)", ok, err)
	}
	r()
	// Replica 1's first slot outlived SlotTTL twice over: renewed.
	if _, ok, _ := rs[1].limits.Acquire(ctx, "a", 1); ok {
		t.Fatal("a live slot held past SlotTTL expired")
	}
	release()
	if r, ok, _ := rs[1].limits.Acquire(ctx, "a", 1); !ok {
		t.Fatal("a released slot was not given back")
	} else {
		r()
	}
}

// Every key the limiters and leases write goes away by itself: an idle
// tenant's or address's state does not stay.
func TestEveryKeyHasATTL(t *testing.T) {
	ctx := t.Context()
	rdb := falkortest.Start(t).Client()
	l := falkordb.NewLimits(rdb)
	now := time.Unix(1_800_000_000, 0)
	limit := mnemo.RateLimit{RequestsPerSecond: 2, Burst: 10}
	for range 4 {
		l.Allow(ctx, "a", limit, now)
	}
	l.Debit(ctx, "a", limit, 4, now)
	release, _, _ := l.Acquire(ctx, "a", 5)
	defer release()
	l.Failed(ctx, "addr:192.0.2.1", 5, now)
	l.AllowRegistration(ctx, "192.0.2.1", 5, now)
	falkordb.NewLeases(rdb).TryLease(ctx, "job", time.Minute)

	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{
		// 8 tokens spent at 2 per second: full again in 4s, plus a minute.
		"mnemo:rate:a":                  time.Minute + 4*time.Second,
		"mnemo:slots:a":                 falkordb.DefaultSlotTTL,
		"mnemo:throttle:addr:192.0.2.1": falkordb.AuthWindow + 5*time.Second,
		"mnemo:registrations:192.0.2.1": falkordb.RegistrationWindow + 5*time.Second,
		"mnemo:lease:job":               time.Minute,
	}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want those of %v", keys, want)
	}
	for _, k := range keys {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		max, ok := want[k]
		if !ok || ttl <= 0 || ttl > max || ttl < max-5*time.Second {
			t.Errorf("%s: TTL %v, want a little under %v", k, ttl, max)
		}
	}
}

// With the server down every method answers EUNAVAILABLE, with
// ErrUnavailable in the chain, and a message that says nothing of Redis's.
func TestLimitsWhenTheServerIsDown(t *testing.T) {
	ctx := t.Context()
	srv := falkortest.Start(t)
	// falkortest's client, but dialling once rather than five times 100 ms
	// apart: the test is about the answer, not the client's patience.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 3, MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()
	l, ls := falkordb.NewLimits(rdb), falkordb.NewLeases(rdb)
	held, ok, err := ls.TryLease(ctx, "job", time.Minute)
	if !ok || err != nil {
		t.Fatalf("TryLease: %v, %v", ok, err)
	}
	srv.Stop()
	now := time.Unix(1_800_000_000, 0)
	limit := mnemo.RateLimit{RequestsPerSecond: 1, Burst: 2}
	for name, call := range map[string]func() error{
		"Allow":     func() error { _, err := l.Allow(ctx, "a", limit, now); return err },
		"Debit":     func() error { return l.Debit(ctx, "a", limit, 1, now) },
		"ResetRate": func() error { return l.ResetRate(ctx, "a") },
		"Acquire": func() error {
			release, ok, err := l.Acquire(ctx, "a", 1)
			if release != nil || ok {
				t.Errorf("Acquire with the server down gave a slot")
			}
			return err
		},
		"Throttled": func() error { _, _, err := l.Throttled(ctx, "k", 1, now); return err },
		"Failed":    func() error { return l.Failed(ctx, "k", 1, now) },
		"AllowRegistration": func() error {
			ok, _, err := l.AllowRegistration(ctx, "192.0.2.1", 1, now)
			if ok {
				t.Errorf("AllowRegistration with the server down allowed it")
			}
			return err
		},
		"TryLease": func() error {
			_, ok, err := ls.TryLease(ctx, "other", time.Minute)
			if ok {
				t.Errorf("TryLease with the server down took it")
			}
			return err
		},
		"Renew":   func() error { return held.Renew(ctx) },
		"Release": func() error { return held.Release(ctx) },
	} {
		err := call()
		var me *mnemo.Error
		if !errors.As(err, &me) || me.Code != mnemo.EUNAVAILABLE || me.RetryAfter != time.Second || !errors.Is(err, falkordb.ErrUnavailable) {
			t.Errorf("%s with the server down: %v, want EUNAVAILABLE with ErrUnavailable in its chain", name, err)
			continue
		}
		if msg := mnemo.ErrorMessage(err); strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "refused") || strings.Contains(msg, "EVALSHA") {
			t.Errorf("%s: the client's message %q tells of Redis", name, msg)
		}
	}
}
