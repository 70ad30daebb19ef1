package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mnemohq/mnemo"
)

// Stores opens tenant databases under dataDir/tenants/<id>/memories.db
// lazily, shares each among concurrent requests, and closes it when it has
// been idle, so ten thousand tenants do not mean ten thousand open files.
type Stores struct {
	dir      string
	model    string
	dim      int
	registry *Registry
	logger   *slog.Logger

	// IdleTimeout is how long an unused store stays open.
	IdleTimeout time.Duration
	// Limits are the input limits: a store whose migration trims what was
	// stored beyond them trims to these.
	Limits mnemo.Limits

	mu   sync.Mutex
	open map[string]*entry
}

type entry struct {
	id       string
	mu       sync.Mutex // serializes opening and closing the store
	store    *Store
	refs     int // guarded by Stores.mu
	lastUsed time.Time
	dropped  bool   // guarded by Stores.mu
	trash    string // where a dropped tenant's directory went
}

var _ mnemo.Stores = (*Stores)(nil)

// Names in the tenants directory that are not tenants: what a deletion
// renamed away, and directories set aside at start.
const (
	trashPrefix  = ".trash-"
	orphanPrefix = ".orphan-"
)

// NewStores returns the tenant store pool. It first makes the data
// directory agree with the registry, which a crash in the middle of a
// tenant's creation or deletion can have left apart (the service orders
// those steps so that the keys never outlive the data):
//
//   - what a deletion renamed away is removed;
//   - a directory without a tenant (the registry row went, the crash came
//     before the data) is set aside as .orphan-<id>-<time>, so that a new
//     tenant of that id starts empty; it is kept, not deleted, in case the
//     registry is what was lost;
//   - a tenant without a directory (the crash came before its store was
//     made) gets an empty store, when the registry says it holds nothing;
//     otherwise its data is missing, which is logged and left for the
//     operator to restore.
func NewStores(ctx context.Context, dataDir, model string, dim int, registry *Registry, logger *slog.Logger) (*Stores, error) {
	dir := filepath.Join(dataDir, "tenants")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &Stores{dir: dir, model: model, dim: dim, registry: registry, logger: logger,
		IdleTimeout: 5 * time.Minute, Limits: mnemo.DefaultLimits, open: map[string]*entry{}}
	if err := p.reconcile(ctx); err != nil {
		return nil, fmt.Errorf("reconcile tenant directories with the registry: %w", err)
	}
	return p, nil
}

func (p *Stores) reconcile(ctx context.Context) error {
	tenants, err := p.registry.tenantIndex(ctx)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if _, ok := tenants[name]; ok && e.IsDir() {
			present[name] = true
			continue
		}
		switch {
		case strings.HasPrefix(name, trashPrefix):
			if err := os.RemoveAll(filepath.Join(p.dir, name)); err != nil {
				return err
			}
		case strings.HasPrefix(name, orphanPrefix):
		default:
			aside := fmt.Sprintf("%s%s-%d", orphanPrefix, name, time.Now().UnixNano())
			p.logger.Warn("setting aside a tenant directory the registry does not know (an interrupted deletion)", "dir", name, "moved_to", aside)
			if err := os.Rename(filepath.Join(p.dir, name), filepath.Join(p.dir, aside)); err != nil {
				return err
			}
		}
	}
	for id, st := range tenants {
		if present[id] {
			continue
		}
		if st.Memories > 0 || st.Relations > 0 {
			p.logger.Error("tenant data directory is missing; restore it from a backup", "tenant", id, "memories", st.Memories)
			continue
		}
		p.logger.Warn("creating the missing store of an empty tenant (an interrupted creation)", "tenant", id)
		if err := p.Create(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (p *Stores) tenantDir(id string) string { return filepath.Join(p.dir, id) }

// Create makes the empty data directory of a new tenant. A directory left
// from an earlier tenant of the same id that a crash kept is removed first.
func (p *Stores) Create(ctx context.Context, tenantID string) error {
	if err := mnemo.ValidateTenantID(tenantID); err != nil {
		return err
	}
	dir := p.tenantDir(tenantID)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return p.registry.dataDisk().check(err)
	}
	st, release, err := p.Open(ctx, tenantID)
	if err != nil {
		return err
	}
	defer release()
	_, err = st.Stats(ctx)
	return err
}

// Open returns the tenant's store; release must be called when done.
func (p *Stores) Open(ctx context.Context, tenantID string) (mnemo.MemoryStore, func(), error) {
	if err := mnemo.ValidateTenantID(tenantID); err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	e := p.open[tenantID]
	if e == nil {
		e = &entry{id: tenantID}
		p.open[tenantID] = e
	}
	e.refs++
	p.mu.Unlock()
	release := func() { p.release(e) }

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.store == nil {
		st, err := p.openStore(ctx, e)
		if err != nil {
			p.mu.Lock()
			e.refs--
			if e.refs == 0 && p.open[tenantID] == e {
				delete(p.open, tenantID) // leave no empty entry behind
			}
			p.mu.Unlock()
			return nil, nil, err
		}
		e.store = st
	}
	return e.store, release, nil
}

func (p *Stores) openStore(ctx context.Context, e *entry) (*Store, error) {
	dir := p.tenantDir(e.id)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// Deleted since the request was authenticated: not found. Still
		// registered: its data is gone, which is the server's fault.
		if p.registry != nil {
			if _, err := p.registry.Tenant(ctx, e.id); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
				return nil, fmt.Errorf("tenant %s: its data directory %s is missing", e.id, dir)
			}
		}
		return nil, mnemo.Errorf(mnemo.ENOTFOUND, "Tenant '%s' not found", e.id)
	}
	// Opening may migrate the database, which one request's time budget or
	// hang-up must not cut short: rolled back, the migration would start
	// over with the next request, and never finish for a large tenant.
	st, err := openStore(context.WithoutCancel(ctx), filepath.Join(dir, "memories.db"), p.model, p.dim, p.Limits, p.logger.With("tenant", e.id))
	if err != nil {
		return nil, p.registry.dataDisk().check(err)
	}
	st.db.disk.Store(p.registry.dataDisk())
	st.logger = p.logger
	st.onChange = func(ctx context.Context, s mnemo.TenantStats) {
		p.mu.Lock()
		dropped := e.dropped
		p.mu.Unlock()
		if dropped {
			return
		}
		p.registry.SetTenantStats(e.id, s)
	}
	// Reconcile the registry's copy of the counters, which a crash between
	// a tenant commit and the registry update could have left behind.
	if s, err := st.Stats(ctx); err == nil {
		st.onChange(ctx, s)
	}
	return st, nil
}

