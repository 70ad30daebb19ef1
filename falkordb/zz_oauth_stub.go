package falkordb

// Stubs of the hooks that oauth.go and idempotency.go provide, so that this
// branch builds alone. This file is deleted when those files are merged.

import (
	"context"
	"time"

	"github.com/mnemohq/mnemo"
)

func (r *Registry) pruneIdempotency(ctx context.Context, before time.Time, batch int) (int64, error) {
	return 0, nil
}

func (r *Registry) pruneOAuth(ctx context.Context, c mnemo.PruneCutoffs, batch int, removed map[string]int64) error {
	return nil
}

func (r *Registry) cleanOAuthOrphans(ctx context.Context, now time.Time, removed map[string]int64) error {
	return nil
}
