package falkordb

import (
	"context"
	"crypto/rand"
	"errors"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mnemohq/mnemo"
)

// Limits keeps the fair-use limiter state in Redis, so that every replica
// draws on one budget per tenant: one token bucket, one pool of
// concurrency slots, one failed-authentication count per client address or
// key prefix, one registration count per address. It behaves as
// local.Limits and local.Registrations do in one process (the contract in
// internal/limitertest holds both to it).
//
// Each rule that reads and writes is one Lua script on one key, so it is
// atomic across replicas, and safe in a cluster. Times are the callers'
// (the now they pass, in microseconds; for slots, which take no now, this
// process's clock): tests drive them, and replicas' clocks agree closely
// enough for buckets and windows of a minute. Redis's own clock only
// expires keys: every key has a TTL, so an idle tenant's or address's
// state goes away by itself.
//
// Keys:
//
//	mnemo:rate:<tenant>          hash {conf, tokens, last}: a token bucket
//	mnemo:slots:<tenant>         sorted set: slot id scored by its expiry (unix ms)
//	mnemo:throttle:<key>         hash {start, n}: failed authentications in a window
//	mnemo:registrations:<addr>   hash {start, n}: registrations in a window
type Limits struct {
	// SlotTTL is how long a concurrency slot outlives the process that
	// took it: a replica that dies holding slots gives them back after
	// SlotTTL. A live holder renews its slot every SlotTTL/3 for as long
	// as its request runs (an MCP stream may run for hours), so SlotTTL
	// bounds only the dead's. Replicas' clocks may disagree by much less
	// than SlotTTL/3 without a live slot being dropped. Zero means
	// DefaultSlotTTL.
	SlotTTL time.Duration

	rdb redis.UniversalClient
}

var (
	_ mnemo.RateLimiter         = (*Limits)(nil)
	_ mnemo.ConcurrencyLimiter  = (*Limits)(nil)
	_ mnemo.AuthThrottle        = (*Limits)(nil)
	_ mnemo.RegistrationLimiter = (*Limits)(nil)
)

// DefaultSlotTTL is SlotTTL when unset.
const DefaultSlotTTL = 2 * time.Minute

// AuthWindow is how long failed authentications are counted for, and
// RegistrationWindow how long registrations are: a minute, as the
// service's settings (per minute) say.
const (
	AuthWindow         = time.Minute
	RegistrationWindow = time.Minute
)

// windowGrace keeps a window's key a little past the window's end, so
// that a replica whose clock is a little behind still sees it.
const windowGrace = 5 * time.Second

// NewLimits returns the limiter state on rdb's server.
func NewLimits(rdb redis.UniversalClient) *Limits { return &Limits{rdb: rdb} }

// limitsErr maps a go-redis error of cmd as the store does: a server that
// cannot answer is EUNAVAILABLE, whose message says nothing of Redis's.
func limitsErr(ctx context.Context, cmd string, err error) error {
	if err == nil || err == redis.Nil {
		return nil
	}
	return storeErr(classify(ctx, cmd, err))
}

// run runs a script, mapping its error.
func run(ctx context.Context, rdb redis.UniversalClient, s *redis.Script, keys []string, args ...any) (*redis.Cmd, error) {
	cmd := s.Run(ctx, rdb, keys, args...)
	return cmd, limitsErr(ctx, "EVALSHA", cmd.Err())
}

// The token bucket is golang.org/x/time/rate's, as local.Limits uses it:
// tokens refill at rps up to burst, a request takes one or is told how
// long until one is back, and Debit may go into debt. conf is the limit
// the bucket was made for; another limit starts a full bucket. last only
// moves forward, so that replicas whose clocks differ a little never
// refill the same interval twice.
//
// bucketLua is shared by both bucket scripts: advance refills to now,
// save writes the bucket back with a TTL of the time until it would be
// full again (then it is the same as no bucket) plus a minute of grace.
const bucketLua = `
local now, rps, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local conf = ARGV[2] .. '/' .. ARGV[3]
local function advance(s)
  local tokens, last = tonumber(s[2]), tonumber(s[3])
  local e = now - last
  if e > 0 then
    tokens = math.min(burst, tokens + (math.floor(e / 1e6) + (e % 1e6) / 1e6) * rps)
  end
  return tokens, math.max(last, now)
end
local function save(tokens, last)
  redis.call('HSET', KEYS[1], 'conf', conf, 'tokens', string.format('%.17g', tokens), 'last', string.format('%.17g', last))
  local ttl = math.ceil((burst - tokens) / rps * 1000) + 60000
  redis.call('PEXPIRE', KEYS[1], math.min(ttl, 31536000000))
end
local s = redis.call('HMGET', KEYS[1], 'conf', 'tokens', 'last')
`

