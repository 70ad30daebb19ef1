package falkordb

// The tenants of the registry, in plain Redis structures. Every write that
// touches more than one key is one Lua script, so it is atomic across
// replicas; reads take one round trip for the registry and, for stats, one
// pipeline to the tenants' graphs.
//
// Key layout (times are integer Unix microseconds, UTC, in decimal):
//
//	mnemo:tenant:<id>           HASH id, name, status, status_reason, created_at,
//	                            updated_at, incarnation, and when set rate_rps,
//	                            rate_burst, max_memories, max_storage_mb
//	mnemo:tenants               ZSET of tenant ids scored by created_at: paging
//	                            oldest first, ties by id (Redis orders equal
//	                            scores by member bytes, as SQLite orders text)
//	mnemo:incarnation:<id>:<n>  HASH tenant_id, incarnation, created_at, and
//	                            deleted_at once closed
//	mnemo:incarnations:<id>     ZSET of the id's incarnation numbers (score n):
//	                            the latest is the highest
//	mnemo:closedincarnations    ZSET of "<id>:<n>" scored by deleted_at, for
//	                            the pruner
//
// The keys' names are in keys.go, the audit's in audit.go, usage's in
// usage.go. DeleteTenant also removes what OAuth and idempotency keep for
// the tenant: mnemo:oauth:keygrants:<key id> (a set of grant hashes, hex)
// with each mnemo:oauth:grant:<hash>, and mnemo:idem:<tenant id>.
//
// Scripts build key names from the tenant and key ids they are given, so
// they assume one Redis server (not a cluster), as the layout above does.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/redis/go-redis/v9"
)

var (
	_ mnemo.TenantRegistry = (*Registry)(nil)
	_ mnemo.KeyRegistry    = (*Registry)(nil)
	_ mnemo.AuditLog       = (*Registry)(nil)
	_ mnemo.UsageLog       = (*Registry)(nil)
	_ mnemo.RecordPruner   = (*Registry)(nil)
)

const (
	tenantsName            = "mnemo:tenants"
	closedIncarnationsName = "mnemo:closedincarnations"
)

func tenantName(id string) string       { return "mnemo:tenant:" + id }
func incarnationsName(id string) string { return "mnemo:incarnations:" + id }

// luaRegistryLib are the Lua functions the registry's scripts share. Lua
// prints a number of 15 digits or more with an exponent, so numbers are
// written back with string.format('%d') and times are stored as the
// strings Go sent.
const luaRegistryLib = `
local function latest_incarnation(tid)
	local top = redis.call('ZRANGE', 'mnemo:incarnations:' .. tid, 0, 0, 'REV')
	if #top == 0 then return 0 end
	return tonumber(top[1])
end

-- token_taken: the lookup entry names a key that exists (a dangling entry,
-- left by a hand edit, does not hold a token).
local function token_taken(keyhash)
	local id = redis.call('GET', keyhash)
	return id and redis.call('EXISTS', 'mnemo:key:' .. id) == 1
end

-- delete_key removes a key with its lookup entry and its OAuth grants.
local function delete_key(id)
	local kk = 'mnemo:key:' .. id
	local h = redis.call('HGET', kk, 'hash')
	if h then
		local hk = 'mnemo:keyhash:' .. h
		if redis.call('GET', hk) == id then redis.call('DEL', hk) end
	end
	local gs = 'mnemo:oauth:keygrants:' .. id
	for _, g in ipairs(redis.call('SMEMBERS', gs)) do
		redis.call('DEL', 'mnemo:oauth:grant:' .. g)
	end
	redis.call('DEL', gs, kk)
end

-- put_tenant writes tenant tid (the hash, with fields: its other
-- field/value pairs) and lists it.
local function put_tenant(tid, created, inc, fields)
	redis.call('HSET', 'mnemo:tenant:' .. tid, 'id', tid, 'created_at', created, 'incarnation', inc, unpack(fields))
	redis.call('ZADD', 'mnemo:tenants', created, tid)
end

-- put_incarnation writes incarnation inc (a string) of tid, open.
local function put_incarnation(tid, inc, created)
	redis.call('HSET', 'mnemo:incarnation:' .. tid .. ':' .. inc, 'tenant_id', tid, 'incarnation', inc, 'created_at', created)
	redis.call('ZADD', 'mnemo:incarnations:' .. tid, inc, inc)
end

-- close_incarnation closes incarnation inc of tid at at.
local function close_incarnation(tid, inc, at)
	redis.call('HSET', 'mnemo:incarnation:' .. tid .. ':' .. inc, 'tenant_id', tid, 'incarnation', inc, 'deleted_at', at)
	redis.call('ZADD', 'mnemo:closedincarnations', at, tid .. ':' .. inc)
end

-- put_key writes key kid of tenant tid (fields: the hash's field/value
-- pairs) with its token's lookup entry keyhash (a key name).
local function put_key(tid, kid, keyhash, fields)
	redis.call('HSET', 'mnemo:key:' .. kid, unpack(fields))
	redis.call('SET', keyhash, kid)
	redis.call('SADD', 'mnemo:tenantkeys:' .. tid, kid)
end

-- close_incarnations closes the id's open incarnations at now, but keep,
-- and returns how many it closed.
local function close_incarnations(tid, now, keep)
	local n = 0
	for _, inc in ipairs(redis.call('ZRANGE', 'mnemo:incarnations:' .. tid, 0, -1)) do
		if inc ~= keep and redis.call('HEXISTS', 'mnemo:incarnation:' .. tid .. ':' .. inc, 'deleted_at') == 0 then
			close_incarnation(tid, inc, now)
			n = n + 1
		end
	end
	return n
end
`

