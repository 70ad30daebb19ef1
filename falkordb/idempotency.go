package falkordb

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/redis/go-redis/v9"
)

// Idempotency records, shared by every replica, so that a retry sent to
// another replica finds the first attempt. One hash per tenant,
// mnemo:idem:<tenant id>, field = the client's Idempotency-Key, value =
//
//	1:<created_at>:<status>:<fingerprint hex>:<body>
//
// ("1" is the format's version; created_at in Unix microseconds; status 0
// while the request runs, else the kept answer's status; the body, raw
// bytes, last, so nothing in it needs escaping). DeleteTenant DELs the
// hash: kept answers hold the tenant's data. The sorted set
// mnemo:idem-index holds "<tenant id>\x00<key>" by created_at, for the
// pruner; an entry whose record is gone (its tenant deleted) is dropped
// when the pruner reaches it.

const idemIndex = "mnemo:idem-index" // not mnemo:idem:<id>: "index" is a valid tenant id

func idemKey(tenantID string) string { return "mnemo:idem:" + tenantID }

// idemLua parses a record: created_at, status (strings) and fingerprint
// hex, and the length of the head before the body; nil when malformed.
const idemLua = `
local function parse(v)
  local head, created, status, fp = string.match(v, '^(1:(%-?%d+):(%d+):(%x*):)')
  if not head then return nil end
  return created, status, fp, #head
end
`

// reserveIdemScript: KEYS record hash, index; ARGV key, index member,
// fingerprint hex, now, expired_before (now-ttl), abandoned_before
// (now-abandon). Reply: {1} reserved; {0} running; {2, status, body} the
// kept answer; {3} kept with another fingerprint.
var reserveIdemScript = redis.NewScript(idemLua + `
local v = redis.call('HGET', KEYS[1], ARGV[1])
local function reserve(fp)
  redis.call('HSET', KEYS[1], ARGV[1], '1:' .. ARGV[4] .. ':0:' .. fp .. ':')
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
  return {1}
end
if not v then return reserve(ARGV[3]) end
local created, status, fp, head = parse(v)
if not created then return redis.error_reply('malformed idempotency record') end
-- Expired: as if never kept. A reservation still running is not: it is
-- taken over only when abandoned, so a retry never runs a running request
-- twice, however short the TTL.
if status ~= '0' and tonumber(created) < tonumber(ARGV[5]) then return reserve(ARGV[3]) end
if fp ~= ARGV[3] then return {3} end
if status == '0' then
  if tonumber(created) < tonumber(ARGV[6]) then return reserve(fp) end
  return {0}
end
return {2, tonumber(status), string.sub(v, head + 1)}
`)

// completeIdemScript: KEYS record hash; ARGV key, status, body. Reply: {}.
var completeIdemScript = redis.NewScript(idemLua + `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {} end
local created, _, fp = parse(v)
if not created then return redis.error_reply('malformed idempotency record') end
redis.call('HSET', KEYS[1], ARGV[1], '1:' .. created .. ':' .. ARGV[2] .. ':' .. fp .. ':' .. ARGV[3])
return {}
`)

// releaseIdemScript: KEYS record hash, index; ARGV key, index member.
// Reply: {}.
var releaseIdemScript = redis.NewScript(idemLua + `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {} end
local _, status = parse(v)
if status == '0' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return {}
`)

// pruneIdemScript: KEYS index; ARGV before, running_before (a
// reservation not answered is kept an hour more), offset, batch; a
// pruning script as pruneBatches runs them. Reply: {looked at, kept,
// removed}.
var pruneIdemScript = redis.NewScript(idemLua + `
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', ARGV[3], ARGV[4])
local removed, kept = 0, 0
for _, m in ipairs(entries) do
  local i = string.find(m, '\0', 1, true)
  local hash, field = 'mnemo:idem:' .. string.sub(m, 1, i - 1), string.sub(m, i + 1)
  local v = redis.call('HGET', hash, field)
  local created, status
  if v then created, status = parse(v) end
  if not v then
    redis.call('ZREM', KEYS[1], m)
  elseif created and tonumber(created) < tonumber(ARGV[1]) and (status ~= '0' or tonumber(created) < tonumber(ARGV[2])) then
    redis.call('HDEL', hash, field)
    redis.call('ZREM', KEYS[1], m)
    removed = removed + 1
  else
    kept = kept + 1
  end
end
return {#entries, kept, removed}
`)

func idemMember(tenantID, key string) string { return tenantID + "\x00" + key }

// ReserveIdempotency claims key for a request with the given fingerprint;
// see mnemo.IdempotencyStore. An expired answer counts as none; the pruner
// removes them (see pruneIdempotency).
func (r *Registry) ReserveIdempotency(ctx context.Context, tenantID, key string, fingerprint []byte, now time.Time, ttl, abandon time.Duration) (bool, *mnemo.IdempotentAnswer, error) {
	reply, err := r.evalState(ctx, reserveIdemScript, []string{idemKey(tenantID), idemIndex},
		key, idemMember(tenantID, key), hex.EncodeToString(fingerprint), stateMicros(now), stateMicros(now.Add(-ttl)), stateMicros(now.Add(-abandon)))
	if err != nil {
		return false, nil, err
	}
	switch replyInt(reply, 0) {
	case 1:
		return true, nil, nil
	case 2:
		body, _ := reply[2].(string)
		return false, &mnemo.IdempotentAnswer{Status: int(replyInt(reply, 1)), Body: []byte(body)}, nil
	case 3:
		return false, nil, mnemo.Errorf(mnemo.EUNPROCESSABLE, "Idempotency-Key '%s' was used with a different request", key)
	default:
		return false, nil, nil
	}
}

// CompleteIdempotency stores the answer of a reserved key.
func (r *Registry) CompleteIdempotency(ctx context.Context, tenantID, key string, answer mnemo.IdempotentAnswer) error {
	if answer.Status < 0 {
		return errors.New("falkordb: an idempotent answer's status is negative") // the record's format has no sign
	}
	_, err := r.evalState(ctx, completeIdemScript, []string{idemKey(tenantID)}, key, answer.Status, answer.Body)
	return err
}

// ReleaseIdempotency forgets a reserved key, so a retry runs again (after a
// server error, which changed nothing).
func (r *Registry) ReleaseIdempotency(ctx context.Context, tenantID, key string) error {
	_, err := r.evalState(ctx, releaseIdemScript, []string{idemKey(tenantID), idemIndex}, key, idemMember(tenantID, key))
	return err
}

// pruneIdempotency removes the answers kept since before before, and the
// reservations never answered made an hour before that (a request still
// running is never run twice by a retry), in scripts of at most batch
// entries. Prune (retention.go) calls it; it returns how many it removed.
func (r *Registry) pruneIdempotency(ctx context.Context, before time.Time, batch int) (int64, error) {
	if before.IsZero() {
		return 0, nil
	}
	var removed int64
	err := r.pruneBatches(ctx, pruneIdemScript, []string{idemIndex}, batch, func(reply []any) { removed += replyInt(reply, 2) },
		stateMicros(before), stateMicros(before.Add(-time.Hour)))
	return removed, err
}