// allowScript: ARGV now (µs), rps, burst. Returns {allowed, remaining,
// wait in ns as a float string}. A request is refused when the wait for
// its token truncates to at least 1 ns, as rate.Reservation.DelayFrom.
var allowScript = redis.NewScript(bucketLua + `
local tokens, last = burst, now
if s[1] == conf then tokens, last = advance(s) end
local left, wait = tokens - 1, 0
if left < 0 then wait = (-left / rps) * 1e9 end
if wait < 1 then tokens = left end
save(tokens, last)
return {wait < 1 and 1 or 0, math.floor(math.max(0, tokens)), string.format('%.17g', wait)}
`)

// debitScript: ARGV now (µs), rps, burst, n. A bucket made for another
// limit, or none, owes nothing.
var debitScript = redis.NewScript(bucketLua + `
if s[1] ~= conf then return 0 end
local tokens, last = advance(s)
save(tokens - tonumber(ARGV[4]), last)
return 1
`)

func rateKey(tenantID string) string { return "mnemo:rate:" + tenantID }

func bucketArgs(limit mnemo.RateLimit, now time.Time) []any {
	return []any{now.UnixMicro(), strconv.FormatFloat(limit.RequestsPerSecond, 'g', -1, 64), strconv.Itoa(limit.Burst)}
}

// Allow takes a token from the tenant's bucket, or says how long to wait.
func (l *Limits) Allow(ctx context.Context, tenantID string, limit mnemo.RateLimit, now time.Time) (mnemo.RateDecision, error) {
	if limit.Burst < 1 || !(limit.RequestsPerSecond > 0) {
		// A bucket that can never hold a token (the service refuses such
		// limits): rate.Limiter's answer, without a round trip.
		return mnemo.RateDecision{Wait: forever}, nil
	}
	cmd, err := run(ctx, l.rdb, allowScript, []string{rateKey(tenantID)}, bucketArgs(limit, now)...)
	if err != nil {
		return mnemo.RateDecision{}, err
	}
	r, err := cmd.Slice()
	if err != nil || len(r) != 3 {
		return mnemo.RateDecision{}, scriptReply("allow", cmd)
	}
	allowed, _ := r[0].(int64)
	remaining, _ := r[1].(int64)
	wait, _ := r[2].(string)
	if allowed == 1 {
		return mnemo.RateDecision{Allowed: true, Remaining: int(remaining)}, nil
	}
	w, err := strconv.ParseFloat(wait, 64)
	if err != nil {
		return mnemo.RateDecision{}, scriptReply("allow", cmd)
	}
	return mnemo.RateDecision{Wait: nanos(w)}, nil
}

// forever is rate.InfDuration: the wait for a token that never comes.
const forever = time.Duration(math.MaxInt64)

// nanos converts a duration in nanoseconds as rate.Limit does.
func nanos(f float64) time.Duration {
	if f > float64(math.MaxInt64) {
		return forever
	}
	return time.Duration(f)
}

// Debit takes n more tokens from the tenant's bucket (at most its burst),
// into debt if need be.
func (l *Limits) Debit(ctx context.Context, tenantID string, limit mnemo.RateLimit, n int, now time.Time) error {
	if n <= 0 || limit.Burst < 1 || !(limit.RequestsPerSecond > 0) {
		return nil
	}
	_, err := run(ctx, l.rdb, debitScript, []string{rateKey(tenantID)}, append(bucketArgs(limit, now), min(n, limit.Burst))...)
	return err
}

// ResetRate forgets the tenant's bucket.
func (l *Limits) ResetRate(ctx context.Context, tenantID string) error {
	return limitsErr(ctx, "DEL", l.rdb.Del(ctx, rateKey(tenantID)).Err())
}

// acquireScript: KEYS[1] the tenant's slots; ARGV now (unix ms), the new
// slot's expiry (unix ms), its id, max, SlotTTL (ms). Drops the expired
// slots (a dead replica's), then takes one if fewer than max are held.
var acquireScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

// renewSlotScript: KEYS[1] the tenant's slots; ARGV the slot's new expiry
// (unix ms), its id, SlotTTL (ms). Renews a slot still held; 0 when it is
// gone (released, or dropped once expired).
var renewSlotScript = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

func (l *Limits) slotTTL() time.Duration {
	if l.SlotTTL > 0 {
		return l.SlotTTL
	}
	return DefaultSlotTTL
}

// Acquire takes one of the tenant's max concurrency slots without
// waiting. The slot is renewed in the background until release, which
// removes it; a release that cannot reach the server leaves the slot to
// expire within SlotTTL.
func (l *Limits) Acquire(ctx context.Context, tenantID string, max int) (func(), bool, error) {
	s := &slot{l: l, key: "mnemo:slots:" + tenantID, id: rand.Text(), ttl: l.slotTTL()}
	now := time.Now()
	cmd, err := run(ctx, l.rdb, acquireScript, []string{s.key},
		now.UnixMilli(), now.Add(s.ttl).UnixMilli(), s.id, max, s.ttl.Milliseconds())
	if err != nil {
		return nil, false, err
	}
	if ok, err := cmd.Int(); err != nil {
		return nil, false, scriptReply("acquire", cmd)
	} else if ok != 1 {
		return nil, false, nil
	}
	s.mu.Lock()
	s.timer = time.AfterFunc(s.ttl/3, s.renew)
	s.mu.Unlock()
	detached := context.WithoutCancel(ctx) // a request's end cancels its context, not its release
	return sync.OnceFunc(func() { s.release(detached) }), true, nil
}