func usec(t time.Time) string { return strconv.FormatInt(t.UTC().UnixMicro(), 10) }

func fromUsec(s string) (time.Time, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("falkordb: registry time %q: %w", s, err)
	}
	return time.UnixMicro(v).UTC(), nil
}

// optUsec reads an optional time field.
func optUsec(h map[string]string, field string) (*time.Time, error) {
	s, ok := h[field]
	if !ok {
		return nil, nil
	}
	t, err := fromUsec(s)
	return &t, err
}

// regErr maps a go-redis error of the registry as the store maps its own:
// a server that cannot answer now is EUNAVAILABLE with Retry-After, whose
// message holds neither the server's words nor anything of the request.
func regErr(ctx context.Context, cmd string, err error) error {
	if err == nil {
		return nil
	}
	return storeErr(classify(ctx, cmd, err))
}

// runScript runs a registry script; a false or nil answer is (nil, nil).
func (r *Registry) runScript(ctx context.Context, s *redis.Script, keys []string, args ...any) (any, error) {
	v, err := s.Run(ctx, r.rdb, keys, args...).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, regErr(ctx, "EVALSHA", err)
	}
	return v, nil
}

// runCode runs a script that answers with an integer code.
func (r *Registry) runCode(ctx context.Context, s *redis.Script, keys []string, args ...any) (int64, error) {
	v, err := r.runScript(ctx, s, keys, args...)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("falkordb: registry script answered %T, want an integer", v)
	}
	return n, nil
}

// flatHash reads HGETALL's answer as a script returns it: a flat list.
func flatHash(v any) map[string]string {
	list, _ := v.([]any)
	h := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		h[k], _ = list[i+1].(string)
	}
	return h
}

// tenantFields are t's fields as HSET arguments, and the optional ones it
// lacks (for HDEL). The id, creation time and incarnation are written by
// CreateTenant alone.
func tenantFields(t *mnemo.Tenant) (set []any, unset []any) {
	set = []any{"name", t.Name, "status", t.Status, "status_reason", t.StatusReason, "updated_at", usec(t.UpdatedAt)}
	if rl := t.RateLimit; rl != nil {
		set = append(set, "rate_rps", formatFloat(rl.RequestsPerSecond), "rate_burst", strconv.Itoa(rl.Burst))
	} else {
		unset = append(unset, "rate_rps", "rate_burst")
	}
	if m := t.Quotas.MaxMemories; m != nil {
		set = append(set, "max_memories", strconv.FormatInt(*m, 10))
	} else {
		unset = append(unset, "max_memories")
	}
	if mb := t.Quotas.MaxStorageMB; mb != nil {
		set = append(set, "max_storage_mb", formatFloat(*mb))
	} else {
		unset = append(unset, "max_storage_mb")
	}
	return set, unset
}

