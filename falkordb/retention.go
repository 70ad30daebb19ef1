package falkordb

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/redis/go-redis/v9"
)

// Prune removes the records past their cutoffs, each kind in scripts of at
// most batch records: between two, other replicas' commands go ahead. The
// counts use SQLite's kinds: audit, usage, idempotency, oauth_grants,
// oauth_clients, incarnations. Incarnations go last, once the records that
// kept them are gone.
func (r *Registry) Prune(ctx context.Context, c mnemo.PruneCutoffs, batch int) (map[string]int64, error) {
	batch = max(batch, 1)
	removed := map[string]int64{}
	if !c.Audit.IsZero() {
		if err := r.pruneLoop(ctx, removed, "audit", batch, func() (int64, error) {
			return r.runCode(ctx, pruneAuditScript, []string{auditAtName, auditEventsName, auditAllName}, usec(c.Audit), batch)
		}); err != nil {
			return removed, err
		}
	}
	if c.UsageDay != "" {
		if err := r.pruneLoop(ctx, removed, "usage", batch, func() (int64, error) {
			return r.runCode(ctx, pruneUsageScript, []string{usageDaysName}, c.UsageDay, batch)
		}); err != nil {
			return removed, err
		}
	}
	if !c.Idempotency.IsZero() {
		n, err := r.pruneIdempotency(ctx, c.Idempotency, batch) // batches of its own
		removed["idempotency"] += n
		if err != nil {
			return removed, err
		}
	}
	if err := r.pruneOAuth(ctx, c, batch, removed); err != nil {
		return removed, err
	}
	if !c.Incarnations.IsZero() {
		n, err := r.pruneIncarnations(ctx, c.Incarnations, batch)
		removed["incarnations"] += n
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// pruneLoop runs step until it removes less than a batch, adding what it
// removes to removed[kind].
func (r *Registry) pruneLoop(ctx context.Context, removed map[string]int64, kind string, batch int, step func() (int64, error)) error {
	removed[kind] += 0 // a kind pruned is listed, even at 0, as in SQLite
	for {
		n, err := step()
		removed[kind] += n
		if err != nil {
			return err
		}
		if n < int64(batch) {
			return nil
		}
	}
}

// pruneIncarnationsScript removes, among a window of the incarnations
// closed before a cutoff, up to a batch that no usage or audit refers to.
// KEYS: closed incarnations. ARGV: cutoff, batch, offset, window. Answers
// {removed, kept (those in the window it looked at and left), looked at}.
var pruneIncarnationsScript = redis.NewScript(`
local batch = tonumber(ARGV[2])
local members = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', ARGV[3], ARGV[4])
local removed, kept = 0, 0
for _, m in ipairs(members) do
	if removed == batch then break end
	local tid, inc = string.match(m, '^(.*):(%d+)$')
	if redis.call('EXISTS', 'mnemo:usage:t:' .. tid .. ':' .. inc, 'mnemo:audit:tenant:' .. tid .. ':' .. inc) > 0 then
		kept = kept + 1
	else
		redis.call('DEL', 'mnemo:incarnation:' .. tid .. ':' .. inc)
		redis.call('ZREM', 'mnemo:incarnations:' .. tid, inc)
		redis.call('ZREM', KEYS[1], m)
		removed = removed + 1
	end
end
return {removed, kept, #members}
`)

// pruneIncarnations removes the records of incarnations closed before
// cutoff that no usage or audit row refers to, a batch at a time. Those
// still referred to stay in the index; the walk steps over them.
func (r *Registry) pruneIncarnations(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	window := max(batch, 256)
	var total, offset int64
	for {
		v, err := r.runScript(ctx, pruneIncarnationsScript, []string{closedIncarnationsName}, usec(cutoff), batch, offset, window)
		if err != nil {
			return total, err
		}
		res, _ := v.([]any)
		if len(res) != 3 {
			return total, fmt.Errorf("falkordb: incarnations script answered %v", v)
		}
		removed, _ := res[0].(int64)
		kept, _ := res[1].(int64)
		looked, _ := res[2].(int64)
		total += removed
		offset += kept
		if removed < int64(batch) && looked < int64(window) {
			return total, nil
		}
	}
}

// cleanKeysScript removes the keys whose tenant does not exist, as
// DeleteTenant would have, and puts a live tenant's key back in its set.
// ARGV: key ids. Answers how many keys it removed.
var cleanKeysScript = redis.NewScript(luaRegistryLib + `
local n = 0
for _, id in ipairs(ARGV) do
	local tid = redis.call('HGET', 'mnemo:key:' .. id, 'tenant_id')
	if tid and redis.call('EXISTS', 'mnemo:tenant:' .. tid) == 1 then
		redis.call('SADD', 'mnemo:tenantkeys:' .. tid, id)
	elseif tid then
		delete_key(id)
		redis.call('SREM', 'mnemo:tenantkeys:' .. tid, id)
		n = n + 1
	end
end
return n
`)

// cleanKeyIndexesScript removes lookup entries that name no key of their
// token (ARGV[1] 'hash', then hex hashes), or the key sets of tenants that
// do not exist and the members that name no key (ARGV[1] 'set', then
// tenant ids). Not counted: these are indexes, not records.
var cleanKeyIndexesScript = redis.NewScript(`
for i = 2, #ARGV do
	if ARGV[1] == 'hash' then
		local hk = 'mnemo:keyhash:' .. ARGV[i]
		local id = redis.call('GET', hk)
		if id and redis.call('HGET', 'mnemo:key:' .. id, 'hash') ~= ARGV[i] then redis.call('DEL', hk) end
	else
		local set = 'mnemo:tenantkeys:' .. ARGV[i]
		if redis.call('EXISTS', 'mnemo:tenant:' .. ARGV[i]) == 0 then
			redis.call('DEL', set)
		else
			for _, id in ipairs(redis.call('SMEMBERS', set)) do
				if redis.call('EXISTS', 'mnemo:key:' .. id) == 0 then redis.call('SREM', set, id) end
			end
		end
	end
end
return 0
`)

// cleanIdempotencyScript removes the idempotency records of tenants that
// do not exist. ARGV: tenant ids. Answers how many records it removed.
var cleanIdempotencyScript = redis.NewScript(`
local n = 0
for _, tid in ipairs(ARGV) do
	if redis.call('EXISTS', 'mnemo:tenant:' .. tid) == 0 then
		n = n + redis.call('HLEN', 'mnemo:idem:' .. tid)
		redis.call('DEL', 'mnemo:idem:' .. tid)
	end
end
return n
`)

// reconcileIncarnationsScript closes the open incarnations of each id but
// its tenant's current one, and gives a tenant without its incarnation's
// record one (and its place in the tenants' index). ARGV: now, then
// tenant ids. Answers how many records it closed or added.
var reconcileIncarnationsScript = redis.NewScript(luaRegistryLib + `
local n = 0
for i = 2, #ARGV do
	local tid, cur = ARGV[i], nil
	local tk = 'mnemo:tenant:' .. tid
	if redis.call('EXISTS', tk) == 1 then
		cur = redis.call('HGET', tk, 'incarnation')
		if not cur then
			cur = '1'
			redis.call('HSET', tk, 'incarnation', cur)
		end
		local created = redis.call('HGET', tk, 'created_at') or '0'
		redis.call('ZADD', 'mnemo:tenants', 'NX', created, tid)
		local ik = 'mnemo:incarnation:' .. tid .. ':' .. cur
		if redis.call('EXISTS', ik) == 0 then
			redis.call('HSET', ik, 'tenant_id', tid, 'incarnation', cur, 'created_at', created)
			n = n + 1
		end
		redis.call('ZADD', 'mnemo:incarnations:' .. tid, cur, cur)
	end
	n = n + close_incarnations(tid, ARGV[1], cur)
end
return n
`)

// CleanOrphans removes what refers to what no longer exists: keys of a
// deleted tenant (with their grants, as DeleteTenant), then OAuth's
// orphans, idempotency records of a deleted tenant; it closes an
// incarnation whose tenant is gone and gives a tenant without one its
// record. Lookup entries and key sets that name nothing are repaired
// without being counted. It walks the keyspace with SCAN, a page per
// script, once at start.
func (r *Registry) CleanOrphans(ctx context.Context, now time.Time) (map[string]int64, error) {
	removed := map[string]int64{"keys": 0, "idempotency": 0, "incarnations": 0}
	// run sends a page of ids to script after head, counting under kind.
	run := func(kind string, script *redis.Script, head ...any) func(ids []any) error {
		return func(ids []any) error {
			n, err := r.runCode(ctx, script, nil, append(head[:len(head):len(head)], ids...)...)
			if kind != "" {
				removed[kind] += n
			}
			return err
		}
	}
	if err := r.scanIDs(ctx, "mnemo:key:", "hash", run("keys", cleanKeysScript)); err != nil {
		return removed, err
	}
	if err := r.scanIDs(ctx, "mnemo:keyhash:", "string", run("", cleanKeyIndexesScript, "hash")); err != nil {
		return removed, err
	}
	if err := r.scanIDs(ctx, "mnemo:tenantkeys:", "set", run("", cleanKeyIndexesScript, "set")); err != nil {
		return removed, err
	}
	if err := r.cleanOAuthOrphans(ctx, now, removed); err != nil {
		return removed, err
	}
	if err := r.scanIDs(ctx, "mnemo:idem:", "hash", run("idempotency", cleanIdempotencyScript)); err != nil {
		return removed, err
	}
	// Every id with a tenant or an incarnation, each once.
	seen := map[string]bool{}
	collect := func(ids []any) error {
		for _, id := range ids {
			seen[id.(string)] = true
		}
		return nil
	}
	if err := r.scanIDs(ctx, "mnemo:incarnations:", "zset", collect); err != nil {
		return removed, err
	}
	if err := r.scanIDs(ctx, "mnemo:tenant:", "hash", collect); err != nil {
		return removed, err
	}
	ids := make([]any, 0, len(seen))
	for _, id := range slices.Sorted(maps.Keys(seen)) {
		ids = append(ids, id)
	}
	reconcile := run("incarnations", reconcileIncarnationsScript, usec(now))
	for start := 0; start < len(ids); start += scanPage {
		if err := reconcile(ids[start:min(start+scanPage, len(ids))]); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// scanPage is how many names a SCAN step asks for, and a script takes.
const scanPage = 500

// scanIDs calls fn with each page of the ids of the keys of type typ whose
// names are prefix+id (the type keeps out other parts' keys under the same
// prefix, such as idempotency's index). An id SCAN returns twice is seen
// twice: the scripts above are idempotent.
func (r *Registry) scanIDs(ctx context.Context, prefix, typ string, fn func(ids []any) error) error {
	var cursor uint64
	for {
		names, next, err := r.rdb.ScanType(ctx, cursor, prefix+"*", scanPage, typ).Result()
		if err != nil {
			return regErr(ctx, "SCAN", err)
		}
		if len(names) > 0 {
			ids := make([]any, len(names))
			for i, n := range names {
				ids[i] = strings.TrimPrefix(n, prefix)
			}
			if err := fn(ids); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}
