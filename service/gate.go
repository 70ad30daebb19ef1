package service

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/mnemohq/mnemo"
)

// request is an admitted tenant request: whom it acts for, the store of
// that tenant alone, and what it stored and cost, for usage.
type request struct {
	caller *mnemo.Caller
	kind   string
	store  mnemo.MemoryStore
	at     time.Time

	// The tenant's turn (see Config.TenantRunning): taken when a service
	// method begins its work, not at admission, so that reading the body
	// takes none; given back while the request waits on something else
	// (a commit, the embedder).
	turns    *turns
	turnMu   sync.Mutex
	turnBack func() // gives the turn back; nil when not held
	ended    bool   // Admission.End ran: no turn any more

	mu                          sync.Mutex
	memories, bytes, embeddings int64
	replayed                    bool // an idempotent replay or refusal: it counts nothing
	nested                      bool // KindMCP: a tool call was admitted within it
}

type requestKey struct{}

// request returns the admitted request in ctx, if its scope allows scope.
func (s *Service) request(ctx context.Context, scope string) (*request, error) {
	req, _ := ctx.Value(requestKey{}).(*request)
	if req == nil || req.store == nil { // an MCP request acts only through the tool calls admitted within it
		return nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	if mnemo.ScopeOf(req.kind) != scope && scope == mnemo.ScopeWrite {
		return nil, mnemo.Errorf(mnemo.EFORBIDDEN, "This key lacks the '%s' scope", scope)
	}
	if err := req.enter(ctx); err != nil {
		return nil, err
	}
	return req, nil
}

// enter takes the tenant's turn for the request, unless it holds it,
// waiting behind the tenant's other requests within the time budget.
func (r *request) enter(ctx context.Context) error {
	r.turnMu.Lock()
	defer r.turnMu.Unlock()
	if r.turns == nil || r.turnBack != nil || r.ended {
		return nil
	}
	back, err := r.turns.take(ctx, r.caller.Tenant.ID)
	if err != nil {
		return mnemo.Budget(ctx, err)
	}
	r.turnBack = back
	return nil
}

// leave gives the turn back, if the request holds it.
func (r *request) leave() {
	r.turnMu.Lock()
	defer r.turnMu.Unlock()
	if r.turnBack != nil {
		r.turnBack()
		r.turnBack = nil
	}
}

// end gives the turn back for good.
func (r *request) end() {
	r.leave()
	r.turnMu.Lock()
	r.ended = true
	r.turnMu.Unlock()
}

// stored notes what a write added, for usage.
func (r *request) stored(memories int64, added mnemo.TenantStats) {
	r.mu.Lock()
	r.memories += memories
	r.bytes += max(added.StoredBytes, 0)
	r.mu.Unlock()
}

// weigh makes a heavy request cost its tenant's rate limit n tokens in
// all, not one: what it costs is known only once its input is read.
func (s *Service) weigh(ctx context.Context, r *request, n int) {
	rl := r.caller.Tenant.RateLimit
	if rl == nil || n <= 1 {
		return
	}
	if err := s.b.Rate.Debit(ctx, r.caller.Tenant.ID, *rl, n-1, s.now()); err != nil {
		s.logger.Warn("weigh a request against its rate limit", "request_id", mnemo.RequestIDFromContext(ctx), "err", err)
	}
}

// embedded notes one call to the embedder.
func (r *request) embedded() {
	r.mu.Lock()
	r.embeddings++
	r.mu.Unlock()
}

// Admit lets a tenant request in; see mnemo.Gate.
func (s *Service) Admit(ctx context.Context, c *mnemo.Caller, kind string) (context.Context, *mnemo.Admission, error) {
	if c == nil || c.Key == nil || c.Tenant == nil {
		return ctx, nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	nested := withinMCP(ctx, c)
	t, scope := c.Tenant, mnemo.ScopeOf(kind)
	if scope == "" && !c.Key.HasScope(mnemo.ScopeRead) && !c.Key.HasScope(mnemo.ScopeWrite) {
		return ctx, nil, mnemo.Errorf(mnemo.EFORBIDDEN, "This key has neither the 'read' nor the 'write' scope")
	}
	if scope != "" && !c.Key.HasScope(scope) {
		return ctx, nil, mnemo.Errorf(mnemo.EFORBIDDEN, "This key lacks the '%s' scope", scope)
	}
	if err := statusError(t, scope); err != nil {
		return ctx, nil, err
	}
	now := s.now()
	adm := &mnemo.Admission{End: func() {}}
	if rl := t.RateLimit; rl != nil && !nested {
		d, err := s.b.Rate.Allow(ctx, t.ID, *rl, now)
		if err != nil {
			return ctx, nil, err
		}
		adm.Rate = rateStatus(rl, d)
		if !d.Allowed {
			s.refuse("rate_limit")
			return ctx, adm, &mnemo.Error{Code: mnemo.ETOOMANY, RetryAfter: d.Wait,
				Message: "Rate limit exceeded: " + strconv.FormatFloat(rl.RequestsPerSecond, 'f', -1, 64) + " requests per second, burst " + strconv.Itoa(rl.Burst)}
		}
	}
	release := func() {}
	if max := s.cfg.TenantConcurrency; max > 0 && !nested {
		rel, ok, err := s.b.Concurrency.Acquire(ctx, t.ID, max)
		if err != nil {
			return ctx, nil, err
		}
		if !ok {
			s.refuse("concurrency")
			return ctx, nil, &mnemo.Error{Code: mnemo.ETOOMANY, RetryAfter: time.Second,
				Message: "Too many concurrent requests for this tenant (at most " + strconv.Itoa(max) + ")"}
		}
		release = rel
	}
	cancel := context.CancelFunc(func() {})
	store, closeStore := mnemo.MemoryStore(nil), func() {}
	if kind != mnemo.KindMCP { // an MCP stream lasts; each of its tool calls is admitted on its own
		if d := s.cfg.RequestTimeout; d > 0 {
			ctx, cancel = context.WithTimeout(ctx, d)
		}
		var err error
		if store, closeStore, err = s.b.Stores.Open(ctx, t.ID); err != nil {
			err = mnemo.Budget(ctx, err) // the transport's context has no deadline to tell
			cancel()
			release()
			return ctx, nil, err
		}
	}
	req := &request{caller: c, kind: kind, store: store, at: now}
	if s.cfg.TenantRunning > 0 {
		req.turns = s.turns
	}
	adm.End = sync.OnceFunc(func() {
		closeStore()
		req.end()
		cancel()
		release()
		s.recordUsage(ctx, req)
	})
	return context.WithValue(ctx, requestKey{}, req), adm, nil
}

// withinMCP reports whether ctx carries an MCP request of c's key whose
// first tool call this is: that call takes no rate-limit token and no
// concurrency slot of its own (see mnemo.Gate).
func withinMCP(ctx context.Context, c *mnemo.Caller) bool {
	outer, _ := ctx.Value(requestKey{}).(*request)
	if outer == nil || outer.kind != mnemo.KindMCP || outer.caller.Key.ID != c.Key.ID {
		return false
	}
	outer.mu.Lock()
	defer outer.mu.Unlock()
	first := !outer.nested
	outer.nested = true
	return first
}

// statusError is the 423 of a suspended tenant, or of a write to a
// read-only one, with the operator's reason.
func statusError(t *mnemo.Tenant, scope string) error {
	reason := ""
	if t.StatusReason != "" {
		reason = ": " + t.StatusReason
	}
	switch {
	case t.Status == mnemo.TenantSuspended:
		return mnemo.Errorf(mnemo.ELOCKED, "Tenant '%s' is suspended%s", t.ID, reason)
	case t.Status == mnemo.TenantReadOnly && scope == mnemo.ScopeWrite:
		return mnemo.Errorf(mnemo.ELOCKED, "Tenant '%s' is read-only%s", t.ID, reason)
	}
	return nil
}

// rateStatus describes the bucket after a decision: its capacity, the
// tokens left, and the time until a token is back.
func rateStatus(rl *mnemo.RateLimit, d mnemo.RateDecision) *mnemo.RateStatus {
	reset := d.Wait
	if d.Remaining < rl.Burst {
		reset = max(reset, time.Duration(float64(time.Second)/rl.RequestsPerSecond))
	}
	reset = time.Duration(math.Ceil(reset.Seconds())) * time.Second
	return &mnemo.RateStatus{Limit: rl.Burst, Remaining: d.Remaining, Reset: reset}
}

// recordUsage adds a request's counters: one of its kind, and what it
// stored and cost. A replayed request counts nothing.
func (s *Service) recordUsage(ctx context.Context, req *request) {
	req.mu.Lock()
	defer req.mu.Unlock()
	if req.replayed || req.kind == mnemo.KindMCP {
		return
	}
	id, inc, d := req.caller.Tenant.ID, req.caller.Tenant.Incarnation, day(req.at)
	rows := []mnemo.Usage{{TenantID: id, Incarnation: inc, Day: d, Kind: req.kind, Count: 1}}
	for kind, n := range map[string]int64{mnemo.UsageMemoriesStored: req.memories, mnemo.UsageBytesStored: req.bytes, mnemo.UsageEmbeddingCalls: req.embeddings} {
		if n > 0 {
			rows = append(rows, mnemo.Usage{TenantID: id, Incarnation: inc, Day: d, Kind: kind, Count: n})
		}
	}
	if err := s.b.Usage.AddUsage(context.WithoutCancel(ctx), rows); err != nil {
		s.logger.Error("record usage", "request_id", mnemo.RequestIDFromContext(ctx), "tenant", id, "err", err)
	}
}

// adminWork counts one operator request about tenant id in its usage, when
// the tenant exists, before the work: the count is readable when the
// answer is, and an export, which streams, cannot wait for its end.
func (s *Service) adminWork(ctx context.Context, id string) {
	if mnemo.ValidateTenantID(id) != nil {
		return
	}
	t, err := s.b.Tenants.Tenant(ctx, id)
	if err != nil {
		return
	}
	if err := s.b.Usage.AddUsage(context.WithoutCancel(ctx), []mnemo.Usage{{TenantID: id, Incarnation: t.Incarnation, Day: day(s.now()), Kind: mnemo.UsageAdmin, Count: 1}}); err != nil {
		s.logger.Error("record usage", "request_id", mnemo.RequestIDFromContext(ctx), "tenant", id, "err", err)
	}
}

// Idempotency: answers are kept a day by default (Config.IdempotencyTTL);
// a reservation whose request never answered (the process died) is taken
// over after a minute.
const (
	idempotencyTTL       = 24 * time.Hour
	idempotencyAbandoned = time.Minute
	maxIdempotencyKey    = 255
)

// Once runs write at most once per Idempotency-Key; see mnemo.Gate.
func (s *Service) Once(ctx context.Context, key string, fingerprint []byte, write func() mnemo.IdempotentAnswer) (mnemo.IdempotentAnswer, bool, error) {
	req, _ := ctx.Value(requestKey{}).(*request)
	if req == nil {
		return mnemo.IdempotentAnswer{}, false, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	if len(key) > maxIdempotencyKey {
		return mnemo.IdempotentAnswer{}, false, mnemo.Errorf(mnemo.EINVALID, "'Idempotency-Key' must be at most %d characters", maxIdempotencyKey)
	}
	tenant := req.caller.Tenant.ID
	reserved, kept, err := s.b.Idempotency.ReserveIdempotency(ctx, tenant, key, fingerprint, s.now(), s.cfg.IdempotencyTTL, idempotencyAbandoned)
	if !reserved {
		// Nothing runs: nothing to count.
		req.mu.Lock()
		req.replayed = true
		req.mu.Unlock()
	}
	switch {
	case err != nil:
		return mnemo.IdempotentAnswer{}, false, err
	case !reserved && kept == nil:
		return mnemo.IdempotentAnswer{}, false, mnemo.Errorf(mnemo.ECONFLICT, "A request with Idempotency-Key '%s' is still in progress; retry later", key)
	case !reserved:
		return *kept, true, nil
	}
	ctx = context.WithoutCancel(ctx)
	defer func() {
		if v := recover(); v != nil { // free the key for a retry, then let the transport answer
			s.b.Idempotency.ReleaseIdempotency(ctx, tenant, key)
			panic(v)
		}
	}()
	answer := write()
	if answer.Status >= 500 {
		err = s.b.Idempotency.ReleaseIdempotency(ctx, tenant, key)
	} else {
		err = s.b.Idempotency.CompleteIdempotency(ctx, tenant, key, answer)
	}
	if err != nil {
		s.logger.Error("keep idempotent answer", "request_id", mnemo.RequestIDFromContext(ctx), "tenant", tenant, "err", err)
	}
	return answer, false, nil
}
