package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/mnemohq/mnemo"
)

// Concurrent writes share transactions (group commit), yet each succeeds
// or fails alone: a write that fails (a missing relation end, a quota)
// leaves nothing behind, and the writes beside it in the same transaction
// are all kept.
func TestConcurrentWritesFailAlone(t *testing.T) {
	ctx := context.Background()
	s, path := openStore(t)
	mustCreate(t, s, mem("00000000-0000-4000-8000-000000000000", "anchor", hours(0)))
	const n = 60
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := mem(fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), fmt.Sprintf("memory %d", i), hours(i+1))
			w := mnemo.Write{Create: []*mnemo.Memory{m}}
			if i%3 == 0 {
				// A relation to a memory that does not exist fails the
				// whole write, its memory included.
				w.Relate = []mnemo.Relation{{From: m.ID, To: "ffffffff-0000-4000-8000-000000000000", Type: "RELATES_TO"}}
			}
			_, errs[i] = s.Write(ctx, w, mnemo.Quotas{})
		})
	}
	wg.Wait()
	kept := 0
	for i, err := range errs {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
		_, getErr := s.Memory(ctx, id)
		switch {
		case i%3 == 0:
			wantCode(t, fmt.Sprintf("write %d", i), err, mnemo.ENOTFOUND)
			wantCode(t, fmt.Sprintf("memory of failed write %d", i), getErr, mnemo.ENOTFOUND)
		case err != nil || getErr != nil:
			t.Fatalf("write %d: %v, then %v", i, err, getErr)
		default:
			kept++
		}
	}
	if kept != n-n/3 {
		t.Fatalf("%d writes kept, want %d", kept, n-n/3)
	}
	wantStats(t, s, path, int64(1+kept), 0, 0)

	// Under a quota, concurrent writes that only some fit: exactly those
	// are kept, whichever transactions they shared.
	max := int64(1 + kept + 5)
	var mu sync.Mutex
	fits, refused := 0, 0
	for i := range 20 {
		wg.Go(func() {
			m := mem(fmt.Sprintf("00000000-0000-4000-8000-%012d", 1000+i), "over quota?", hours(100+i))
			_, err := s.Write(ctx, mnemo.Write{Create: []*mnemo.Memory{m}}, mnemo.Quotas{MaxMemories: &max})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				fits++
			} else if mnemo.ErrorCode(err) == mnemo.EFORBIDDEN {
				refused++
			} else {
				t.Errorf("write %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if fits != 5 || refused != 15 {
		t.Fatalf("%d fit and %d refused, want 5 and 15", fits, refused)
	}
	wantStats(t, s, path, max, 0, 0)
}
