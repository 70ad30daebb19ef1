package sqlite

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	sqlitedrv "modernc.org/sqlite"

	"github.com/mnemohq/mnemo"
)

// Stores opens tenant databases under dataDir/tenants/<id>/memories.db
// lazily, shares each among concurrent requests, and closes it when it has
// been idle, so ten thousand tenants do not mean ten thousand open files.
//
// At most MaxOpen stores are open at once, and their resident vector
// indexes take at most VectorBudget bytes: past either, the least recently
// used idle store is closed first. A store that fails its checks when it
// opens (see checkFile and verify) is marked damaged: its requests answer
// EUNAVAILABLE until the operator replaces its file, and it is never
// re-created empty.
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
	// MaxOpen bounds the stores open at once (0: no bound); see
	// DefaultMaxOpen.
	MaxOpen int
	// VectorBudget bounds the bytes of the resident vector indexes of open
	// stores: past it, idle stores are closed (0: no bound).
	VectorBudget int64
	// OpenWait is how long a request waits for an open store to be
	// released when every one is in use, before it is refused.
	OpenWait time.Duration

	mu          sync.Mutex
	open        map[string]*entry
	idle        list.List     // open entries nobody uses, least recently used at the back
	freed       chan struct{} // closed (and replaced) when a place in the pool may have come free
	vectorBytes int64
	evictions   int64
	refusals    int64
	damaged     map[string]*damage
	verified    map[string]bool // tenants whose store passed quick_check in this process
}

