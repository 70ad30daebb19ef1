package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/mnemohq/mnemo"
)

// pooled lists the tenants whose store the pool holds, sorted.
func pooled(p *Stores) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id := range p.open {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func use(t *testing.T, p *Stores, id string) {
	t.Helper()
	_, release := mustOpen(t, p, id)
	release()
}

// The bound closes the least recently used idle store to open another,
// never one in use, and counts the evictions.
func TestStoresBoundEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	p, _ := newStores(t, t.TempDir())
	for _, id := range []string{"a", "b", "c", "d"} {
		mustCreateStore(t, p, id)
	}
	p.Close()
	p.MaxOpen = 2
	use(t, p, "a")
	use(t, p, "b")
	use(t, p, "a") // a is now the most recently used
	use(t, p, "c") // b goes
	if got := pooled(p); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Fatalf("open after c = %v, want [a c]", got)
	}
	// A store in use is never closed: with c held, d takes a's place.
	held, release := mustOpen(t, p, "c")
	use(t, p, "d")
	if got := pooled(p); !reflect.DeepEqual(got, []string{"c", "d"}) {
		t.Fatalf("open after d = %v, want [c d]", got)
	}
	if _, err := held.Stats(ctx); err != nil {
		t.Fatalf("the held store was closed: %v", err)
	}
	release()
	if s := p.Pool(); s.Open != 2 || s.MaxOpen != 2 || s.Evictions != 2 || s.Refusals != 0 {
		t.Fatalf("Pool() = %+v, want 2 open of 2, 2 evictions", s)
	}
}

// With every open store in use, a request waits for one to be released;
// past OpenWait it is refused with EUNAVAILABLE and a Retry-After, never an
// internal error.
func TestStoresBoundFullOfStoresInUse(t *testing.T) {
	ctx := context.Background()
	p, _ := newStores(t, t.TempDir())
	mustCreateStore(t, p, "a")
	mustCreateStore(t, p, "b")
	p.Close()
	p.MaxOpen = 1
	_, releaseA := mustOpen(t, p, "a")

	p.OpenWait = 0
	_, _, err := p.Open(ctx, "b")
	wantCode(t, "Open(b) with a in use", err, mnemo.EUNAVAILABLE)
	if mnemo.RetryAfter(err) <= 0 {
		t.Fatalf("refusal without a Retry-After: %v", err)
	}
	if s := p.Pool(); s.Refusals != 1 || s.Open != 1 {
		t.Fatalf("Pool() = %+v, want 1 refusal, 1 open", s)
	}

	// A waiting request gets the place as soon as a is released.
	p.OpenWait = 24 * 60 * 60 * 1e9
	opened := make(chan error)
	go func() {
		_, release, err := p.Open(ctx, "b")
		if err == nil {
			release()
		}
		opened <- err
	}()
	// The waiter either waits already or is about to; releasing a frees
	// the place for it either way.
	releaseA()
	if err := <-opened; err != nil {
		t.Fatalf("Open(b) after a was released: %v", err)
	}
	if got := pooled(p); !reflect.DeepEqual(got, []string{"b"}) {
		t.Fatalf("open = %v, want [b]", got)
	}

	// A request whose context ends while it waits is refused too.
	_, releaseB := mustOpen(t, p, "b")
	defer releaseB()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = p.Open(cctx, "a")
	wantCode(t, "Open(a) with a cancelled context", err, mnemo.EUNAVAILABLE)
}

// A creation that fails leaves no directory behind (the service then
// removes the registry row).
func TestStoresCreateFailureLeavesNothing(t *testing.T) {
	dataDir := t.TempDir()
	p, _ := newStores(t, dataDir)
	mustCreateStore(t, p, "a")
	p.MaxOpen, p.OpenWait = 1, 0
	_, release := mustOpen(t, p, "a")
	defer release()
	err := p.Create(context.Background(), "b")
	wantCode(t, "Create(b) with the pool full", err, mnemo.EUNAVAILABLE)
	if got := dirNames(t, filepath.Join(dataDir, "tenants")); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("tenants after a failed creation = %v, want [a]", got)
	}
}

