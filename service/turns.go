package service

import (
	"context"
	"sync"

	"github.com/mnemohq/mnemo"
)

// turns bounds how many requests of one tenant run at once, so that a
// tenant sending expensive requests at its concurrency cap queues behind
// its own and leaves the rest of the machine's CPU to the others. It is
// per process by nature: it shares this process's CPU, which is not
// shared with other replicas.
type turns struct {
	max int // per tenant

	mu      sync.Mutex
	tenants map[string]*tenantTurns
}

type tenantTurns struct {
	slots chan struct{}
	users int // requests holding or waiting for a slot
}

// take waits for one of the tenant's turns, or for ctx to end, and returns
// the function that gives it back.
func (t *turns) take(ctx context.Context, tenantID string) (func(), error) {
	t.mu.Lock()
	if t.tenants == nil {
		t.tenants = map[string]*tenantTurns{}
	}
	tt := t.tenants[tenantID]
	if tt == nil {
		tt = &tenantTurns{slots: make(chan struct{}, t.max)}
		t.tenants[tenantID] = tt
	}
	tt.users++
	t.mu.Unlock()
	select {
	case tt.slots <- struct{}{}:
		return sync.OnceFunc(func() {
			<-tt.slots
			t.leave(tenantID, tt)
		}), nil
	case <-ctx.Done():
		t.leave(tenantID, tt)
		return nil, ctx.Err()
	}
}

// leave forgets a tenant nobody uses, so the map holds only active ones.
func (t *turns) leave(tenantID string, tt *tenantTurns) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tt.users--; tt.users == 0 {
		delete(t.tenants, tenantID)
	}
}

// A waiter is an embedder whose calls wait on another service (a remote
// model): they are made outside the request's turn, so that the tenant's
// other requests may run meanwhile. A local embedder's calls are CPU work,
// which the turn covers like the rest of the request.
type waiter interface{ Waits() bool }

// outsideTurn returns e, made to give the request's turn back during its
// calls if it waits.
func outsideTurn(e mnemo.Embedder) mnemo.Embedder {
	if w, ok := e.(waiter); ok && w.Waits() {
		return waitingEmbedder{e}
	}
	return e
}

// waitingEmbedder calls the embedder outside the request's turn.
type waitingEmbedder struct{ mnemo.Embedder }

func (e waitingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	req, _ := ctx.Value(requestKey{}).(*request)
	if req == nil {
		return e.Embedder.Embed(ctx, texts)
	}
	req.leave()
	vecs, err := e.Embedder.Embed(ctx, texts)
	if back := req.enter(ctx); back != nil && err == nil {
		return nil, back
	}
	return vecs, err
}
