package falkordb_test

import (
	"context"
	"testing"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/internal/falkortest"
	"github.com/mnemohq/mnemo/internal/storetest"
)

// A dropped tenant's graph lives on under a tombstone name while this
// process holds it, and is deleted when the last holder releases.
func TestDropTombstoneGoesWithLastHolder(t *testing.T) {
	srv := falkortest.Start(t)
	c := falkordb.New(srv.Client())
	p := falkordb.NewStores(c, storetest.Model, storetest.Dim)
	ctx := context.Background()
	if err := p.Create(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	s1, r1, err := p.Open(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	_, r2, err := p.Open(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Drop(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	tombs := func() []string {
		keys, err := c.Redis().Keys(ctx, "mnemo:dropped:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	if got := tombs(); len(got) != 1 {
		t.Fatalf("tombstones while held = %v, want one", got)
	}
	if _, err := s1.Stats(ctx); err != nil {
		t.Fatalf("Stats of a held, dropped store: %v", err)
	}
	r1()
	if got := tombs(); len(got) != 1 {
		t.Fatalf("tombstones with one holder left = %v, want one", got)
	}
	r2()
	r2() // a release is idempotent
	if got := tombs(); len(got) != 0 {
		t.Fatalf("tombstones after the last release = %v, want none", got)
	}
	if _, _, err := p.Open(ctx, "x"); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
		t.Fatalf("Open after Drop = %v, want ENOTFOUND", err)
	}
}