// slot is a concurrency slot held by this process.
type slot struct {
	l       *Limits
	key, id string
	ttl     time.Duration

	mu       sync.Mutex
	released bool
	timer    *time.Timer
}

// renew pushes the slot's expiry SlotTTL ahead, and schedules the next
// renewal unless the slot was released or lost meanwhile. A failed
// renewal is tried again at the next: the slot lives SlotTTL, three
// renewal intervals.
func (s *slot) renew() {
	ctx, cancel := context.WithTimeout(context.Background(), s.ttl/3)
	n, err := renewSlotScript.Run(ctx, s.l.rdb, []string{s.key}, time.Now().Add(s.ttl).UnixMilli(), s.id, s.ttl.Milliseconds()).Int()
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released || (err == nil && n == 0) || errors.Is(err, redis.ErrClosed) {
		return // released, lost (expired while this process stalled), or this process's client is gone
	}
	s.timer.Reset(s.ttl / 3)
}

func (s *slot) release(ctx context.Context) {
	s.mu.Lock()
	s.released = true
	s.timer.Stop()
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s.l.rdb.ZRem(ctx, s.key, s.id) // on failure the slot expires within SlotTTL
}

// windowScript counts one event in a fixed window that starts at the
// first event (as local's windows do). KEYS[1] the window; ARGV now (µs),
// the window (µs), the key's TTL (ms), max (-1: count regardless).
// Returns {1, 0} when counted, or {0, µs until the window ends} when max
// were counted already.
var windowScript = redis.NewScript(`
local now, window, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'start', 'n')
local start, n = tonumber(s[1]), tonumber(s[2])
if not start or now - start >= window then
  start, n = now, 0
  redis.call('HSET', KEYS[1], 'start', ARGV[1], 'n', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
if max >= 0 and n >= max then return {0, window - math.max(0, now - start)} end
redis.call('HINCRBY', KEYS[1], 'n', 1)
return {1, 0}
`)

// count runs windowScript.
func (l *Limits) count(ctx context.Context, key string, window time.Duration, limit int, now time.Time) (bool, time.Duration, error) {
	cmd, err := run(ctx, l.rdb, windowScript, []string{key},
		now.UnixMicro(), window.Microseconds(), (window + windowGrace).Milliseconds(), limit)
	if err != nil {
		return false, 0, err
	}
	r, err := cmd.Int64Slice()
	if err != nil || len(r) != 2 {
		return false, 0, scriptReply("count", cmd)
	}
	return r[0] == 1, time.Duration(r[1]) * time.Microsecond, nil
}

func throttleKey(key string) string { return "mnemo:throttle:" + key }

// Throttled reports whether key has failed max times in the current
// window, and how long until it ends.
func (l *Limits) Throttled(ctx context.Context, key string, limit int, now time.Time) (bool, time.Duration, error) {
	r, err := l.rdb.HMGet(ctx, throttleKey(key), "start", "n").Result()
	if err != nil {
		return false, 0, limitsErr(ctx, "HMGET", err)
	}
	start, _ := r[0].(string)
	n, _ := r[1].(string)
	startUS, err1 := strconv.ParseInt(start, 10, 64)
	count, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil {
		return false, 0, nil // no window
	}
	elapsed := max(0, time.Duration(now.UnixMicro()-startUS)*time.Microsecond)
	if elapsed >= AuthWindow {
		return false, 0, nil
	}
	return count >= limit, AuthWindow - elapsed, nil
}

// Failed counts a failed authentication against key. Redis bounds the
// memory by expiry alone: a window's key lives as long as the window (and
// a few seconds), and none is ever forgotten early, so the interface's
// rule (forget keys under max first) holds trivially. A server at its
// maxmemory refuses the write (noeviction) rather than evict a count.
func (l *Limits) Failed(ctx context.Context, key string, _ int, now time.Time) error {
	_, _, err := l.count(ctx, throttleKey(key), AuthWindow, -1, now)
	return err
}

// AllowRegistration counts one registration from addr within the current
// window, unless max are counted already. There is no table to fill:
// every address's window expires by itself, and a server out of memory
// refuses (EUNAVAILABLE) rather than forget a count.
func (l *Limits) AllowRegistration(ctx context.Context, addr string, limit int, now time.Time) (bool, time.Duration, error) {
	return l.count(ctx, "mnemo:registrations:"+addr, RegistrationWindow, max(0, limit), now)
}

// scriptReply is the error of a script reply of an unexpected shape: a
// fault of this code, never the client's.
func scriptReply(script string, cmd *redis.Cmd) error {
	return &QueryError{Command: "EVALSHA " + script, Message: "unexpected reply " + cmd.String()}
}