// formatFloat writes f with the fewest digits that read back exactly.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// decodeTenant reads a tenant hash; nil when it is empty (no such tenant).
func decodeTenant(h map[string]string) (*mnemo.Tenant, error) {
	if len(h) == 0 || h["id"] == "" {
		return nil, nil
	}
	t := &mnemo.Tenant{ID: h["id"], Name: h["name"], Status: h["status"], StatusReason: h["status_reason"], Incarnation: 1}
	var err error
	if t.CreatedAt, err = fromUsec(h["created_at"]); err != nil {
		return nil, err
	}
	if t.UpdatedAt, err = fromUsec(h["updated_at"]); err != nil {
		return nil, err
	}
	if s, ok := h["incarnation"]; ok {
		if t.Incarnation, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, fmt.Errorf("falkordb: tenant %s incarnation: %w", t.ID, err)
		}
	}
	if s, ok := h["rate_rps"]; ok {
		rl := &mnemo.RateLimit{}
		if rl.RequestsPerSecond, err = strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("falkordb: tenant %s rate_rps: %w", t.ID, err)
		}
		if rl.Burst, err = strconv.Atoi(h["rate_burst"]); err != nil {
			return nil, fmt.Errorf("falkordb: tenant %s rate_burst: %w", t.ID, err)
		}
		t.RateLimit = rl
	}
	if s, ok := h["max_memories"]; ok {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("falkordb: tenant %s max_memories: %w", t.ID, err)
		}
		t.Quotas.MaxMemories = &v
	}
	if s, ok := h["max_storage_mb"]; ok {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("falkordb: tenant %s max_storage_mb: %w", t.ID, err)
		}
		t.Quotas.MaxStorageMB = &v
	}
	return t, nil
}

func errTenantNotFound(id string) error {
	return mnemo.Errorf(mnemo.ENOTFOUND, "Tenant '%s' not found", id)
}

// Codes the scripts that create keys answer with, and their errors.
const (
	codeTenantExists  = -1
	codeTokenTaken    = -2
	codeKeyIDTaken    = -3
	codeTenantMissing = -4
)

func keyScriptErr(code int64, tenantID, keyID string) error {
	switch code {
	case codeTenantExists:
		return mnemo.Errorf(mnemo.ECONFLICT, "Tenant '%s' already exists", tenantID)
	case codeTokenTaken:
		return mnemo.Errorf(mnemo.ECONFLICT, "'api_token' is already in use; choose another token")
	case codeKeyIDTaken:
		return mnemo.Errorf(mnemo.ECONFLICT, "Key '%s' already exists", keyID)
	case codeTenantMissing:
		return errTenantNotFound(tenantID)
	}
	return nil
}

// createTenantScript creates a tenant, its incarnation and its first key.
// KEYS: tenant, tenants, key, keyhash, tenantkeys, incarnations.
// ARGV: tenant id, key id, created_at, the number of tenant arguments,
// the tenant's field/value pairs, the key's. Answers the incarnation, or
// a code (keyScriptErr): the id, the token or the key id is taken.
var createTenantScript = redis.NewScript(luaRegistryLib + `
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
if token_taken(KEYS[4]) then return -2 end
if redis.call('EXISTS', KEYS[3]) == 1 then return -3 end
local tid, kid, created = ARGV[1], ARGV[2], ARGV[3]
local inc = string.format('%d', latest_incarnation(tid) + 1)
local n = tonumber(ARGV[4])
put_tenant(tid, created, inc, {unpack(ARGV, 5, 4 + n)})
put_incarnation(tid, inc, created)
put_key(tid, kid, KEYS[4], {unpack(ARGV, 5 + n)})
return tonumber(inc)
`)

