package local_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mnemohq/mnemo/local"
)

var ctx = context.Background()

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
