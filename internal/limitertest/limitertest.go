// Package limitertest is the contract of mnemo's limiter seams
// (mnemo.RateLimiter, mnemo.ConcurrencyLimiter, mnemo.AuthThrottle,
// mnemo.RegistrationLimiter) and of mnemo.Leases, written once and run
// against every implementation: local (one process) and falkordb (Redis,
// shared by replicas). Each function takes new, which returns a new,
// empty implementation for one subtest.
//
// The subtests use the interfaces only. Where time matters they pass now
// explicitly, so values are exact; leases take no now, so their expiry is
// tested with short real TTLs.
package limitertest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

var ctx = context.Background()

// t0 is the subtests' first instant.
var t0 = time.Unix(1_800_000_000, 0)

// Window is how long failed authentications and registrations are
// counted: a minute, as the service's settings (per minute) say.
const Window = time.Minute

func at(d time.Duration) time.Time { return t0.Add(d) }

// concurrently runs f n times at once and counts the calls that return
// true.
func concurrently(t *testing.T, n int, f func(i int) (bool, error)) int {
	t.Helper()
	var ok atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			yes, err := f(i)
			if err != nil {
				errs <- err
			}
			if yes {
				ok.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return int(ok.Load())
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestRateLimiter holds a token bucket per tenant to golang.org/x/time/rate's
// arithmetic: refill by elapsed time up to the burst, exact Remaining and
// Wait, debt from Debit, a fresh bucket for a changed limit or after
// ResetRate, and one token per request however many ask at once.
func TestRateLimiter(t *testing.T, new func(t *testing.T) mnemo.RateLimiter) {
	allow := func(t *testing.T, l mnemo.RateLimiter, tenant string, limit mnemo.RateLimit, now time.Time, want mnemo.RateDecision) {
		t.Helper()
		d, err := l.Allow(ctx, tenant, limit, now)
		if err != nil {
			t.Fatalf("Allow(%s, %+v, t0+%v): %v", tenant, limit, now.Sub(t0), err)
		}
		if d != want {
			t.Fatalf("Allow(%s, %+v, t0+%v) = %+v, want %+v", tenant, limit, now.Sub(t0), d, want)
		}
	}
	yes := func(remaining int) mnemo.RateDecision { return mnemo.RateDecision{Allowed: true, Remaining: remaining} }
	no := func(wait time.Duration) mnemo.RateDecision { return mnemo.RateDecision{Wait: wait} }
	oneTwo := mnemo.RateLimit{RequestsPerSecond: 1, Burst: 2}
	oneThree := mnemo.RateLimit{RequestsPerSecond: 1, Burst: 3}

	t.Run("Burst", func(t *testing.T) {
		l := new(t)
		allow(t, l, "a", oneTwo, t0, yes(1))
		allow(t, l, "a", oneTwo, t0, yes(0))
		allow(t, l, "a", oneTwo, t0, no(time.Second))
		allow(t, l, "a", oneTwo, t0, no(time.Second)) // a refusal takes nothing
	})
	t.Run("PerTenant", func(t *testing.T) {
		l := new(t)
		allow(t, l, "a", oneTwo, t0, yes(1))
		allow(t, l, "a", oneTwo, t0, yes(0))
		allow(t, l, "b", oneTwo, t0, yes(1))
		allow(t, l, "a", oneTwo, t0, no(time.Second))
	})
	t.Run("RefillByElapsedTime", func(t *testing.T) {
		l := new(t)
		limit := mnemo.RateLimit{RequestsPerSecond: 2, Burst: 4}
		for _, r := range []int{3, 2, 1, 0} {
			allow(t, l, "a", limit, t0, yes(r))
		}
		allow(t, l, "a", limit, at(250*time.Millisecond), no(250*time.Millisecond)) // half a token back
		allow(t, l, "a", limit, at(500*time.Millisecond), yes(0))
		allow(t, l, "a", limit, at(1500*time.Millisecond), yes(1))
		allow(t, l, "a", limit, at(time.Hour), yes(3)) // refilled to the burst, no more
	})
	t.Run("RemainingIsWholeTokens", func(t *testing.T) {
		l := new(t)
		for _, r := range []int{2, 1, 0} {
			allow(t, l, "a", oneThree, t0, yes(r))
		}
		allow(t, l, "a", oneThree, at(2500*time.Millisecond), yes(1)) // 2.5 tokens, one taken
		allow(t, l, "a", oneThree, at(2500*time.Millisecond), yes(0)) // half a token left
		allow(t, l, "a", oneThree, at(2500*time.Millisecond), no(500*time.Millisecond))
	})
	t.Run("WaitIsExact", func(t *testing.T) {
		l := new(t)
		limit := mnemo.RateLimit{RequestsPerSecond: 4, Burst: 1}
		allow(t, l, "a", limit, t0, yes(0))
		allow(t, l, "a", limit, t0, no(250*time.Millisecond))
		allow(t, l, "a", limit, at(125*time.Millisecond), no(125*time.Millisecond))
		allow(t, l, "a", limit, at(250*time.Millisecond), yes(0))
	})
	t.Run("DebitIntoDebt", func(t *testing.T) {
		l := new(t)
		allow(t, l, "a", oneThree, t0, yes(2))
		must(t, "Debit", l.Debit(ctx, "a", oneThree, 4, t0)) // capped at the burst: 3 more, one into debt
		allow(t, l, "a", oneThree, t0, no(2*time.Second))    // one token of debt, then one
		allow(t, l, "a", oneThree, at(time.Second), no(time.Second))
		allow(t, l, "a", oneThree, at(2*time.Second), yes(0))
	})
	t.Run("DebitOwesNothingWithoutABucket", func(t *testing.T) {
		l := new(t)
		must(t, "Debit", l.Debit(ctx, "a", oneThree, 3, t0))
		allow(t, l, "a", oneThree, t0, yes(2))
		// A bucket made for another limit: the request was let in by a
		// bucket that no longer exists.
		must(t, "Debit", l.Debit(ctx, "a", oneTwo, 3, t0))
		allow(t, l, "a", oneThree, t0, yes(1))
		must(t, "Debit", l.Debit(ctx, "a", oneThree, 0, t0))
		must(t, "Debit", l.Debit(ctx, "a", oneThree, -5, t0))
		allow(t, l, "a", oneThree, t0, yes(0))
	})
	t.Run("LimitChangeStartsAfresh", func(t *testing.T) {
		l := new(t)
		allow(t, l, "a", oneTwo, t0, yes(1))
		allow(t, l, "a", oneTwo, t0, yes(0))
		allow(t, l, "a", oneThree, t0, yes(2))
		allow(t, l, "a", mnemo.RateLimit{RequestsPerSecond: 2, Burst: 3}, t0, yes(2))
		allow(t, l, "a", oneThree, t0, yes(2))
	})
	t.Run("ResetRate", func(t *testing.T) {
		l := new(t)
		allow(t, l, "a", oneTwo, t0, yes(1))
		allow(t, l, "a", oneTwo, t0, yes(0))
		allow(t, l, "b", oneTwo, t0, yes(1))
		must(t, "ResetRate", l.ResetRate(ctx, "a"))
		allow(t, l, "a", oneTwo, t0, yes(1))
		allow(t, l, "b", oneTwo, t0, yes(0)) // only a's bucket was forgotten
		must(t, "ResetRate of a tenant without a bucket", l.ResetRate(ctx, "nobody"))
	})
	t.Run("OneTokenPerRequestAtOnce", func(t *testing.T) {
		l := new(t)
		limit := mnemo.RateLimit{RequestsPerSecond: 1, Burst: 20}
		n := concurrently(t, 60, func(int) (bool, error) {
			d, err := l.Allow(ctx, "a", limit, t0)
			return d.Allowed, err
		})
		if n != 20 {
			t.Fatalf("%d of 60 simultaneous requests were allowed by a bucket of 20", n)
		}
	})
}

// TestConcurrencyLimiter holds the slots: at most max per tenant, given
// back by release, and a release called twice frees one slot only.
func TestConcurrencyLimiter(t *testing.T, new func(t *testing.T) mnemo.ConcurrencyLimiter) {
	acquire := func(t *testing.T, l mnemo.ConcurrencyLimiter, tenant string, max int, want bool) func() {
		t.Helper()
		release, ok, err := l.Acquire(ctx, tenant, max)
		if err != nil {
			t.Fatalf("Acquire(%s, %d): %v", tenant, max, err)
		}
		if ok != want {
			t.Fatalf("Acquire(%s, %d) ok = %v, want %v", tenant, max, ok, want)
		}
		if ok && release == nil {
			t.Fatalf("Acquire(%s, %d) gave a slot without a release", tenant, max)
		}
		return release
	}
	t.Run("Max", func(t *testing.T) {
		l := new(t)
		r1 := acquire(t, l, "a", 2, true)
		r2 := acquire(t, l, "a", 2, true)
		acquire(t, l, "a", 2, false)
		acquire(t, l, "b", 2, true)() // another tenant's slots are its own
		r1()
		r2()
	})
	t.Run("Release", func(t *testing.T) {
		l := new(t)
		r1 := acquire(t, l, "a", 1, true)
		acquire(t, l, "a", 1, false)
		r1()
		acquire(t, l, "a", 1, true)()
		acquire(t, l, "a", 1, true)()
	})
	t.Run("ReleaseOnce", func(t *testing.T) {
		l := new(t)
		r1 := acquire(t, l, "a", 2, true)
		r2 := acquire(t, l, "a", 2, true)
		r1()
		r1() // must not free r2's slot
		r3 := acquire(t, l, "a", 2, true)
		acquire(t, l, "a", 2, false)
		r2()
		r3()
	})
	t.Run("OneSlotPerRequestAtOnce", func(t *testing.T) {
		l := new(t)
		var mu sync.Mutex
		var releases []func()
		n := concurrently(t, 40, func(int) (bool, error) {
			release, ok, err := l.Acquire(ctx, "a", 7)
			if ok {
				mu.Lock()
				releases = append(releases, release)
				mu.Unlock()
			}
			return ok, err
		})
		if n != 7 {
			t.Fatalf("%d of 40 simultaneous requests got one of 7 slots", n)
		}
		for _, r := range releases {
			r()
		}
		for range 7 {
			acquire(t, l, "a", 7, true)
		}
		acquire(t, l, "a", 7, false)
	})
}

// TestAuthThrottle holds the failed-authentication windows: a key is
// throttled once max failures fall in one window, which starts at its
// first failure and lasts a minute; the wait is what is left of it.
func TestAuthThrottle(t *testing.T, new func(t *testing.T) mnemo.AuthThrottle) {
	failed := func(t *testing.T, l mnemo.AuthThrottle, key string, n, max int, now time.Time) {
		t.Helper()
		for range n {
			must(t, "Failed", l.Failed(ctx, key, max, now))
		}
	}
	throttled := func(t *testing.T, l mnemo.AuthThrottle, key string, max int, now time.Time, want bool, wantWait time.Duration) {
		t.Helper()
		th, wait, err := l.Throttled(ctx, key, max, now)
		if err != nil {
			t.Fatalf("Throttled(%s, %d, t0+%v): %v", key, max, now.Sub(t0), err)
		}
		if th != want || (want && wait != wantWait) {
			t.Fatalf("Throttled(%s, %d, t0+%v) = %v, %v; want %v, %v", key, max, now.Sub(t0), th, wait, want, wantWait)
		}
	}
	t.Run("Window", func(t *testing.T) {
		l := new(t)
		failed(t, l, "192.0.2.1", 3, 3, t0)
		throttled(t, l, "192.0.2.1", 3, at(10*time.Second), true, Window-10*time.Second)
		throttled(t, l, "192.0.2.1", 3, at(59*time.Second), true, time.Second)
		throttled(t, l, "192.0.2.1", 4, t0, false, 0)
		throttled(t, l, "192.0.2.2", 3, t0, false, 0)
		throttled(t, l, "192.0.2.1", 3, at(Window), false, 0)
	})
	t.Run("BelowMax", func(t *testing.T) {
		l := new(t)
		failed(t, l, "k", 2, 3, t0)
		throttled(t, l, "k", 3, at(time.Second), false, 0)
		throttled(t, l, "k", 2, at(time.Second), true, Window-time.Second)
	})
	t.Run("WindowStartsAtTheFirstFailure", func(t *testing.T) {
		l := new(t)
		failed(t, l, "k", 1, 3, t0)
		failed(t, l, "k", 2, 3, at(30*time.Second))
		throttled(t, l, "k", 3, at(30*time.Second), true, 30*time.Second)
		// Failures after the window count in a new one, from one.
		failed(t, l, "k", 1, 3, at(Window))
		throttled(t, l, "k", 2, at(Window), false, 0)
		throttled(t, l, "k", 1, at(Window+time.Second), true, Window-time.Second)
		failed(t, l, "k", 2, 3, at(Window+10*time.Second))
		throttled(t, l, "k", 3, at(Window+10*time.Second), true, Window-10*time.Second)
	})
	t.Run("EveryFailureCountsAtOnce", func(t *testing.T) {
		l := new(t)
		concurrently(t, 30, func(int) (bool, error) { return false, l.Failed(ctx, "k", 30, t0) })
		throttled(t, l, "k", 30, t0, true, Window)
		throttled(t, l, "k", 31, t0, false, 0)
	})
}

// TestRegistrationLimiter holds the registration windows: max per
// address in a window that starts at its first registration and lasts a
// minute; a refusal says what is left of it.
func TestRegistrationLimiter(t *testing.T, new func(t *testing.T) mnemo.RegistrationLimiter) {
	register := func(t *testing.T, l mnemo.RegistrationLimiter, addr string, max int, now time.Time, want bool, wantWait time.Duration) {
		t.Helper()
		ok, wait, err := l.AllowRegistration(ctx, addr, max, now)
		if err != nil {
			t.Fatalf("AllowRegistration(%s, %d, t0+%v): %v", addr, max, now.Sub(t0), err)
		}
		if ok != want || (!want && wait != wantWait) {
			t.Fatalf("AllowRegistration(%s, %d, t0+%v) = %v, %v; want %v, %v", addr, max, now.Sub(t0), ok, wait, want, wantWait)
		}
	}
	t.Run("Window", func(t *testing.T) {
		l := new(t)
		for i := range 3 {
			register(t, l, "10.0.0.1", 3, at(time.Duration(i)*time.Second), true, 0)
		}
		register(t, l, "10.0.0.1", 3, at(20*time.Second), false, 40*time.Second)
		register(t, l, "10.0.0.1", 3, at(59*time.Second), false, time.Second)
		register(t, l, "10.0.0.2", 3, at(20*time.Second), true, 0)
		register(t, l, "10.0.0.1", 3, at(Window), true, 0)
		register(t, l, "10.0.0.1", 3, at(Window+time.Second), true, 0)
		register(t, l, "10.0.0.1", 3, at(Window+2*time.Second), true, 0)
		register(t, l, "10.0.0.1", 3, at(Window+2*time.Second), false, Window-2*time.Second)
	})
	t.Run("OneCountPerRegistrationAtOnce", func(t *testing.T) {
		l := new(t)
		n := concurrently(t, 30, func(int) (bool, error) {
			ok, _, err := l.AllowRegistration(ctx, "10.0.0.1", 10, t0)
			return ok, err
		})
		if n != 10 {
			t.Fatalf("%d of 30 simultaneous registrations were allowed, want 10", n)
		}
	})
}

// TestLeases holds leases: one holder at a time, given up by Release or
// by expiry, renewed only by a holder that still has it. Expiry is real
// time: the TTLs are a few hundred milliseconds.
func TestLeases(t *testing.T, new func(t *testing.T) mnemo.Leases) {
	try := func(t *testing.T, ls mnemo.Leases, name string, ttl time.Duration, want bool) mnemo.Lease {
		t.Helper()
		l, ok, err := ls.TryLease(ctx, name, ttl)
		if err != nil {
			t.Fatalf("TryLease(%s): %v", name, err)
		}
		if ok != want || (ok != (l != nil)) {
			t.Fatalf("TryLease(%s) = %v, %v; want ok %v with a lease only when ok", name, l, ok, want)
		}
		return l
	}
	lost := func(t *testing.T, what string, err error) {
		t.Helper()
		if mnemo.ErrorCode(err) != mnemo.ECONFLICT {
			t.Fatalf("%s = %v, want ECONFLICT", what, err)
		}
	}
	t.Run("Exclusive", func(t *testing.T) {
		ls := new(t)
		a := try(t, ls, "job", 10*time.Second, true)
		try(t, ls, "job", 10*time.Second, false)
		b := try(t, ls, "other", 10*time.Second, true)
		must(t, "Renew", a.Renew(ctx))
		try(t, ls, "job", 10*time.Second, false)
		must(t, "Release", a.Release(ctx))
		must(t, "Release", b.Release(ctx))
	})
	t.Run("Release", func(t *testing.T) {
		ls := new(t)
		a := try(t, ls, "job", 10*time.Second, true)
		must(t, "Release", a.Release(ctx))
		b := try(t, ls, "job", 10*time.Second, true)
		must(t, "a second Release", a.Release(ctx)) // b's lease is not a's to give up
		try(t, ls, "job", 10*time.Second, false)
		lost(t, "Renew after Release", a.Renew(ctx))
		must(t, "Release", b.Release(ctx))
		try(t, ls, "job", 10*time.Second, true)
	})
	t.Run("Expiry", func(t *testing.T) {
		ls := new(t)
		try(t, ls, "job", 200*time.Millisecond, true)
		try(t, ls, "job", 200*time.Millisecond, false)
		time.Sleep(300 * time.Millisecond) // the holder died
		try(t, ls, "job", 10*time.Second, true)
	})
	t.Run("RenewExtends", func(t *testing.T) {
		ls := new(t)
		a := try(t, ls, "job", 500*time.Millisecond, true)
		time.Sleep(300 * time.Millisecond)
		must(t, "Renew", a.Renew(ctx))
		time.Sleep(300 * time.Millisecond) // past the first ttl, within the renewed one
		try(t, ls, "job", 10*time.Second, false)
		must(t, "Release", a.Release(ctx))
	})
	t.Run("RenewAfterLoss", func(t *testing.T) {
		ls := new(t)
		a := try(t, ls, "taken", 200*time.Millisecond, true)
		c := try(t, ls, "untaken", 200*time.Millisecond, true)
		time.Sleep(300 * time.Millisecond)
		b := try(t, ls, "taken", 10*time.Second, true)
		lost(t, "Renew of a lease another holder took", a.Renew(ctx))
		must(t, "Release of a lost lease", a.Release(ctx))
		try(t, ls, "taken", 10*time.Second, false) // still b's
		// Expired and not taken is lost too: the holder cannot tell
		// whether someone ran meanwhile.
		lost(t, "Renew of an expired lease", c.Renew(ctx))
		must(t, "Release", b.Release(ctx))
		try(t, ls, "taken", 10*time.Second, true)
	})
	t.Run("OneHolderAtOnce", func(t *testing.T) {
		ls := new(t)
		n := concurrently(t, 20, func(int) (bool, error) {
			_, ok, err := ls.TryLease(ctx, "job", 10*time.Second)
			return ok, err
		})
		if n != 1 {
			t.Fatalf("%d of 20 simultaneous TryLease calls took the lease", n)
		}
	})
}
