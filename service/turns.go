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

// waitingEmbedder calls the embedder outside the request's turn: a remote
// embedder is a wait on the network, during which the tenant's other
// requests may run.
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
