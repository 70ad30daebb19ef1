package falkordb

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mnemohq/mnemo"
)

// Leases are mnemo.Leases shared by every replica: the lease name is the
// key mnemo:lease:<name>, whose value is a random token of its holder and
// whose TTL is the lease's. Redis's clock alone times them, so replicas'
// clocks do not matter; a holder that dies loses its lease when the TTL
// runs out.
type Leases struct {
	rdb redis.UniversalClient
}

var _ mnemo.Leases = (*Leases)(nil)

// NewLeases returns the leases on rdb's server.
func NewLeases(rdb redis.UniversalClient) *Leases { return &Leases{rdb: rdb} }

// renewLeaseScript: KEYS[1] the lease; ARGV the holder's token, the TTL
// (ms). Extends the lease only while this holder has it.
var renewLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
`)

// releaseLeaseScript: KEYS[1] the lease; ARGV the holder's token.
// Deletes the lease only while this holder has it.
var releaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`)

// TryLease takes the lease name for ttl (at least a millisecond) when
// nobody holds it.
func (ls *Leases) TryLease(ctx context.Context, name string, ttl time.Duration) (mnemo.Lease, bool, error) {
	l := &lease{rdb: ls.rdb, name: name, key: "mnemo:lease:" + name, token: rand.Text(), ttl: max(ttl, time.Millisecond)}
	ok, err := ls.rdb.SetNX(ctx, l.key, l.token, l.ttl).Result()
	if err != nil {
		return nil, false, limitsErr(ctx, "SET", err)
	}
	if !ok {
		return nil, false, nil
	}
	return l, true, nil
}

type lease struct {
	rdb       redis.UniversalClient
	name, key string
	token     string
	ttl       time.Duration
}

// Renew extends the lease by its ttl from now. A lease that expired is
// lost even when nobody took it meanwhile: its holder cannot tell whether
// someone ran and finished in between.
func (l *lease) Renew(ctx context.Context) error {
	cmd, err := run(ctx, l.rdb, renewLeaseScript, []string{l.key}, l.token, l.ttl.Milliseconds())
	if err != nil {
		return err
	}
	if n, _ := cmd.Int(); n != 1 {
		return mnemo.Errorf(mnemo.ECONFLICT, "The lease %q was lost: it expired before it was renewed", l.name)
	}
	return nil
}

// Release gives the lease up, if it is still this holder's.
func (l *lease) Release(ctx context.Context) error {
	_, err := run(ctx, l.rdb, releaseLeaseScript, []string{l.key}, l.token)
	return err
}