// CreateTenant creates t with its first key in one script: a taken id or
// token is ECONFLICT and creates nothing. It sets t.Incarnation.
func (r *Registry) CreateTenant(ctx context.Context, t *mnemo.Tenant, key *mnemo.Key, keyHash []byte) error {
	set, _ := tenantFields(t)
	kf := keyFields(key, t.ID, keyHash)
	args := append([]any{t.ID, key.ID, usec(t.CreatedAt), len(set)}, set...)
	code, err := r.runCode(ctx, createTenantScript,
		[]string{tenantName(t.ID), tenantsName, apiKeyName(key.ID), keyHashName(keyHash), tenantKeysName(t.ID), incarnationsName(t.ID)},
		append(args, kf...)...)
	if err != nil {
		return err
	}
	if code < 0 {
		return keyScriptErr(code, t.ID, key.ID)
	}
	t.Incarnation = code
	return nil
}

// Tenant returns one tenant with its stats, in one round trip: the hash
// and the graph's counters and memory in one pipeline.
func (r *Registry) Tenant(ctx context.Context, id string) (*mnemo.Tenant, error) {
	h, err := r.rdb.HGetAll(ctx, tenantName(id)).Result()
	if err != nil {
		return nil, regErr(ctx, "HGETALL", err)
	}
	t, err := decodeTenant(h)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, errTenantNotFound(id)
	}
	// The graph's server (the shared state may be on another, REDIS_URL).
	pipe := r.c.rdb.Pipeline()
	st := r.queueStats(ctx, pipe, id)
	// One tenant's view counts its graph's nodes and edges, which the
	// list does not: a graph mnemo made holds only memories (and mnemo's
	// counters node, not counted), but an adopted AutoMem graph may hold
	// others. Each count alone is one FalkorDB keeps (0.2-0.4 ms at 100k
	// nodes); a filter in the count would scan every node (90 ms).
	counts := make([]*redis.Cmd, 3)
	for i, q := range []string{`MATCH (n) RETURN count(n)`, `MATCH (c:MnemoCounters) RETURN count(c)`, `MATCH ()-[r]->() RETURN count(r)`} {
		counts[i] = pipe.Do(ctx, "GRAPH.RO_QUERY", GraphName(id), q, "--compact")
	}
	_, _ = pipe.Exec(ctx) // each command's error is read below
	if t.Stats, err = st.read(ctx); err != nil {
		return nil, err
	}
	var n [3]int64
	for i, c := range counts {
		v, err := c.Result()
		if err != nil {
			return t, nil // no graph yet, or it went: the counters' stats stand
		}
		res, err := decodeResult(v)
		if err != nil || len(res.Rows) != 1 {
			return t, nil
		}
		n[i] = integer(res.Rows[0][0])
	}
	t.Stats.GraphNodes, t.Stats.GraphRelationships = n[0]-n[1], n[2]
	return t, nil
}

// tenantsScript reads a page of tenants atomically. KEYS: tenants.
// ARGV: offset, limit (-1: all). Answers {total, {hash, ...}}.
var tenantsScript = redis.NewScript(`
local total = redis.call('ZCARD', KEYS[1])
local start, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
if limit ~= 0 then
	local stop = -1
	if limit > 0 then stop = start + limit - 1 end
	for _, id in ipairs(redis.call('ZRANGE', KEYS[1], start, stop)) do
		out[#out + 1] = redis.call('HGETALL', 'mnemo:tenant:' .. id)
	end
end
return {total, out}
`)

// Tenants returns a page of tenants, oldest first, and how many there are:
// the page in one script, then the stats of all of its tenants in one
// pipeline. A negative limit means no limit, as in SQLite.
func (r *Registry) Tenants(ctx context.Context, limit, offset int) ([]*mnemo.Tenant, int, error) {
	v, err := r.runScript(ctx, tenantsScript, []string{tenantsName}, max(offset, 0), max(limit, -1))
	if err != nil {
		return nil, 0, err
	}
	reply, _ := v.([]any)
	if len(reply) != 2 {
		return nil, 0, fmt.Errorf("falkordb: tenants script answered %v", v)
	}
	total, _ := reply[0].(int64)
	hashes, _ := reply[1].([]any)
	out := make([]*mnemo.Tenant, 0, len(hashes))
	for _, h := range hashes {
		t, err := decodeTenant(flatHash(h))
		if err != nil {
			return nil, 0, err
		}
		if t != nil {
			out = append(out, t)
		}
	}
	if len(out) > 0 {
		pipe := r.c.rdb.Pipeline() // the graphs' server
		stats := make([]graphStats, len(out))
		for i, t := range out {
			stats[i] = r.queueStats(ctx, pipe, t.ID)
		}
		_, _ = pipe.Exec(ctx)
		for i, t := range out {
			if t.Stats, err = stats[i].read(ctx); err != nil {
				return nil, 0, err
			}
		}
	}
	return out, int(total), nil
}

