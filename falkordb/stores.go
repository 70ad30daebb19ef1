package falkordb

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mnemohq/mnemo"
)

// Stores opens tenant stores on one FalkorDB: tenant <id> is the graph
// memories_<id>. Drop renames the graph to a tombstone key (RENAME keeps
// the graph whole) so that the stores this process still holds finish
// their requests on the old data; the tombstone is deleted when the last
// holder releases, and expires in any case. Holders in other processes
// (replicas) are not told: they see the graph vanish (or a re-created
// one) at once.
type Stores struct {
	c     *Client
	model string
	dim   int

	mu   sync.Mutex
	held map[string]*heldTenant
}

type heldTenant struct {
	refs   int
	stores []*Store
}

var _ mnemo.Stores = (*Stores)(nil)

// tombstoneTTL bounds how long a dropped graph outlives a holder that
// never released it.
const tombstoneTTL = time.Hour

// NewStores returns the pool of tenant stores on c, opened for the
// embedding model of dim dimensions.
func NewStores(c *Client, model string, dim int) *Stores {
	return &Stores{c: c, model: model, dim: dim, held: map[string]*heldTenant{}}
}

// Create makes the empty store of a new tenant, dropping whatever a
// former tenant of the id left.
func (p *Stores) Create(ctx context.Context, tenantID string) error {
	if err := p.Drop(ctx, tenantID); err != nil { // validates the id
		return err
	}
	_, err := OpenStore(ctx, p.c, tenantID, p.model, p.dim)
	return err
}

// Open returns the store of an existing tenant, or ENOTFOUND.
func (p *Stores) Open(ctx context.Context, tenantID string) (mnemo.MemoryStore, func(), error) {
	if err := mnemo.ValidateTenantID(tenantID); err != nil {
		return nil, nil, err
	}
	n, err := p.c.rdb.Exists(ctx, GraphName(tenantID)).Result()
	if err != nil {
		return nil, nil, storeErr(classify(ctx, "EXISTS", err))
	}
	if n == 0 {
		return nil, nil, mnemo.Errorf(mnemo.ENOTFOUND, "Tenant %s has no store", tenantID)
	}
	s := newStore(p.c.Graph(GraphName(tenantID)), p.model, p.dim)
	p.mu.Lock()
	h := p.held[tenantID]
	if h == nil {
		h = &heldTenant{}
		p.held[tenantID] = h
	}
	h.refs++
	h.stores = append(h.stores, s)
	p.mu.Unlock()
	var once sync.Once
	release := func() {
		once.Do(func() { p.release(tenantID, h, s) })
	}
	return s, release, nil
}

func (p *Stores) release(tenantID string, h *heldTenant, s *Store) {
	p.mu.Lock()
	h.refs--
	for i, x := range h.stores {
		if x == s {
			h.stores = append(h.stores[:i], h.stores[i+1:]...)
			break
		}
	}
	last := h.refs == 0
	if last && p.held[tenantID] == h {
		delete(p.held, tenantID)
	}
	p.mu.Unlock()
	// The last holder of a dropped tenant removes its tombstone.
	if g := s.graph(); last && g.Name() != GraphName(tenantID) {
		g.Delete(context.Background())
	}
}

// Drop removes a tenant's data; the id can be created again at once.
func (p *Stores) Drop(ctx context.Context, tenantID string) error {
	if err := mnemo.ValidateTenantID(tenantID); err != nil {
		return err
	}
	name := GraphName(tenantID)
	tomb := fmt.Sprintf("mnemo:dropped:%s:%d", name, time.Now().UnixNano())
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.held[tenantID]
	if h == nil {
		// Nobody here holds it: delete at once.
		return storeErr(p.c.Graph(name).Delete(ctx))
	}
	err := p.c.rdb.Rename(ctx, name, tomb).Err()
	if err != nil {
		if err.Error() == "ERR no such key" {
			return nil
		}
		return storeErr(classify(ctx, "RENAME", err))
	}
	p.c.rdb.Expire(ctx, tomb, tombstoneTTL)
	g := p.c.Graph(tomb)
	for _, s := range h.stores {
		s.g.Store(g)
	}
	delete(p.held, tenantID) // its holders release into h, which is no longer listed
	return nil
}