func (p *Stores) release(e *entry) {
	p.mu.Lock()
	e.refs--
	e.lastUsed = time.Now()
	closeNow := e.dropped && e.refs == 0
	p.mu.Unlock()
	if closeNow {
		p.closeEntry(e)
	}
}

func (p *Stores) closeEntry(e *entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.store != nil {
		if err := e.store.Close(); err != nil {
			p.logger.Error("close tenant store", "tenant", e.id, "err", err)
		}
		e.store = nil
	}
	if e.trash != "" {
		if err := os.RemoveAll(e.trash); err != nil {
			p.logger.Error("remove tenant data", "tenant", e.id, "err", err)
		}
	}
}

// Drop removes all data of a tenant. The directory is renamed away at once,
// so the id can be created again immediately and starts empty; the files are
// removed when the last in-flight request has released the store.
func (p *Stores) Drop(ctx context.Context, tenantID string) error {
	if err := mnemo.ValidateTenantID(tenantID); err != nil {
		return err
	}
	p.mu.Lock()
	e := p.open[tenantID]
	if e == nil {
		e = &entry{id: tenantID}
	}
	delete(p.open, tenantID)
	e.dropped = true
	trash := filepath.Join(p.dir, fmt.Sprintf("%s%s-%d", trashPrefix, tenantID, time.Now().UnixNano()))
	if err := os.Rename(p.tenantDir(tenantID), trash); err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.mu.Unlock()
		return fmt.Errorf("remove tenant %s data: %w", tenantID, err)
	}
	e.trash = trash
	closeNow := e.refs == 0
	p.mu.Unlock()
	if closeNow {
		p.closeEntry(e)
	}
	return nil
}

// CloseIdle closes stores nobody has used for IdleTimeout.
func (p *Stores) CloseIdle() {
	cutoff := time.Now().Add(-p.IdleTimeout)
	var idle []*entry
	p.mu.Lock()
	for id, e := range p.open {
		if e.refs == 0 && e.lastUsed.Before(cutoff) {
			delete(p.open, id)
			idle = append(idle, e)
		}
	}
	p.mu.Unlock()
	for _, e := range idle {
		p.closeEntry(e)
	}
}

// Run closes idle stores until ctx ends, then closes every store.
func (p *Stores) Run(ctx context.Context) {
	t := time.NewTicker(min(max(p.IdleTimeout/2, 10*time.Millisecond), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.CloseIdle()
		}
	}
}

// Close closes every open store.
func (p *Stores) Close() error {
	p.mu.Lock()
	all := make([]*entry, 0, len(p.open))
	for id, e := range p.open {
		delete(p.open, id)
		all = append(all, e)
	}
	p.mu.Unlock()
	for _, e := range all {
		p.closeEntry(e)
	}
	return nil
}

// OpenCount reports how many tenant stores the pool holds.
func (p *Stores) OpenCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.open)
}