// graphStats are a tenant graph's counters and memory, queued in a
// pipeline.
type graphStats struct{ counters, memory *redis.Cmd }

// queueStats queues the reads of tenantID's stats: its counters node and
// GRAPH.MEMORY USAGE. Nothing scans the tenant's memories.
func (r *Registry) queueStats(ctx context.Context, pipe redis.Pipeliner, tenantID string) graphStats {
	g := GraphName(tenantID)
	return graphStats{
		counters: pipe.Do(ctx, "GRAPH.RO_QUERY", g, countersCypher, "--compact"),
		memory:   pipe.Do(ctx, "GRAPH.MEMORY", "USAGE", g),
	}
}

// read returns the stats; a graph that does not exist yet has none.
func (s graphStats) read(ctx context.Context) (mnemo.TenantStats, error) {
	var st mnemo.TenantStats
	v, err := s.counters.Result()
	if isEmptyKey(err) {
		return st, nil
	}
	if err != nil {
		return st, regErr(ctx, "GRAPH.RO_QUERY", err)
	}
	res, err := decodeResult(v)
	if err != nil {
		return st, fmt.Errorf("falkordb: tenant counters: %w", err)
	}
	if len(res.Rows) == 1 {
		st, _, _ = countersFromRow(res.Rows[0])
	}
	mb, err := s.memory.Result()
	switch {
	case err == nil:
		st.StorageBytes = storageBytes(memoryUsageMB(mb), st.StoredBytes)
	case errors.Is(classify(ctx, "GRAPH.MEMORY", err), ErrUnavailable):
		return st, regErr(ctx, "GRAPH.MEMORY", err)
	}
	return st, nil
}

// isEmptyKey reports FalkorDB's answer about a graph that does not exist.
func isEmptyKey(err error) bool {
	var rerr redis.Error
	return err != nil && errors.As(err, &rerr) && strings.Contains(err.Error(), "empty key")
}

// updateTenantScript writes fields of a hash that exists. KEYS: the hash.
// ARGV: the number of field/value arguments, them, then fields to remove.
var updateTenantScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + n))
if #ARGV > 1 + n then redis.call('HDEL', KEYS[1], unpack(ARGV, 2 + n)) end
return 1
`)

// UpdateTenant writes t's name, status, reason, rate limit, quotas and
// updated_at; a limit or quota t lacks is removed.
func (r *Registry) UpdateTenant(ctx context.Context, t *mnemo.Tenant) error {
	set, unset := tenantFields(t)
	n, err := r.runCode(ctx, updateTenantScript, []string{tenantName(t.ID)}, append(append([]any{len(set)}, set...), unset...)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return errTenantNotFound(t.ID)
	}
	return nil
}

// deleteTenantScript removes a tenant, its keys with their lookup entries
// and OAuth grants, and its idempotency records, and closes its
// incarnation. KEYS: tenant, tenants, tenantkeys, idempotency hash.
// ARGV: tenant id, now. Answers 0 when there is no such tenant.
var deleteTenantScript = redis.NewScript(luaRegistryLib + `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, kid in ipairs(redis.call('SMEMBERS', KEYS[3])) do delete_key(kid) end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
redis.call('ZREM', KEYS[2], ARGV[1])
close_incarnations(ARGV[1], ARGV[2], nil)
return 1
`)

// DeleteTenant removes the tenant with its keys, their OAuth grants and
// its idempotency records in one script: its tokens stop working when it
// returns. Its incarnation is closed (at this process's clock, as SQLite
// does), not removed: its usage and audit stay under it.
func (r *Registry) DeleteTenant(ctx context.Context, id string) error {
	n, err := r.runCode(ctx, deleteTenantScript,
		[]string{tenantName(id), tenantsName, tenantKeysName(id), idemKey(id)}, id, usec(time.Now()))
	if err != nil {
		return err
	}
	if n == 0 {
		return errTenantNotFound(id)
	}
	return nil
}