// Idle stores whose vector indexes exceed the budget are closed, least
// recently used first; the index of a store in use is kept.
func TestStoresVectorBudget(t *testing.T) {
	ctx := context.Background()
	p, _ := newStores(t, t.TempDir())
	load := func(id string) {
		t.Helper()
		st, release := mustOpen(t, p, id)
		defer release()
		if _, err := st.Nearest(ctx, []float32{1, 0, 0, 0}, mnemo.Filter{}, 5); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		mustCreateStore(t, p, id)
		st, release := mustOpen(t, p, id)
		var mems []*mnemo.Memory
		for i := range 100 {
			mems = append(mems, withVec(mem(fmt.Sprintf("%s%d", id, i), "v", hours(i)), testModel, 1, float32(i), 0, 0))
		}
		if err := create(ctx, st, mems); err != nil {
			t.Fatal(err)
		}
		release()
	}
	load("a")
	one := p.Pool().VectorBytes
	if one <= 0 {
		t.Fatalf("VectorBytes after loading a's index = %d, want > 0", one)
	}
	// Room for two indexes: loading the third closes the least recent.
	p.VectorBudget = 2*one + one/2
	load("b")
	load("c")
	if got := pooled(p); !reflect.DeepEqual(got, []string{"b", "c"}) {
		t.Fatalf("open after loading three indexes = %v, want [b c]", got)
	}
	if s := p.Pool(); s.VectorBytes != 2*one || s.Evictions != 1 {
		t.Fatalf("Pool() = %+v, want %d vector bytes and 1 eviction", s, 2*one)
	}
}

// Out of file descriptors, opening a store is refused with a Retry-After
// and the least recently used idle store is closed to give some back.
func TestStoresOutOfFilesIsUnavailable(t *testing.T) {
	p, _ := newStores(t, t.TempDir())
	mustCreateStore(t, p, "a")
	err := p.openFailed(&os.PathError{Op: "open", Path: "x", Err: syscall.EMFILE})
	wantCode(t, "openFailed(EMFILE)", err, mnemo.EUNAVAILABLE)
	if mnemo.RetryAfter(err) <= 0 {
		t.Fatalf("no Retry-After: %v", err)
	}
	if n := p.OpenCount(); n != 0 {
		t.Fatalf("OpenCount = %d, want 0: the idle store gives its descriptors back", n)
	}
	other := fmt.Errorf("disk on fire")
	if err := p.openFailed(other); err != other {
		t.Fatalf("openFailed(other) = %v, want it unchanged", err)
	}
}

// TestStoreDescriptors measures the file descriptors one open store holds
// with its read pool in full use, which DefaultMaxOpen divides the file
// limit by.
func TestStoreDescriptors(t *testing.T) {
	ctx := context.Background()
	countFDs := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(entries)
	}
	p, _ := newStores(t, t.TempDir())
	const n = 4
	for i := range n {
		mustCreateStore(t, p, fmt.Sprintf("t%d", i))
	}
	p.Close()
	before := countFDs()
	for i := range n {
		st, release := mustOpen(t, p, fmt.Sprintf("t%d", i))
		if err := create(ctx, st, []*mnemo.Memory{mem("m", "x", hours(1))}); err != nil {
			t.Fatal(err)
		}
		// Hold every reader at once: four snapshots.
		var wg sync.WaitGroup
		snaps := make([]mnemo.Snapshot, 4)
		for j := range snaps {
			wg.Go(func() {
				sn, err := st.Snapshot(ctx, false)
				if err != nil {
					t.Error(err)
					return
				}
				snaps[j] = sn
			})
		}
		wg.Wait()
		for _, sn := range snaps {
			if sn != nil {
				sn.Close()
			}
		}
		release()
	}
	per := float64(countFDs()-before) / n
	t.Logf("descriptors per open store: %.1f", per)
	if per > storeDescriptors {
		t.Fatalf("one open store holds %.1f descriptors, more than storeDescriptors (%d)", per, storeDescriptors)
	}
	if per < storeDescriptors-3 {
		t.Fatalf("one open store holds %.1f descriptors: storeDescriptors (%d) wastes the file limit", per, storeDescriptors)
	}
}

// The derived bound leaves a quarter of the file limit (at least 128) and
// divides the rest by what one store holds.
func TestDefaultMaxOpen(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skip(err)
	}
	limit := min(rl.Cur, 1<<24)
	want := int((limit - max(limit/4, 128)) / storeDescriptors)
	if limit <= 128+storeDescriptors {
		want = 1
	}
	if got := DefaultMaxOpen(); got != want {
		t.Fatalf("DefaultMaxOpen() = %d with a limit of %d, want %d", got, limit, want)
	}
}
