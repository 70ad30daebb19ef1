package service

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/mnemohq/mnemo"
)

// Retention is how long each kind of record is kept; 0 keeps it forever
// (except Idempotency, which is always bounded).
type Retention struct {
	// Audit: audit events, by when they happened.
	Audit time.Duration
	// Usage: the daily counters per tenant and kind, which are what
	// billing reads (there is no finer detail); by their day. A deleted
	// tenant's stay as long, for its last bill.
	Usage time.Duration
	// Idempotency: answers kept for Idempotency-Key retries; an older one
	// counts as never kept, pruned or not.
	Idempotency time.Duration
	// OAuthGrants: codes and tokens, counted from their expiry (so an
	// expired token is still told from a guess for this long).
	OAuthGrants time.Duration
	// OAuthUnusedClients: clients that never obtained a token, from their
	// registration; OAuthIdleClients: clients whose grants are all gone,
	// from their last token.
	OAuthUnusedClients, OAuthIdleClients time.Duration
}

// DefaultRetention is what docs/operations.md documents. Usage covers the
// longest plausible billing dispute (a year and its invoice's month);
// audit a year; grants a day past expiry; a connector idle for 90 days
// registers again.
var DefaultRetention = Retention{
	Audit:              365 * 24 * time.Hour,
	Usage:              400 * 24 * time.Hour,
	Idempotency:        idempotencyTTL,
	OAuthGrants:        24 * time.Hour,
	OAuthUnusedClients: 24 * time.Hour,
	OAuthIdleClients:   90 * 24 * time.Hour,
}

// Cutoffs are the records a pass at now removes.
func (r Retention) Cutoffs(now time.Time) mnemo.PruneCutoffs {
	before := func(d time.Duration) time.Time {
		if d <= 0 {
			return time.Time{}
		}
		return now.Add(-d)
	}
	c := mnemo.PruneCutoffs{Audit: before(r.Audit), Idempotency: before(r.Idempotency), OAuthGrants: before(r.OAuthGrants),
		UnusedOAuthClients: before(r.OAuthUnusedClients), IdleOAuthClients: before(r.OAuthIdleClients)}
	if r.Usage > 0 {
		c.UsageDay = day(now.Add(-r.Usage))
	}
	// An incarnation's record goes once its usage and audit are gone, and
	// no sooner than the longer of their retentions after it ended.
	if r.Audit > 0 && r.Usage > 0 {
		c.Incarnations = now.Add(-max(r.Audit, r.Usage) - 24*time.Hour)
	}
	return c
}

// Pruner removes, every Interval, the records whose retention is over, in
// batches of Batch rows; each pass that removes something is logged.
type Pruner struct {
	Store     mnemo.RecordPruner
	Retention Retention
	Interval  time.Duration
	Batch     int
	Logger    *slog.Logger
	// Now is the clock (nil: the system's, in UTC).
	Now func() time.Time

	mu      sync.Mutex
	removed map[string]int64
}

func (p *Pruner) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now().UTC()
}

// Removed returns how many rows of each kind were removed since start, by
// the passes and by CleanOrphans.
func (p *Pruner) Removed() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.removed)
}

func (p *Pruner) count(removed map[string]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.removed == nil {
		p.removed = map[string]int64{}
	}
	for k, n := range removed {
		p.removed[k] += n
	}
}

// logArgs lists what was removed, by kind in a stable order, and whether
// anything was.
func logArgs(removed map[string]int64) ([]any, bool) {
	var args []any
	var some bool
	for _, k := range slices.Sorted(maps.Keys(removed)) {
		args = append(args, k, removed[k])
		some = some || removed[k] > 0
	}
	return args, some
}

// CleanOrphans removes what refers to what no longer exists; serve runs it
// once at start, before it listens.
func (p *Pruner) CleanOrphans(ctx context.Context) error {
	removed, err := p.Store.CleanOrphans(ctx, p.now())
	p.count(removed)
	if args, some := logArgs(removed); some {
		p.Logger.Info("removed orphaned registry records", args...)
	}
	return err
}

// Pass removes what is past its retention now.
func (p *Pruner) Pass(ctx context.Context) (map[string]int64, error) {
	began := time.Now()
	removed, err := p.Store.Prune(ctx, p.Retention.Cutoffs(p.now()), p.Batch)
	p.count(removed)
	if args, some := logArgs(removed); some {
		p.Logger.Info("pruned records past their retention", append(args, "elapsed_ms", elapsedMS(began))...)
	}
	return removed, err
}

// Run makes a pass at once, then every Interval, until ctx ends: a server
// restarted more often than the interval still prunes.
func (p *Pruner) Run(ctx context.Context) {
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		if _, err := p.Pass(ctx); err != nil && ctx.Err() == nil {
			p.Logger.Error("prune records past their retention; the next pass goes on", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
