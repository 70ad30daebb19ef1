package recall

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// readers bounds the store reads one recall makes at once.
const readers = 4

// inParallel runs f for 0..n-1, at most readers at a time, and returns
// the first error; the others' context is then cancelled.
func inParallel(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	if n == 1 {
		return f(ctx, 0)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(readers)
	for i := range n {
		g.Go(func() error { return f(ctx, i) })
	}
	return g.Wait()
}
