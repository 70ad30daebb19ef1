package local_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/local"
)

var ctx = context.Background()

func TestRateBucketIsPerTenant(t *testing.T) {
	var l local.Limits
	now := time.Unix(1_800_000_000, 0)
	limit := mnemo.RateLimit{RequestsPerSecond: 1, Burst: 2}

	for i, wantRemaining := range []int{1, 0} {
		d, _ := l.Allow(ctx, "a", limit, now)
		if !d.Allowed || d.Remaining != wantRemaining {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i, d, wantRemaining)
		}
	}
	d, _ := l.Allow(ctx, "a", limit, now)
	if d.Allowed || d.Wait != time.Second {
		t.Fatalf("third request in the same instant: %+v, want refused with a 1s wait", d)
	}
	if d, _ := l.Allow(ctx, "b", limit, now); !d.Allowed {
		t.Fatalf("tenant b was refused because tenant a spent its burst: %+v", d)
	}
	if d, _ := l.Allow(ctx, "a", limit, now.Add(time.Second)); !d.Allowed {
		t.Fatalf("a second later tenant a has a token again: %+v", d)
	}
	_ = l.ResetRate(ctx, "a")
	if d, _ := l.Allow(ctx, "a", limit, now.Add(time.Second)); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("after a reset the bucket is full: %+v", d)
	}
}

func TestConcurrencySlotsArePerTenant(t *testing.T) {
	var l local.Limits
	release, ok, _ := l.Acquire(ctx, "a", 1)
	if !ok {
		t.Fatal("first slot refused")
	}
	if _, ok, _ := l.Acquire(ctx, "a", 1); ok {
		t.Fatal("a second concurrent request got a slot past the cap of 1")
	}
	if r, ok, _ := l.Acquire(ctx, "b", 1); !ok {
		t.Fatal("tenant b was refused because tenant a holds its slot")
	} else {
		r()
	}
	release()
	if r, ok, _ := l.Acquire(ctx, "a", 1); !ok {
		t.Fatal("the released slot was not given back")
	} else {
		r()
	}
}

func TestAuthThrottleCountsFailuresPerAddressInAWindow(t *testing.T) {
	var l local.Limits
	now := time.Unix(1_800_000_000, 0)
	for range 3 {
		_ = l.Failed(ctx, "192.0.2.1", 3, now)
	}
	if th, wait, _ := l.Throttled(ctx, "192.0.2.1", 3, now.Add(10*time.Second)); !th || wait != local.AuthWindow-10*time.Second {
		t.Fatalf("after 3 failures with max 3: throttled=%v wait=%v, want true %v", th, wait, local.AuthWindow-10*time.Second)
	}
	if th, _, _ := l.Throttled(ctx, "192.0.2.1", 4, now); th {
		t.Fatal("throttled below max")
	}
	if th, _, _ := l.Throttled(ctx, "192.0.2.2", 3, now); th {
		t.Fatal("another address was throttled")
	}
	if th, _, _ := l.Throttled(ctx, "192.0.2.1", 3, now.Add(local.AuthWindow)); th {
		t.Fatal("still throttled after the window ended")
	}
}

func TestDebitPutsTheBucketInDebt(t *testing.T) {
	var l local.Limits
	now := time.Unix(1_800_000_000, 0)
	limit := mnemo.RateLimit{RequestsPerSecond: 1, Burst: 3}
	if d, _ := l.Allow(ctx, "a", limit, now); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("first request: %+v", d)
	}
	_ = l.Debit(ctx, "a", limit, 4, now) // capped at the burst: 3 more, one into debt
	d, _ := l.Allow(ctx, "a", limit, now)
	if d.Allowed || d.Wait != 2*time.Second {
		t.Fatalf("after a debit past the tokens left: %+v, want a 2s wait (one token of debt, then one)", d)
	}
	_ = l.Debit(ctx, "b", limit, 3, now) // no bucket yet: nothing owed
	if d, _ := l.Allow(ctx, "b", limit, now); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("a debit before any request made a debt: %+v", d)
	}
}

// TestAuthThrottleTableCannotBeFlushed: cycling through more keys than the
// table holds forgets the windows under their limit, never a throttled one,
// and the memory stays bounded.
func TestAuthThrottleTableCannotBeFlushed(t *testing.T) {
	l := local.Limits{MaxThrottleEntries: 100}
	now := time.Unix(1_800_000_000, 0)
	for range 3 {
		_ = l.Failed(ctx, "victim-of-its-own-guessing", 3, now)
	}
	_ = l.Failed(ctx, "half-way", 3, now)
	_ = l.Failed(ctx, "half-way", 3, now)
	for i := range 10_000 {
		_ = l.Failed(ctx, fmt.Sprintf("198.51.%d.%d", i/256, i%256), 3, now.Add(time.Second))
	}
	if th, _, _ := l.Throttled(ctx, "victim-of-its-own-guessing", 3, now.Add(2*time.Second)); !th {
		t.Fatal("cycling through 10,000 addresses lifted a throttle")
	}
	if n := l.ThrottleEntries(); n > 100 {
		t.Fatalf("the table holds %d windows, more than its 100", n)
	}
	// The oldest window under its limit went first.
	_ = l.Failed(ctx, "half-way", 3, now.Add(3*time.Second))
	if th, _, _ := l.Throttled(ctx, "half-way", 3, now.Add(3*time.Second)); th {
		t.Fatal("an evicted window kept its count")
	}
	// When every window is throttled, the oldest goes and the newest stays.
	full := local.Limits{MaxThrottleEntries: 2}
	for _, k := range []string{"a", "b", "c"} {
		_ = full.Failed(ctx, k, 1, now)
	}
	if th, _, _ := full.Throttled(ctx, "a", 1, now); th {
		t.Fatal("the oldest throttled window was kept over the newest")
	}
	if th, _, _ := full.Throttled(ctx, "c", 1, now); !th {
		t.Fatal("the newest throttled window was dropped")
	}
	// A window that ended is forgotten before any live one.
	ended := local.Limits{MaxThrottleEntries: 2}
	_ = ended.Failed(ctx, "old", 1, now)
	_ = ended.Failed(ctx, "live", 5, now.Add(50*time.Second))
	_ = ended.Failed(ctx, "new", 5, now.Add(70*time.Second))
	if th, _, _ := ended.Throttled(ctx, "live", 1, now.Add(70*time.Second)); !th {
		t.Fatal("a live window was forgotten while an ended one was kept")
	}
}