type entry struct {
	id       string
	mu       sync.Mutex // serializes opening and closing the store
	store    *Store
	refs     int // guarded by Stores.mu
	lastUsed time.Time
	dropped  bool          // guarded by Stores.mu
	trash    string        // where a dropped tenant's directory went
	elem     *list.Element // in Stores.idle while open and unused; guarded by Stores.mu
	vecBytes int64         // its vector index's size when last released; guarded by Stores.mu
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
//     otherwise its data is missing: it is marked damaged and left for
//     the operator to restore;
//   - a tenant whose file fails the cheap checks (checkFile) is marked
//     damaged;
//   - staging directories of a backup that crashed are removed.
func NewStores(ctx context.Context, dataDir, model string, dim int, registry *Registry, logger *slog.Logger) (*Stores, error) {
	dir := filepath.Join(dataDir, "tenants")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &Stores{dir: dir, model: model, dim: dim, registry: registry, logger: logger,
		IdleTimeout: 5 * time.Minute, Limits: mnemo.DefaultLimits, OpenWait: 2 * time.Second,
		open: map[string]*entry{}, freed: make(chan struct{}), damaged: map[string]*damage{}, verified: map[string]bool{}}
	clearStaleTemps(dataDir, time.Now())
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
		holdsData := func() bool { return st.Memories > 0 || st.Relations > 0 }
		path := p.storePath(id)
		if present[id] {
			// The cheap checks only (no quick_check): a restart names the
			// damaged tenants in /health before anyone asks for them.
			if reason, err := checkFile(path, holdsData); err == nil && reason != "" {
				p.markDamaged(id, path, reason)
			}
			continue
		}
		if holdsData() {
			p.markDamaged(id, path, "its data directory is missing")
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

// RemoveSetAside deletes the directories set aside (.orphan-*: an
// interrupted deletion's leftovers, a damaged store replaced by a restore)
// before olderThan, and returns how many it removed. They are kept a while
// in case the operator needs them, not forever.
func (p *Stores) RemoveSetAside(olderThan time.Time) (int, error) {
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, e := range entries {
		name := e.Name()
		at, ok := setAsideAt(name)
		if !ok || !at.Before(olderThan) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(p.dir, name)); err != nil {
			return removed, err
		}
		p.logger.Info("removed a directory set aside past its retention", "dir", name, "set_aside", at.Format(time.RFC3339))
		removed++
	}
	return removed, nil
}

// setAsideAt reads when a .orphan-<name>-<unix nanoseconds> directory was
// set aside.
func setAsideAt(name string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(name, orphanPrefix)
	if !ok {
		return time.Time{}, false
	}
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return time.Time{}, false
	}
	digits := rest[i+1:]
	ns, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || len(digits) != 19 { // time.Now().UnixNano() as mnemo wrote it, not a name that ends in a number
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// Create makes the empty data directory of a new tenant. What an earlier
// tenant of the same id left (a directory a crash kept, or its store still
// open in this pool) is dropped first, so the new tenant is never handed
// the old store; a directory this call made is removed again when the
// store cannot be made, so a failed creation leaves nothing behind.
func (p *Stores) Create(ctx context.Context, tenantID string) error {
	if err := p.Drop(ctx, tenantID); err != nil { // validates the id
		return err
	}
	dir := p.tenantDir(tenantID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return p.registry.dataDisk().check(err)
	}
	err := func() error {
		st, release, err := p.openTenant(ctx, tenantID, true)
		if err != nil {
			return err
		}
		defer release()
		_, err = st.Stats(ctx)
		return err
	}()
	if err != nil {
		p.discard(tenantID)
		if rerr := os.RemoveAll(dir); rerr != nil {
			p.logger.Error("remove the directory of a tenant that could not be created", "tenant", tenantID, "err", rerr)
		}
	}
	return err
}

// Open returns the tenant's store; release must be called when done.
func (p *Stores) Open(ctx context.Context, tenantID string) (mnemo.MemoryStore, func(), error) {
	return p.openTenant(ctx, tenantID, false)
}

// openTenant is Open; creating says the store is being made, so a missing file
// is expected rather than a sign of lost data.
func (p *Stores) openTenant(ctx context.Context, tenantID string, creating bool) (mnemo.MemoryStore, func(), error) {
	if err := mnemo.ValidateTenantID(tenantID); err != nil {
		return nil, nil, err
	}
	if creating {
		// A request that raced the creation may have found the directory
		// missing; the store being made is the answer to that.
		p.forget(tenantID)
	} else if err := p.stillDamaged(tenantID); err != nil {
		return nil, nil, err
	}
	e, victim, err := p.acquire(ctx, tenantID)
	if err != nil {
		return nil, nil, err
	}
	if victim != nil {
		p.closeEntry(victim) // its descriptors are free before this store takes its own
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.store == nil {
		st, err := p.openStore(ctx, e, creating)
		if err != nil {
			p.abandon(e)
			return nil, nil, err
		}
		e.store = st
	}
	st := e.store
	return st, func() { p.release(e, st) }, nil
}

// acquire takes a reference on the tenant's entry, making one when the
// tenant is not open. When the pool is full it takes the place of the
// least recently used idle store, returned as victim for the caller to
// close; when every open store is in use it waits up to OpenWait for one
// to be released, then refuses.
func (p *Stores) acquire(ctx context.Context, id string) (e, victim *entry, err error) {
	var timeout <-chan time.Time
	for {
		p.mu.Lock()
		if e := p.open[id]; e != nil {
			e.refs++
			if e.elem != nil {
				p.idle.Remove(e.elem)
				e.elem = nil
			}
			p.mu.Unlock()
			return e, nil, nil
		}
		if p.MaxOpen > 0 && len(p.open) >= p.MaxOpen {
			victim = p.evictLocked()
		}
		if p.MaxOpen <= 0 || len(p.open) < p.MaxOpen {
			e := &entry{id: id, refs: 1}
			p.open[id] = e
			p.mu.Unlock()
			return e, victim, nil
		}
		wait := p.freed
		p.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(p.OpenWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-wait:
		case <-timeout:
			return nil, nil, p.refuse(fmt.Sprintf("every one of the %d tenant stores this server keeps open is in use", p.MaxOpen))
		case <-ctx.Done():
			return nil, nil, p.refuse(fmt.Sprintf("every one of the %d tenant stores this server keeps open is in use", p.MaxOpen))
		}
	}
}

// evictLocked takes the least recently used idle store out of the pool
// and returns it, to be closed without the lock; nil when none is idle.
func (p *Stores) evictLocked() *entry {
	back := p.idle.Back()
	if back == nil {
		return nil
	}
	e := back.Value.(*entry)
	p.idle.Remove(back)
	e.elem = nil
	delete(p.open, e.id)
	p.vectorBytes -= e.vecBytes
	p.evictions++
	return e
}

// refuse is the answer to a request for which no store can be opened now.
func (p *Stores) refuse(why string) error {
	p.mu.Lock()
	p.refusals++
	p.mu.Unlock()
	return &mnemo.Error{Code: mnemo.EUNAVAILABLE, RetryAfter: time.Second,
		Message: "The server cannot open this tenant's store right now (" + why + "); retry shortly"}
}

// signalLocked wakes the requests waiting for a place in the pool.
func (p *Stores) signalLocked() {
	close(p.freed)
	p.freed = make(chan struct{})
}

// abandon gives back the reference of a request whose store failed to
// open, removing the entry when nobody else waits on it.
func (p *Stores) abandon(e *entry) {
	p.mu.Lock()
	e.refs--
	if e.refs == 0 && p.open[e.id] == e {
		delete(p.open, e.id) // leave no empty entry behind
		p.signalLocked()
	}
	closeNow := e.dropped && e.refs == 0 // a deletion came meanwhile: its data goes with the last reference
	p.mu.Unlock()
	if closeNow {
		p.closeEntry(e)
	}
}

// discard takes a tenant out of the pool and closes its store, whatever
// uses it: its creation failed, so nobody else holds it.
func (p *Stores) discard(id string) {
	p.mu.Lock()
	e := p.open[id]
	if e != nil {
		p.removeLocked(e)
	}
	p.mu.Unlock()
	if e != nil {
		p.closeEntry(e)
	}
}

// removeLocked takes e out of the pool.
func (p *Stores) removeLocked(e *entry) {
	if e.elem != nil {
		p.idle.Remove(e.elem)
		e.elem = nil
	}
	if p.open[e.id] == e {
		delete(p.open, e.id)
		p.vectorBytes -= e.vecBytes
		e.vecBytes = 0
		p.signalLocked()
	}
}

func (p *Stores) openStore(ctx context.Context, e *entry, creating bool) (*Store, error) {
	// A request that waited on e.mu while another found the store damaged
	// gets the same answer without opening it again.
	if !creating {
		if err := p.stillDamaged(e.id); err != nil {
			return nil, err
		}
	}
	dir := p.tenantDir(e.id)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// Deleted since the request was authenticated: not found. Still
		// registered: its data is gone, which is the server's fault.
		if p.registry != nil {
			if _, err := p.registry.Tenant(ctx, e.id); mnemo.ErrorCode(err) != mnemo.ENOTFOUND {
				return nil, p.markDamaged(e.id, filepath.Join(dir, storeName), "its data directory is missing")
			}
		}
		return nil, mnemo.Errorf(mnemo.ENOTFOUND, "Tenant '%s' not found", e.id)
	}
	path := filepath.Join(dir, storeName)
	holdsData := func() bool {
		if creating || p.registry == nil {
			return false
		}
		t, err := p.registry.Tenant(ctx, e.id)
		return err == nil && (t.Stats.Memories > 0 || t.Stats.Relations > 0)
	}
	reason, err := checkFile(path, holdsData)
	if err != nil {
		return nil, p.openFailed(err)
	}
	if reason != "" {
		return nil, p.markDamaged(e.id, path, reason)
	}
	// Opening may migrate the database, which one request's time budget or
	// hang-up must not cut short: rolled back, the migration would start
	// over with the next request, and never finish for a large tenant.
	st, err := openStore(context.WithoutCancel(ctx), path, p.model, p.dim, p.Limits, p.logger.With("tenant", e.id))
	if err != nil {
		if isCorrupt(err) {
			return nil, p.markDamaged(e.id, path, "SQLite cannot read it: "+err.Error())
		}
		return nil, p.openFailed(p.registry.dataDisk().check(err))
	}
	st.db.disk.Store(p.registry.dataDisk())
	if !creating && !p.isVerified(e.id) {
		if reason, err := verify(context.WithoutCancel(ctx), st.db); err != nil || reason != "" {
			st.Close()
			if err != nil && !isCorrupt(err) {
				return nil, p.openFailed(err)
			}
			if reason == "" {
				reason = "SQLite cannot read it: " + err.Error()
			}
			return nil, p.markDamaged(e.id, path, reason)
		}
	}
	p.mu.Lock()
	p.verified[e.id] = true
	p.mu.Unlock()
	// Damage a query meets later (a page gone bad since the store was
	// checked) takes the store out of service too.
	st.db.writer.damaged = func(err error) error {
		p.damagedInUse(e, path, err)
		return fmt.Errorf("%w: %w", err, damagedError(e.id)) // the damaged tenant's 503, with SQLite's cause for the log
	}
	st.db.reader.damaged = st.db.writer.damaged
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

// openFailed is the error of a store that could not be opened for a
// reason other than its content. Out of file descriptors, the request is
// refused with a Retry-After (not a 500), and the least recently used idle
// store is closed to give some back.
func (p *Stores) openFailed(err error) error {
	if !outOfFiles(err) {
		return err
	}
	p.logger.Error("out of file descriptors opening a tenant store; closing the least recently used", "err", err)
	p.mu.Lock()
	victim := p.evictLocked()
	p.mu.Unlock()
	if victim != nil {
		p.closeEntry(victim)
	}
	return p.refuse("the process has no file descriptor left")
}

func (p *Stores) isVerified(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.verified[id]
}

func (p *Stores) release(e *entry, st *Store) {
	vb := st.index.residentBytes()
	var victims []*entry
	p.mu.Lock()
	e.refs--
	e.lastUsed = time.Now()
	closeNow := e.dropped && e.refs == 0
	if !e.dropped && p.open[e.id] == e {
		p.vectorBytes += vb - e.vecBytes
		e.vecBytes = vb
		if e.refs == 0 {
			e.elem = p.idle.PushFront(e)
			p.signalLocked()
		}
		if p.VectorBudget > 0 && e.refs == 0 && e.vecBytes > p.VectorBudget {
			// Alone beyond the budget: this store closes, not everyone
			// else's to make room it would not fit in anyway.
			p.removeLocked(e)
			p.evictions++
			victims = append(victims, e)
		}
		for p.VectorBudget > 0 && p.vectorBytes > p.VectorBudget {
			v := p.evictLocked()
			if v == nil {
				break
			}
			victims = append(victims, v)
		}
	}
	p.mu.Unlock()
	if closeNow {
		p.closeEntry(e)
	}
	for _, v := range victims {
		p.closeEntry(v)
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
// removed when the last in-flight request has released the store. A
// damaged tenant can be dropped: that is one way out of the damage.
func (p *Stores) Drop(ctx context.Context, tenantID string) error {
	if err := mnemo.ValidateTenantID(tenantID); err != nil {
		return err
	}
	p.mu.Lock()
	e := p.open[tenantID]
	if e == nil {
		e = &entry{id: tenantID}
	}
	p.removeLocked(e)
	delete(p.damaged, tenantID)
	delete(p.verified, tenantID)
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

// forget clears what the pool remembers of a tenant's earlier store.
func (p *Stores) forget(id string) {
	p.mu.Lock()
	delete(p.damaged, id)
	delete(p.verified, id)
	p.mu.Unlock()
}

// CloseIdle closes stores nobody has used for IdleTimeout.
func (p *Stores) CloseIdle() {
	cutoff := time.Now().Add(-p.IdleTimeout)
	var idle []*entry
	p.mu.Lock()
	for back := p.idle.Back(); back != nil; back = p.idle.Back() {
		e := back.Value.(*entry)
		if !e.lastUsed.Before(cutoff) {
			break // the rest were used later
		}
		p.removeLocked(e)
		idle = append(idle, e)
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
	for _, e := range p.open {
		all = append(all, e)
	}
	for _, e := range all {
		p.removeLocked(e)
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

// Pool reports the pool's state for /health and /metrics.
func (p *Stores) Pool() mnemo.StorePool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := mnemo.StorePool{Open: len(p.open), MaxOpen: p.MaxOpen, Evictions: p.evictions, Refusals: p.refusals,
		VectorBytes: p.vectorBytes, VectorBudget: p.VectorBudget}
	for id, d := range p.damaged {
		s.Damaged = append(s.Damaged, mnemo.DamagedStore{TenantID: id, Reason: d.reason, Since: d.since})
	}
	slices.SortFunc(s.Damaged, func(a, b mnemo.DamagedStore) int { return strings.Compare(a.TenantID, b.TenantID) })
	return s
}

// Descriptors one open store holds at most: its writer and four readers
// each keep the database and its WAL open, and the shared-memory index is
// opened once (TestStoreDescriptors measures it).
const storeDescriptors = 11

// DefaultMaxOpen is the bound on open stores that the process's file limit
// allows: a quarter of the limit (at least 128) is kept for the registry,
// the listener, client connections and backups, and the rest is divided
// by what one store holds.
func DefaultMaxOpen() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1000
	}
	limit := min(rl.Cur, 1<<24) // RLIM_INFINITY
	reserve := max(limit/4, 128)
	if limit <= reserve+storeDescriptors {
		return 1
	}
	return int((limit - reserve) / storeDescriptors)
}

// outOfFiles reports whether err says the process or the system has no
// file descriptor left. SQLite reports that as "unable to open database
// file" (SQLITE_CANTOPEN), without the errno.
func outOfFiles(err error) bool {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		return true
	}
	if sqliteCode(err) != sqliteCantOpen {
		return false
	}
	// SQLite says "cannot open" for a missing directory or a permission
	// slip too; only a process without a descriptor to spare is out of
	// files.
	f, perr := os.Open(os.DevNull)
	if perr != nil {
		return errors.Is(perr, syscall.EMFILE) || errors.Is(perr, syscall.ENFILE)
	}
	f.Close()
	return false
}

// isCorrupt reports whether err is SQLite finding the file damaged or not
// a database at all.
func isCorrupt(err error) bool {
	c := sqliteCode(err)
	return c == sqliteCorrupt || c == sqliteNotADB
}

// SQLite's primary result codes that the pool tells apart.
const (
	sqliteCorrupt  = 11
	sqliteCantOpen = 14
	sqliteNotADB   = 26
)

// sqliteCode is the primary result code of a SQLite error in err's chain,
// or 0.
func sqliteCode(err error) int {
	var se *sqlitedrv.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

// residentBytes is about what the index holds in memory: its vectors, its
// row ids and their positions. Nothing until it is loaded.
func (x *vectorIndex) residentBytes() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.loaded {
		return 0
	}
	// A map entry costs about 3 words with its share of buckets.
	return int64(cap(x.vecs))*4 + int64(cap(x.rids))*8 + int64(len(x.pos))*24
}
