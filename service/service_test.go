package service_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/embed"
	"github.com/mnemohq/mnemo/internal/mnemotest"
	"github.com/mnemohq/mnemo/recall"
	"github.com/mnemohq/mnemo/service"
	"github.com/mnemohq/mnemo/sqlite"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

type fixture struct {
	t       *testing.T
	ctx     context.Context
	svc     *service.Service
	backend service.Backend
	reg     *sqlite.Registry
	stores  *sqlite.Stores
	clock   *clock
	embed   mnemo.Embedder
}

// newFixture is the service over the embedded backend in a temporary
// directory, with a settable clock; edit may change the backend and the
// configuration before the service is made.
func newFixture(t *testing.T, edit func(*service.Backend, *service.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := embed.NewHash(32)
	b, reg, stores := mnemotest.Embedded(t, e, logger)
	c := &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	cfg := service.Config{Recall: recall.DefaultConfig, AdminToken: "admin-token-for-tests", Now: c.Now}
	if edit != nil {
		edit(&b, &cfg)
	}
	svc, err := service.New(b, e, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, svc: svc, backend: b, reg: reg, stores: stores, clock: c, embed: e}
}

// tenant creates a tenant and returns its caller.
func (f *fixture) tenant(id string) *mnemo.Caller {
	f.t.Helper()
	if _, err := f.svc.CreateTenant(f.ctx, map[string]any{"tenant_id": id, "api_token": "token-of-" + id}); err != nil {
		f.t.Fatal(err)
	}
	return f.caller("token-of-" + id)
}

func (f *fixture) caller(token string) *mnemo.Caller {
	f.t.Helper()
	c, err := f.svc.Authenticate(f.ctx, token, "192.0.2.1")
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// as runs fn as one admitted request of kind for c, as a transport does.
func (f *fixture) as(c *mnemo.Caller, kind string, fn func(ctx context.Context) error) error {
	f.t.Helper()
	ctx, adm, err := f.svc.Admit(f.ctx, c, kind)
	if err != nil {
		return err
	}
	defer adm.End()
	return fn(ctx)
}

func (f *fixture) store(c *mnemo.Caller, fields map[string]any) string {
	f.t.Helper()
	var id string
	if err := f.as(c, mnemo.KindStore, func(ctx context.Context) error {
		res, err := f.svc.StoreMemory(ctx, fields)
		if err == nil {
			id = res.MemoryID
		}
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) get(c *mnemo.Caller, id string) (*mnemo.Memory, error) {
	var m *mnemo.Memory
	err := f.as(c, mnemo.KindRecall, func(ctx context.Context) error {
		res, err := f.svc.Memory(ctx, id)
		if err == nil {
			m = res.Memory
		}
		return err
	})
	return m, err
}

func (f *fixture) usage(tenant string) map[string]int64 {
	f.t.Helper()
	rows, err := f.reg.Usage(f.ctx, tenant, 0, "2026-01-01", "2026-12-31")
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, u := range rows {
		out[u.Kind] += u.Count
	}
	return out
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := mnemo.ErrorCode(err); err == nil || got != code {
		t.Fatalf("%s: %v (code %s), want code %s", what, err, got, code)
	}
}

// The service methods act only within an admitted request, and only for
// the scope it was admitted with.
func TestMethodsNeedAnAdmittedRequest(t *testing.T) {
	f := newFixture(t, nil)
	c := f.tenant("acme")
	_, err := f.svc.StoreMemory(f.ctx, map[string]any{"content": "x"})
	wantCode(t, "store outside a request", err, mnemo.EUNAUTHORIZED)
	_, err = f.svc.Recall(f.ctx, nil)
	wantCode(t, "recall outside a request", err, mnemo.EUNAUTHORIZED)
	err = f.as(c, mnemo.KindRecall, func(ctx context.Context) error {
		_, err := f.svc.StoreMemory(ctx, map[string]any{"content": "x"})
		return err
	})
	wantCode(t, "store in a read request", err, mnemo.EFORBIDDEN)
	if n := f.usage("acme")[mnemo.KindRecall]; n != 1 {
		t.Fatalf("recall usage %d, want 1: the read request was admitted", n)
	}
}

// Admission checks, in order: the key's scope, the tenant's status, its
// rate limit and its concurrency cap; only admitted requests count usage,
// and they count it when they end.
func TestAdmitOrderAndUsage(t *testing.T) {
	f := newFixture(t, func(_ *service.Backend, cfg *service.Config) { cfg.TenantConcurrency = 1 })
	c := f.tenant("acme")
	ck, err := f.svc.CreateKey(f.ctx, "acme", map[string]any{"label": "reader", "scopes": []any{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	reader := f.caller(ck.Token)
	_, _, err = f.svc.Admit(f.ctx, reader, mnemo.KindStore)
	wantCode(t, "a read key storing", err, mnemo.EFORBIDDEN)

	// Read-only: reads pass, writes are locked; suspended: all locked.
	if _, err := f.svc.UpdateTenant(f.ctx, "acme", map[string]any{"status": "read_only", "status_reason": "billing"}); err != nil {
		t.Fatal(err)
	}
	c = f.caller("token-of-acme")
	_, _, err = f.svc.Admit(f.ctx, c, mnemo.KindStore)
	wantCode(t, "a write to a read-only tenant", err, mnemo.ELOCKED)
	if mnemo.ErrorMessage(err) != "Tenant 'acme' is read-only: billing" {
		t.Fatalf("message %q", mnemo.ErrorMessage(err))
	}
	if err := f.as(c, mnemo.KindRecall, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("a read of a read-only tenant: %v", err)
	}
	if _, err := f.svc.UpdateTenant(f.ctx, "acme", map[string]any{"status": "suspended"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.Admit(f.ctx, f.caller("token-of-acme"), mnemo.KindRecall)
	wantCode(t, "a read of a suspended tenant", err, mnemo.ELOCKED)

	// Active, with a rate limit of one request and a burst of two.
	if _, err := f.svc.UpdateTenant(f.ctx, "acme", map[string]any{"status": "active",
		"rate_limit": map[string]any{"requests_per_second": 1.0, "burst": 2.0}}); err != nil {
		t.Fatal(err)
	}
	c = f.caller("token-of-acme")
	ctx1, adm1, err := f.svc.Admit(f.ctx, c, mnemo.KindRecall)
	if err != nil || adm1.Rate == nil || adm1.Rate.Remaining != 1 || adm1.Rate.Limit != 2 {
		t.Fatalf("first request: %+v, %v", adm1, err)
	}
	// The concurrency cap (1) refuses a second request while the first
	// is in flight...
	_, _, err = f.svc.Admit(f.ctx, c, mnemo.KindRecall)
	wantCode(t, "a second request in flight", err, mnemo.ETOOMANY)
	if mnemo.RetryAfter(err) != time.Second {
		t.Fatalf("Retry-After %v", mnemo.RetryAfter(err))
	}
	_ = ctx1
	adm1.End()
	// ...and the rate limit the one after (the refused one took a token).
	_, adm, err := f.svc.Admit(f.ctx, c, mnemo.KindRecall)
	wantCode(t, "over the rate limit", err, mnemo.ETOOMANY)
	if adm == nil || adm.Rate == nil || adm.Rate.Remaining != 0 || mnemo.RetryAfter(err) <= 0 {
		t.Fatalf("refusal: %+v, retry after %v", adm, mnemo.RetryAfter(err))
	}
	// Admitted requests count (the two reads above, and the first of the
	// rate-limited ones); refused ones do not.
	if got := f.usage("acme")[mnemo.KindRecall]; got != 2 {
		t.Fatalf("recall usage %d, want 2", got)
	}
	refusals := f.svc.Refusals()
	if refusals["rate_limit"] != 1 || refusals["concurrency"] != 1 {
		t.Fatalf("refusals %v", refusals)
	}
}

// Key expiry is read on the service's clock: no test waits for it.
func TestKeyExpiryUsesTheClock(t *testing.T) {
	f := newFixture(t, nil)
	f.tenant("acme")
	expires := f.clock.Now().Add(time.Hour)
	ck, err := f.svc.CreateKey(f.ctx, "acme", map[string]any{"label": "soon", "expires_at": mnemo.FormatTime(expires)})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(expires.Add(-time.Microsecond))
	if _, err := f.svc.Authenticate(f.ctx, ck.Token, "192.0.2.1"); err != nil {
		t.Fatalf("just before the expiry: %v", err)
	}
	f.clock.Set(expires)
	_, err = f.svc.Authenticate(f.ctx, ck.Token, "192.0.2.1")
	wantCode(t, "at the expiry", err, mnemo.EUNAUTHORIZED)
}

// Supersede is one write: the new memory, the old one invalidated and
// pointing at it, and the link; any failure leaves both tenants as they
// were, and a tenant can never supersede another's memory.
func TestSupersedeIsOneWrite(t *testing.T) {
	f := newFixture(t, nil)
	alpha, bravo := f.tenant("alpha"), f.tenant("bravo")
	old := f.store(alpha, map[string]any{"content": "billing uses PostgreSQL", "metadata": map[string]any{"team": "core"}})

	supersede := func(c *mnemo.Caller, fields map[string]any, oldID string) (*mnemo.StoreResult, error) {
		var res *mnemo.StoreResult
		err := f.as(c, mnemo.KindStore, func(ctx context.Context) error {
			var err error
			res, err = f.svc.Supersede(ctx, fields, oldID, "EVOLVED_INTO", "migration")
			return err
		})
		return res, err
	}
	stats := func(id string) mnemo.TenantStats {
		t.Helper()
		tn, err := f.reg.Tenant(f.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return tn.Stats
	}

	// Another tenant's memory is not found, and nothing is written.
	_, err := supersede(bravo, map[string]any{"content": "bravo's takeover"}, old)
	wantCode(t, "bravo superseding alpha's memory", err, mnemo.ENOTFOUND)
	if st := stats("bravo"); st.Memories != 0 || st.Relations != 0 {
		t.Fatalf("bravo stored %+v", st)
	}
	if m, _ := f.get(alpha, old); m.TInvalid != nil || m.Metadata["superseded_by"] != nil {
		t.Fatalf("alpha's memory changed: %+v", m)
	}

	// Bad new content: nothing changes.
	_, err = supersede(alpha, map[string]any{"content": "  "}, old)
	wantCode(t, "empty content", err, mnemo.EINVALID)
	// Over a quota: nothing changes either, the old memory included.
	if _, err := f.svc.UpdateTenant(f.ctx, "alpha", map[string]any{"quotas": map[string]any{"max_memories": 1.0}}); err != nil {
		t.Fatal(err)
	}
	alpha = f.caller("token-of-alpha")
	_, err = supersede(alpha, map[string]any{"content": "billing uses CockroachDB"}, old)
	wantCode(t, "over the quota", err, mnemo.EFORBIDDEN)
	if m, _ := f.get(alpha, old); m.TInvalid != nil || len(m.Metadata) != 1 {
		t.Fatalf("a refused supersede changed the old memory: %+v", m)
	}
	if st := stats("alpha"); st.Memories != 1 || st.Relations != 0 {
		t.Fatalf("a refused supersede stored %+v", st)
	}

	// Within the quota: all three parts, at the service's time.
	if _, err := f.svc.UpdateTenant(f.ctx, "alpha", map[string]any{"quotas": nil}); err != nil {
		t.Fatal(err)
	}
	alpha = f.caller("token-of-alpha")
	res, err := supersede(alpha, map[string]any{"content": "billing uses CockroachDB"}, old)
	if err != nil {
		t.Fatal(err)
	}
	if res.SupersedesMemoryID != old || res.SupersedeRelation != "EVOLVED_INTO" {
		t.Fatalf("result %+v", res)
	}
	m, _ := f.get(alpha, old)
	if m.TInvalid == nil || !m.TInvalid.Equal(f.clock.Now()) || m.Metadata["superseded_by"] != res.MemoryID ||
		m.Metadata["deprecated"] != true || m.Metadata["supersede_reason"] != "migration" || m.Metadata["team"] != "core" {
		t.Fatalf("old memory after supersede: %+v", m)
	}
	var nbs []mnemo.Neighbor
	store, release, _ := f.stores.Open(f.ctx, "alpha")
	nbs, err = store.Neighbors(f.ctx, old, nil, true, 10)
	release()
	if err != nil || len(nbs) != 1 || nbs[0].Memory.ID != res.MemoryID || nbs[0].Relation.Type != "EVOLVED_INTO" ||
		nbs[0].Relation.Props["reason"] != "migration" {
		t.Fatalf("link: %+v, %v", nbs, err)
	}
}

// An Idempotency-Key runs a write once: a retry gets the first answer and
// counts nothing; another request with the key is refused; a failed write
// is not kept, so its retry runs.
func TestOnce(t *testing.T) {
	f := newFixture(t, nil)
	c := f.tenant("acme")
	runs := 0
	once := func(key string, fp string, status int) (mnemo.IdempotentAnswer, bool, error) {
		var a mnemo.IdempotentAnswer
		var replayed bool
		err := f.as(c, mnemo.KindStore, func(ctx context.Context) error {
			var err error
			a, replayed, err = f.svc.Once(ctx, key, []byte(fp), func() mnemo.IdempotentAnswer {
				runs++
				return mnemo.IdempotentAnswer{Status: status, Body: []byte("answer " + fp)}
			})
			return err
		})
		return a, replayed, err
	}
	if a, replayed, err := once("k1", "req-1", 201); err != nil || replayed || string(a.Body) != "answer req-1" {
		t.Fatalf("first: %+v %v %v", a, replayed, err)
	}
	before := f.usage("acme")[mnemo.KindStore]
	if a, replayed, err := once("k1", "req-1", 201); err != nil || !replayed || a.Status != 201 || string(a.Body) != "answer req-1" {
		t.Fatalf("retry: %+v %v %v", a, replayed, err)
	}
	_, _, err := once("k1", "req-2", 201)
	wantCode(t, "the key with another request", err, mnemo.EUNPROCESSABLE)
	if runs != 1 || f.usage("acme")[mnemo.KindStore] != before {
		t.Fatalf("runs %d, store usage %d (was %d): retries must run and count nothing", runs, f.usage("acme")[mnemo.KindStore], before)
	}
	// A 5xx is not kept: the retry runs again.
	once("k2", "req-3", 500)
	if _, replayed, _ := once("k2", "req-3", 201); replayed || runs != 3 {
		t.Fatalf("after a failed write: replayed %v, runs %d", replayed, runs)
	}
	_, _, err = once(string(make([]byte, 256)), "req-4", 201)
	wantCode(t, "an over-long key", err, mnemo.EINVALID)
}

// failingStores cannot make a store.
type failingStores struct{ mnemo.Stores }

func (failingStores) Create(context.Context, string) error { return errors.New("disk on fire") }

// A tenant whose store cannot be made is not left in the registry: its
// token does not work and its id can be created again.
func TestCreateTenantLeavesNoHalfTenant(t *testing.T) {
	f := newFixture(t, func(b *service.Backend, _ *service.Config) { b.Stores = failingStores{b.Stores} })
	_, err := f.svc.CreateTenant(f.ctx, map[string]any{"tenant_id": "acme", "api_token": "token-of-acme"})
	if err == nil || mnemo.ErrorCode(err) != mnemo.EINTERNAL {
		t.Fatalf("create: %v", err)
	}
	_, err = f.reg.Tenant(f.ctx, "acme")
	wantCode(t, "the tenant after a failed creation", err, mnemo.ENOTFOUND)
	_, err = f.svc.Authenticate(f.ctx, "token-of-acme", "192.0.2.1")
	wantCode(t, "its token", err, mnemo.EUNAUTHORIZED)
	events, _ := f.svc.Audit(f.ctx, mnemo.AuditFilter{TenantID: "acme", Limit: 10})
	if len(events) != 1 || events[0].Action != "tenant.create" || events[0].Outcome != "error: internal" {
		t.Fatalf("audit %+v", events)
	}
}

// flaky fails until healed, like an embeddings endpoint that is down.
type flaky struct {
	*embed.Hash
	mu     sync.Mutex
	healed bool
}

func (f *flaky) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.healed {
		return nil, errors.New("endpoint down")
	}
	return f.Hash.Embed(ctx, texts)
}

// A memory stored while the embedder was down is stored without a vector,
// and gets it from the backfill once the embedder is back.
func TestBackfillEmbedsWhatWasMissed(t *testing.T) {
	e := &flaky{Hash: embed.NewHash(32)}
	f := newFixture(t, nil)
	svc, err := service.New(f.backend, e, service.Config{Recall: recall.DefaultConfig, Now: f.clock.Now}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	c := f.tenant("t1")
	var res *mnemo.StoreResult
	if err := f.as(c, mnemo.KindStore, func(ctx context.Context) error {
		res, err = f.svc.StoreMemory(ctx, map[string]any{"content": "stored while the embedder is down"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if res.Qdrant != "queued" || res.EmbeddingStatus != "queued" {
		t.Fatalf("result %+v", res)
	}
	b := &service.Backfill{Registry: f.reg, Stores: f.stores, Embedder: e, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Interval: time.Hour, Batch: 10}
	if err := b.Pass(f.ctx); err != nil {
		t.Fatal(err)
	}
	if b.Backlog() != 1 {
		t.Fatalf("backlog while down = %d, want 1", b.Backlog())
	}
	e.mu.Lock()
	e.healed = true
	e.mu.Unlock()
	if err := b.Pass(f.ctx); err != nil {
		t.Fatal(err)
	}
	if b.Backlog() != 0 {
		t.Fatalf("backlog after healing = %d, want 0", b.Backlog())
	}
	store, release, _ := f.stores.Open(f.ctx, "t1")
	defer release()
	if st, _ := store.Stats(f.ctx); st.Vectors != 1 {
		t.Fatalf("vectors = %d, want 1", st.Vectors)
	}
}

// An import is one unit under the tenant's quotas: over a quota it is
// refused whole, and within it every memory and relation lands.
func TestImportIsOneUnitUnderTheQuotas(t *testing.T) {
	f := newFixture(t, nil)
	alpha := f.tenant("alpha")
	first := f.store(alpha, map[string]any{"content": "first"})
	second := f.store(alpha, map[string]any{"content": "second"})
	f.store(alpha, map[string]any{"content": "third"})
	if err := f.as(alpha, mnemo.KindAssociate, func(ctx context.Context) error {
		_, err := f.svc.Associate(ctx, map[string]any{"memory1_id": first, "memory2_id": second, "type": "RELATES_TO", "strength": 0.5})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := f.svc.Export(f.ctx, "alpha", true, &file, func(string) {}); err != nil {
		t.Fatal(err)
	}

	f.tenant("bravo")
	if _, err := f.svc.UpdateTenant(f.ctx, "bravo", map[string]any{"quotas": map[string]any{"max_memories": 2.0}}); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Import(f.ctx, "bravo", bytes.NewReader(file.Bytes()))
	wantCode(t, "3 memories into a tenant allowed 2", err, mnemo.EFORBIDDEN)
	if !strings.Contains(err.Error(), "max_memories is 2") {
		t.Fatalf("the refusal does not name the quota: %v", err)
	}
	if tn, _ := f.reg.Tenant(f.ctx, "bravo"); tn.Stats.Memories != 0 || tn.Stats.Relations != 0 {
		t.Fatalf("a refused import wrote %+v", tn.Stats)
	}

	if _, err := f.svc.UpdateTenant(f.ctx, "bravo", map[string]any{"quotas": map[string]any{"max_memories": 3.0}}); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Import(f.ctx, "bravo", bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if res.MemoriesCreated != 3 || res.RelationsCreated != 1 || res.VectorsImported != 3 {
		t.Fatalf("import within the quota: %+v", res)
	}
}

// TestSupersedeStaysWithinTheLimits: superseding adds keys to the old
// memory's metadata and the reason to the link; neither may grow past the
// bounds a client's own input has, and a refusal changes nothing.
func TestSupersedeStaysWithinTheLimits(t *testing.T) {
	f := newFixture(t, func(_ *service.Backend, cfg *service.Config) { cfg.Limits = mnemo.Limits{MaxMetadataBytes: 200} })
	alpha := f.tenant("alpha")
	old := f.store(alpha, map[string]any{"content": "billing uses PostgreSQL", "metadata": map[string]any{"note": strings.Repeat("n", 150)}})
	supersede := func(reason string) error {
		return f.as(alpha, mnemo.KindStore, func(ctx context.Context) error {
			_, err := f.svc.Supersede(ctx, map[string]any{"content": "billing uses CockroachDB"}, old, "", reason)
			return err
		})
	}
	err := supersede(strings.Repeat("r", 200))
	if mnemo.ErrorMessage(err) != "'supersede_reason' must be at most 200 bytes as JSON (got 213)" {
		t.Fatalf("long reason: %v", err)
	}
	err = supersede("")
	if msg := mnemo.ErrorMessage(err); !strings.HasPrefix(msg, "The superseded memory's 'metadata' must be at most 200 bytes as JSON (got ") {
		t.Fatalf("metadata grown past the limit: %v", err)
	}
	if m, _ := f.get(alpha, old); m.TInvalid != nil || len(m.Metadata) != 1 {
		t.Fatalf("a refused supersede changed the old memory: %+v", m)
	}
	if tn, _ := f.reg.Tenant(f.ctx, "alpha"); tn.Stats.Memories != 1 || tn.Stats.Relations != 0 {
		t.Fatalf("a refused supersede stored %+v", tn.Stats)
	}
}
