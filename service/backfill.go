package service

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mnemohq/mnemo"
)

// Backfill computes the vectors that a failed embedding call left missing,
// tenant by tenant, each through its own tenant-bound store: a memory is
// stored without a vector rather than with a made-up one, and gets its
// vector here when the embedder is back.
type Backfill struct {
	Registry mnemo.TenantRegistry
	Stores   mnemo.Stores
	// Leases keep two replicas from backfilling one tenant at once (nil:
	// this process is alone).
	Leases   mnemo.Leases
	Embedder mnemo.Embedder
	Logger   *slog.Logger
	Interval time.Duration
	Batch    int

	backlog atomic.Int64
}

// Backlog is the number of memories without a vector at the last pass.
func (b *Backfill) Backlog() int64 { return b.backlog.Load() }

// Run passes over the tenants every Interval until ctx ends.
func (b *Backfill) Run(ctx context.Context) {
	t := time.NewTicker(b.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := b.Pass(ctx); err != nil && ctx.Err() == nil {
				b.Logger.Warn("embedding backfill", "err", err)
			}
		}
	}
}

// Pass embeds up to Batch missing vectors for every tenant that lacks some.
// Tenants are found from the registry's counters, so no store is opened
// for a tenant that has nothing to do.
func (b *Backfill) Pass(ctx context.Context) error {
	var backlog int64
	for offset := 0; ; offset += 500 {
		tenants, _, err := b.Registry.Tenants(ctx, 500, offset)
		if err != nil {
			return err
		}
		for _, t := range tenants {
			if t.Stats.Memories <= t.Stats.Vectors {
				continue
			}
			n, err := b.tenant(ctx, t.ID)
			if err != nil {
				b.Logger.Warn("embedding backfill", "tenant", t.ID, "err", err)
			}
			backlog += t.Stats.Memories - t.Stats.Vectors - int64(n)
		}
		if len(tenants) < 500 {
			break
		}
	}
	b.backlog.Store(max(backlog, 0))
	return nil
}

// backfillLease is how long a replica holds a tenant's backfill: longer
// than one batch takes, short enough that a dead replica's is soon free.
const backfillLease = time.Minute

func (b *Backfill) tenant(ctx context.Context, id string) (int, error) {
	if b.Leases != nil {
		lease, ok, err := b.Leases.TryLease(ctx, "backfill:"+id, backfillLease)
		if err != nil || !ok {
			return 0, err // another replica has it
		}
		defer lease.Release(context.WithoutCancel(ctx))
	}
	store, release, err := b.Stores.Open(ctx, id)
	if err != nil {
		return 0, err
	}
	defer release()
	mems, err := store.Unembedded(ctx, b.Batch)
	if err != nil || len(mems) == 0 {
		return 0, err
	}
	texts := make([]string, len(mems))
	for i, m := range mems {
		texts[i] = m.Content
	}
	vecs, err := b.Embedder.Embed(ctx, texts)
	if err != nil {
		return 0, err
	}
	for i, m := range mems {
		if err := store.SetEmbedding(ctx, m.ID, vecs[i], b.Embedder.Model()); err != nil && mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
			return i, err
		}
	}
	return len(mems), nil
}
