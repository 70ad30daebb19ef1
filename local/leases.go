package local

import (
	"context"
	"sync"
	"time"

	"github.com/mnemohq/mnemo"
)

// Leases are mnemo.Leases for one process, so that the service runs its
// background work under leases on the embedded backend too. The zero
// value is ready to use.
type Leases struct {
	mu   sync.Mutex
	held map[string]*lease
}

var _ mnemo.Leases = (*Leases)(nil)

type lease struct {
	ls      *Leases
	name    string
	ttl     time.Duration
	expires time.Time // guarded by ls.mu
}

// TryLease takes the lease name for ttl when nobody holds it. It forgets
// the leases that expired on the way, so the table holds only live ones.
func (ls *Leases) TryLease(_ context.Context, name string, ttl time.Duration) (mnemo.Lease, bool, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	now := time.Now()
	if ls.held == nil {
		ls.held = map[string]*lease{}
	}
	for n, l := range ls.held {
		if !now.Before(l.expires) {
			delete(ls.held, n)
		}
	}
	if ls.held[name] != nil {
		return nil, false, nil
	}
	l := &lease{ls: ls, name: name, ttl: max(ttl, time.Millisecond), expires: now.Add(max(ttl, time.Millisecond))}
	ls.held[name] = l
	return l, true, nil
}

// Renew extends the lease by its ttl from now. A lease that expired is
// lost even when nobody took it meanwhile, as on a shared backend.
func (l *lease) Renew(context.Context) error {
	l.ls.mu.Lock()
	defer l.ls.mu.Unlock()
	now := time.Now()
	if l.ls.held[l.name] != l || !now.Before(l.expires) {
		return mnemo.Errorf(mnemo.ECONFLICT, "The lease %q was lost: it expired before it was renewed", l.name)
	}
	l.expires = now.Add(l.ttl)
	return nil
}

// Release gives the lease up, if it is still this holder's.
func (l *lease) Release(context.Context) error {
	l.ls.mu.Lock()
	defer l.ls.mu.Unlock()
	if l.ls.held[l.name] == l {
		delete(l.ls.held, l.name)
	}
	return nil
}
