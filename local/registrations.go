package local

import (
	"context"
	"sync"
	"time"

	"github.com/mnemohq/mnemo"
)

// Registrations counts OAuth client registrations per client address, in
// this process. Replicas behind one load balancer see the same addresses
// and need a shared mnemo.RegistrationLimiter instead (Redis: INCR and
// EXPIRE per address). The zero value is ready to use.
type Registrations struct {
	mu        sync.Mutex
	windows   map[string]*registrationWindow
	lastSweep time.Time
}

var _ mnemo.RegistrationLimiter = (*Registrations)(nil)

type registrationWindow struct {
	start time.Time
	count int
}

// RegistrationWindow is how long registrations are counted for.
const RegistrationWindow = time.Minute

// MaxRegistrationAddresses bounds the memory an attacker cycling through
// addresses can make the table use.
const MaxRegistrationAddresses = 100000

// AllowRegistration counts one registration from addr within the current
// window, unless max are counted already.
func (l *Registrations) AllowRegistration(_ context.Context, addr string, max int, now time.Time) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windows == nil {
		l.windows = map[string]*registrationWindow{}
	}
	w := l.windows[addr]
	if w == nil || now.Sub(w.start) >= RegistrationWindow {
		if w == nil && len(l.windows) >= MaxRegistrationAddresses && !l.sweep(now) {
			// Full of live windows: refuse newcomers rather than forget
			// counts, which would let cycling addresses reset them.
			return false, RegistrationWindow, nil
		}
		w = &registrationWindow{start: now}
		l.windows[addr] = w
	}
	if w.count >= max {
		return false, RegistrationWindow - now.Sub(w.start), nil
	}
	w.count++
	return true, 0, nil
}

// sweep forgets the windows that ended, at most once a second (it walks the
// whole table), and reports whether there is room now.
func (l *Registrations) sweep(now time.Time) bool {
	if now.Sub(l.lastSweep) >= time.Second {
		l.lastSweep = now
		for addr, w := range l.windows {
			if now.Sub(w.start) >= RegistrationWindow {
				delete(l.windows, addr)
			}
		}
	}
	return len(l.windows) < MaxRegistrationAddresses
}
