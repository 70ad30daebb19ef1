package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/embed"
	"github.com/mnemohq/mnemo/recall"
	"github.com/mnemohq/mnemo/service"
)

// watchedStores opens stores that count the relations walks read, and
// whose keyword search, when slow is set, lasts until its context ends.
type watchedStores struct {
	mnemo.Stores
	visits atomic.Int64
	slow   atomic.Bool
	// blockWrites, when set, holds every Write until it is closed; each
	// blocked Write first says so on writing.
	blockWrites chan struct{}
	writing     chan struct{}
	// blockReads, when set, holds the keyword searches of tenant
	// blockTenant until it is closed; each first says so on reading.
	blockReads  chan struct{}
	reading     chan struct{}
	blockTenant string
}

func (w *watchedStores) Open(ctx context.Context, id string) (mnemo.MemoryStore, func(), error) {
	st, release, err := w.Stores.Open(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return &watchedStore{MemoryStore: st, w: w, tenant: id}, release, nil
}

type watchedStore struct {
	mnemo.MemoryStore
	w      *watchedStores
	tenant string
}

func (s *watchedStore) Neighbors(ctx context.Context, id string, types []mnemo.RelationType, outgoingOnly bool, limit int) ([]mnemo.Neighbor, error) {
	nbs, err := s.MemoryStore.Neighbors(ctx, id, types, outgoingOnly, limit)
	if !outgoingOnly { // walks both ways: /related and the expansion, not a result's own relation list
		s.w.visits.Add(int64(len(nbs)))
	}
	return nbs, err
}

func (s *watchedStore) Write(ctx context.Context, w mnemo.Write, q mnemo.Quotas) (mnemo.TenantStats, error) {
	if s.w.blockWrites != nil {
		s.w.writing <- struct{}{}
		<-s.w.blockWrites
	}
	return s.MemoryStore.Write(ctx, w, q)
}

func (s *watchedStore) Keyword(ctx context.Context, terms []string, f mnemo.Filter, limit int) ([]mnemo.Hit, error) {
	if s.w.slow.Load() {
		<-ctx.Done()
		return nil, errors.New("interrupted") // as SQLite's is: the context's error is not wrapped
	}
	if s.w.blockReads != nil && s.tenant == s.w.blockTenant {
		s.w.reading <- struct{}{}
		<-s.w.blockReads
	}
	return s.MemoryStore.Keyword(ctx, terms, f, limit)
}

// denseGraph stores a hub related to n memories, each related to n more.
func denseGraph(t *testing.T, f *fixture, c *mnemo.Caller, n int) string {
	t.Helper()
	batch := func(contents []string) []string {
		items := make([]any, len(contents))
		for i, text := range contents {
			items[i] = map[string]any{"content": text}
		}
		var ids []string
		if err := f.as(c, mnemo.KindStore, func(ctx context.Context) error {
			res, err := f.svc.StoreMemories(ctx, items)
			if err == nil {
				ids = res.MemoryIDs
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	relate := func(rels []any) {
		if err := f.as(c, mnemo.KindAssociate, func(ctx context.Context) error {
			_, err := f.svc.AssociateMany(ctx, rels)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	hub := batch([]string{"hub"})[0]
	spokes := make([]string, n)
	for i := range spokes {
		spokes[i] = fmt.Sprintf("spoke %d", i)
	}
	var rels []any
	for i, spoke := range batch(spokes) {
		rels = append(rels, map[string]any{"memory1_id": hub, "memory2_id": spoke, "type": "RELATES_TO"})
		leaves := make([]string, n)
		for j := range leaves {
			leaves[j] = fmt.Sprintf("leaf %d of %d", j, i)
		}
		for _, leaf := range batch(leaves) {
			rels = append(rels, map[string]any{"memory1_id": spoke, "memory2_id": leaf, "type": "RELATES_TO"})
		}
		if len(rels) >= 400 {
			relate(rels)
			rels = nil
		}
	}
	if len(rels) > 0 {
		relate(rels)
	}
	return hub
}

// /related and recall's relation expansion read a bounded number of
// relations however dense the graph (a deep /related once took 3 CPU
// seconds).
func TestRelationWalksHaveABudget(t *testing.T) {
	w := &watchedStores{}
	f := newFixture(t, func(b *service.Backend, _ *service.Config) { w.Stores = b.Stores; b.Stores = w })
	c := f.tenant("dense")
	hub := denseGraph(t, f, c, 60) // 60 + 60*60 relations: 3 hops would read about 7,300

	w.visits.Store(0)
	var related *mnemo.RelatedResult
	if err := f.as(c, mnemo.KindRecall, func(ctx context.Context) error {
		var err error
		related, err = f.svc.Related(ctx, hub, url.Values{"max_depth": {"3"}, "limit": {"200"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if v := w.visits.Load(); v > 1000 || v < 900 {
		t.Fatalf("/related read %d relations, want the budget of 1000 spent (not more)", v)
	}
	if len(related.RelatedMemories) != 200 {
		t.Fatalf("/related found %d memories within its budget, want its limit of 200", len(related.RelatedMemories))
	}

	w.visits.Store(0)
	if err := f.as(c, mnemo.KindRecall, func(ctx context.Context) error {
		// The 60 spokes are the seeds; a strength no relation has makes
		// the expansion read every relation of every seed (3,660).
		_, err := f.svc.Recall(ctx, url.Values{"query": {"spoke"}, "limit": {"100"}, "expand_relations": {"true"},
			"relation_limit": {"200"}, "expansion_limit": {"500"}, "expand_min_strength": {"1"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if v := w.visits.Load(); v > recall.ExpansionVisitLimit {
		t.Fatalf("recall's expansion read %d relations, more than its budget of %d", v, recall.ExpansionVisitLimit)
	}
}

// A request that uses up its time budget is stopped and answers ETIMEOUT;
// the slot it held is given back.
func TestRequestTimeBudget(t *testing.T) {
	w := &watchedStores{}
	f := newFixture(t, func(b *service.Backend, cfg *service.Config) {
		w.Stores, b.Stores = b.Stores, w
		// Long enough for the next, ordinary request on a loaded machine
		// under -race; the slow one waits it out whole.
		cfg.RequestTimeout, cfg.TenantConcurrency = time.Second, 1
	})
	c := f.tenant("slow")
	f.store(c, map[string]any{"content": "a memory to search for"})
	w.slow.Store(true)
	began := time.Now()
	err := f.as(c, mnemo.KindRecall, func(ctx context.Context) error {
		_, err := f.svc.Recall(ctx, url.Values{"query": {"memory"}})
		return mnemo.Budget(ctx, err)
	})
	wantCode(t, "a recall past its budget", err, mnemo.ETIMEOUT)
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("the recall ran %v, far past its 1s budget", took)
	}
	w.slow.Store(false)
	if err := f.as(c, mnemo.KindRecall, func(ctx context.Context) error {
		_, err := f.svc.Recall(ctx, url.Values{"query": {"memory"}})
		return err
	}); err != nil {
		t.Fatalf("the next request (concurrency cap 1): %v", err)
	}
}

// A tenant's requests beyond TenantRunning wait behind that tenant's own,
// not anyone else's, from when their work begins (reading a body takes no
// turn); one that waits past its budget answers ETIMEOUT; a small write
// gives its turn back while its commit waits, a batch keeps it.
func TestRequestsQueueBehindTheirOwnTenant(t *testing.T) {
	w := &watchedStores{}
	f := newFixture(t, func(b *service.Backend, cfg *service.Config) {
		w.Stores, b.Stores = b.Stores, w
		cfg.TenantRunning, cfg.RequestTimeout = 1, 5*time.Second
	})
	noisy, quiet := f.tenant("noisy"), f.tenant("quiet")
	mine := f.store(noisy, map[string]any{"content": "a memory of the noisy tenant"})
	recall := func(c *mnemo.Caller) error {
		return f.as(c, mnemo.KindRecall, func(ctx context.Context) error {
			_, err := f.svc.Recall(ctx, url.Values{"query": {"memory"}})
			return err
		})
	}
	store := func(c *mnemo.Caller, content string) error {
		return f.as(c, mnemo.KindStore, func(ctx context.Context) error {
			_, err := f.svc.StoreMemory(ctx, map[string]any{"content": content})
			return err
		})
	}
	// The noisy tenant's first recall takes its only turn and stays in its
	// keyword search.
	w.blockTenant, w.blockReads, w.reading = "noisy", make(chan struct{}), make(chan struct{}, 4)
	first := make(chan error, 1)
	go func() { first <- recall(noisy) }()
	<-w.reading

	// Another tenant's requests go at once, and the noisy tenant's next
	// one is let in (its body may be read) but its work waits.
	if err := recall(quiet); err != nil {
		t.Fatalf("quiet recall while noisy holds its turn: %v", err)
	}
	if err := store(quiet, "quiet store"); err != nil {
		t.Fatalf("quiet store while noisy holds its turn: %v", err)
	}
	_, adm, err := f.svc.Admit(f.ctx, noisy, mnemo.KindStore)
	if err != nil {
		t.Fatalf("admission, which takes no turn: %v", err)
	}
	adm.End()
	second := make(chan error, 1)
	go func() { second <- store(noisy, "the second request") }()
	select {
	case err := <-second:
		t.Fatalf("the second request ran while the first held the tenant's only turn: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	// Past its own budget, a waiting request is refused.
	short, cancel := context.WithTimeout(f.ctx, 50*time.Millisecond)
	defer cancel()
	ctx, held, err := f.svc.Admit(short, noisy, mnemo.KindRecall)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Memory(ctx, mine)
	wantCode(t, "a request waiting past its budget", err, mnemo.ETIMEOUT)
	held.End()
	close(w.blockReads)
	for _, done := range []chan error{first, second} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	w.blockReads = nil // once the reads are over: a recall reads in parallel goroutines

	// While a small write waits for its commit, the tenant's turn is free.
	w.blockWrites, w.writing = make(chan struct{}), make(chan struct{}, 1)
	stored := make(chan error, 1)
	go func() { stored <- store(noisy, "committed slowly") }()
	<-w.writing
	if err := f.as(noisy, mnemo.KindRecall, func(ctx context.Context) error {
		_, err := f.svc.Memory(ctx, mine)
		return err
	}); err != nil {
		t.Fatalf("a read while the tenant's store commits: %v", err)
	}
	close(w.blockWrites)
	if err := <-stored; err != nil {
		t.Fatal(err)
	}

	// A batch's commit is CPU work in proportion to its size: it keeps the
	// turn, and the tenant's next request waits.
	w.blockWrites = make(chan struct{})
	items := make([]any, 20)
	for i := range items {
		items[i] = map[string]any{"content": fmt.Sprintf("batch item %d", i)}
	}
	go func() {
		stored <- f.as(noisy, mnemo.KindStore, func(ctx context.Context) error {
			_, err := f.svc.StoreMemories(ctx, items)
			return err
		})
	}()
	<-w.writing
	short2, cancel2 := context.WithTimeout(f.ctx, 50*time.Millisecond)
	defer cancel2()
	ctx, held, err = f.svc.Admit(short2, noisy, mnemo.KindRecall)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Memory(ctx, mine)
	wantCode(t, "a read while the tenant's batch commits", err, mnemo.ETIMEOUT)
	held.End()
	close(w.blockWrites)
	if err := <-stored; err != nil {
		t.Fatal(err)
	}
}

// slowEmbedder holds every call until release is closed, saying so on
// calling first: a remote embedder that is slow to answer.
type slowEmbedder struct {
	*embed.Hash
	waits   bool
	calling chan struct{}
	release chan struct{}
}

func (e *slowEmbedder) Waits() bool { return e.waits }

func (e *slowEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	e.calling <- struct{}{}
	<-e.release
	return e.Hash.Embed(ctx, texts)
}

// While a request waits for a remote embedder it holds no turn: the
// tenant's other requests run. A local embedder's work is CPU, which the
// turn covers: the tenant's other requests wait for it.
func TestEmbedderWaitsOutsideTheTurn(t *testing.T) {
	for _, waits := range []bool{true, false} {
		t.Run(fmt.Sprintf("waits=%v", waits), func(t *testing.T) {
			f := newFixture(t, nil)
			c := f.tenant("acme")
			mine := f.store(c, map[string]any{"content": "stored before the embedder slowed down"})
			e := &slowEmbedder{Hash: embed.NewHash(32), waits: waits, calling: make(chan struct{}, 1), release: make(chan struct{})}
			svc, err := service.New(f.backend, e, service.Config{Recall: recall.DefaultConfig, Now: f.clock.Now, TenantRunning: 1,
				RequestTimeout: 5 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			f.svc = svc
			c = f.caller("token-of-acme")
			stored := make(chan error, 1)
			go func() {
				stored <- f.as(c, mnemo.KindStore, func(ctx context.Context) error {
					_, err := f.svc.StoreMemory(ctx, map[string]any{"content": "embedded slowly"})
					return err
				})
			}()
			<-e.calling
			short, cancel := context.WithTimeout(f.ctx, 300*time.Millisecond)
			defer cancel()
			ctx, adm, err := f.svc.Admit(short, c, mnemo.KindRecall)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.svc.Memory(ctx, mine)
			adm.End()
			if waits && err != nil {
				t.Fatalf("a read while the tenant's store waits for a remote embedder: %v", err)
			}
			if !waits && mnemo.ErrorCode(err) != mnemo.ETIMEOUT {
				t.Fatalf("a read while the tenant's store embeds locally: got %v, want %s", err, mnemo.ETIMEOUT)
			}
			close(e.release)
			if err := <-stored; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// With a rate limit, a heavy request costs what it weighs: a batch one per
// 50 memories, a recall one more per extra query and per expansion,
// /related one per hop.
func TestRateLimitWeighsHeavyRequests(t *testing.T) {
	f := newFixture(t, nil)
	c := f.tenant("heavy")
	if _, err := f.svc.UpdateTenant(f.ctx, "heavy", map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.001, "burst": 10.0}}); err != nil {
		t.Fatal(err)
	}
	c = f.caller("token-of-heavy")
	items := make([]any, 120)
	for i := range items {
		items[i] = map[string]any{"content": fmt.Sprintf("memory %d", i)}
	}
	var remaining []int
	step := func(kind string, op func(ctx context.Context) error) {
		t.Helper()
		ctx, adm, err := f.svc.Admit(f.ctx, c, kind)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		defer adm.End()
		remaining = append(remaining, adm.Rate.Remaining)
		if err := op(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var first string
	step(mnemo.KindStore, func(ctx context.Context) error { // 120 memories: 3
		res, err := f.svc.StoreMemories(ctx, items)
		if err == nil {
			first = res.MemoryIDs[0]
		}
		return err
	})
	step(mnemo.KindRecall, func(ctx context.Context) error { // two queries and an expansion: 3
		_, err := f.svc.Recall(ctx, url.Values{"queries": {"memory 1", "memory 2"}, "expand_relations": {"true"}})
		return err
	})
	step(mnemo.KindRecall, func(ctx context.Context) error { // three hops: 3
		_, err := f.svc.Related(ctx, first, url.Values{"max_depth": {"3"}})
		return err
	})
	step(mnemo.KindRecall, func(ctx context.Context) error { // one
		_, err := f.svc.Memory(ctx, first)
		return err
	})
	if fmt.Sprint(remaining) != "[9 6 3 0]" {
		t.Fatalf("tokens left as each request was let in: %v, want [9 6 3 0]", remaining)
	}
	_, _, err := f.svc.Admit(f.ctx, c, mnemo.KindRecall)
	wantCode(t, "the request after 10 tokens' worth", err, mnemo.ETOOMANY)
}
