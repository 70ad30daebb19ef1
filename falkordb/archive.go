package falkordb

// The registry's half of a logical backup (mnemo.RegistryArchiver): a dump
// of every record, and a load into an empty registry, through the same
// Lua functions and field builders the live writes use (tenants.go,
// keys.go, oauth.go, audit.go, usage.go), so a loaded registry holds
// exactly the structures those writes make.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strconv"

	"github.com/mnemohq/mnemo"
	"github.com/redis/go-redis/v9"
)

var _ mnemo.RegistryArchiver = (*Registry)(nil)

// dumpRegistryScript reads, in one script, so at one instant, every
// incarnation, tenant, key, OAuth client and OAuth grant. KEYS: none (the
// names are built from what it reads, as every registry script does).
// Answers {incarnations, tenants, keys, clients, grants}: lists of
// HGETALL replies, a grant as {hash hex, HGETALL}.
//
// Incarnations are found through the ids of the tenants and of the closed
// incarnations (every incarnation is its tenant's open one or closed);
// keys through their tenant's set, as Keys reads them; clients through
// the two client indexes; grants through the expiry index, which lists
// every grant (a member whose grant is gone reads as empty).
//
// Its cost is one HGETALL per record and the reply: on the 2-core test
// machine a registry of 10,000 tenants with 3 keys each (50,000 records)
// takes 0.3-0.45 s of the server's time (TestDumpRegistryAtScale), during
// which the server answers no one else, and it grows linearly. That is
// the price of one instant without a change to every write script; the
// logs, which grow without bound, are read after it in pages. Past some
// 100,000 tenants it nears Redis's busy-script threshold (5 s), and the
// read would have to be paged under WATCH instead (not built).
var dumpRegistryScript = redis.NewScript(`
local tids = redis.call('ZRANGE', 'mnemo:tenants', 0, -1)
local ids, seen = {}, {}
local function add(id)
	if not seen[id] then seen[id] = true; ids[#ids + 1] = id end
end
for _, id in ipairs(tids) do add(id) end
for _, m in ipairs(redis.call('ZRANGE', 'mnemo:closedincarnations', 0, -1)) do
	local id = string.match(m, '^(.*):%d+$')
	if id then add(id) end
end
local incs, tenants, keys, clients, grants = {}, {}, {}, {}, {}
for _, id in ipairs(ids) do
	for _, n in ipairs(redis.call('ZRANGE', 'mnemo:incarnations:' .. id, 0, -1)) do
		incs[#incs + 1] = redis.call('HGETALL', 'mnemo:incarnation:' .. id .. ':' .. n)
	end
end
for _, id in ipairs(tids) do
	tenants[#tenants + 1] = redis.call('HGETALL', 'mnemo:tenant:' .. id)
	for _, kid in ipairs(redis.call('SMEMBERS', 'mnemo:tenantkeys:' .. id)) do
		keys[#keys + 1] = redis.call('HGETALL', 'mnemo:key:' .. kid)
	end
end
for _, set in ipairs({'mnemo:oauth:clients:unused', 'mnemo:oauth:clients:used'}) do
	for _, id in ipairs(redis.call('ZRANGE', set, 0, -1)) do
		clients[#clients + 1] = redis.call('HGETALL', 'mnemo:oauth:client:' .. id)
	end
end
for _, h in ipairs(redis.call('ZRANGE', 'mnemo:oauth:expiry', 0, -1)) do
	local g = redis.call('HGETALL', 'mnemo:oauth:grant:' .. h)
	if #g > 0 then grants[#grants + 1] = {h, g} end
end
return {incs, tenants, keys, clients, grants}
`)

// readRegistryState runs dumpRegistryScript and decodes its answer, in
// the order every backend dumps records (mnemo.RegistryState.Sort). What
// refers to nothing in the dump (a grant of a key or client that is gone,
// left by a hand edit; cleanOrphans would remove it) is left out: a load
// would refuse it.
func (r *Registry) readRegistryState(ctx context.Context) (*mnemo.RegistryState, error) {
	v, err := r.runScript(ctx, dumpRegistryScript, nil)
	if err != nil {
		return nil, err
	}
	parts, _ := v.([]any)
	if len(parts) != 5 {
		return nil, fmt.Errorf("falkordb: dump script answered %T", v)
	}
	list := func(i int) []any { l, _ := parts[i].([]any); return l }
	st := &mnemo.RegistryState{}
	for _, h := range list(0) {
		in, err := decodeIncarnation(flatHash(h))
		if err != nil {
			return nil, err
		}
		st.Incarnations = append(st.Incarnations, *in)
	}
	tenants := map[string]bool{}
	for _, h := range list(1) {
		t, err := decodeTenant(flatHash(h))
		if err != nil {
			return nil, err
		}
		if t != nil {
			st.Tenants = append(st.Tenants, t)
			tenants[t.ID] = true
		}
	}
	keys := map[string]bool{}
	for _, h := range list(2) {
		k, hash, err := decodeKey(flatHash(h))
		if err != nil {
			return nil, err
		}
		if k != nil && tenants[k.TenantID] {
			st.Keys = append(st.Keys, mnemo.KeyRecord{Key: *k, Hash: hash})
			keys[k.ID] = true
		}
	}
	clients := map[string]bool{}
	for _, h := range list(3) {
		f := flatHash(h)
		if f["id"] == "" || clients[f["id"]] {
			continue
		}
		c, active, err := decodeClient(f["id"], f)
		if err != nil {
			return nil, err
		}
		st.Clients = append(st.Clients, mnemo.OAuthClientRecord{Client: *c, ActiveAt: active})
		clients[c.ID] = true
	}
	for _, pair := range list(4) {
		p, _ := pair.([]any)
		if len(p) != 2 {
			return nil, fmt.Errorf("falkordb: dump script answered a grant as %v", pair)
		}
		hx, _ := p[0].(string)
		hash, err := hex.DecodeString(hx)
		if err != nil {
			return nil, fmt.Errorf("falkordb: OAuth grant %q: %w", hx, err)
		}
		f := flatHash(p[1])
		g, err := decodeGrant(hash, f)
		if err != nil {
			return nil, err
		}
		if keys[g.KeyID] && clients[g.ClientID] {
			st.Grants = append(st.Grants, mnemo.OAuthGrantRecord{Grant: *g, Used: f["used"] == "1"})
		}
	}
	st.Sort()
	return st, nil
}

// decodeIncarnation reads an incarnation hash.
func decodeIncarnation(h map[string]string) (*mnemo.IncarnationRecord, error) {
	in := &mnemo.IncarnationRecord{TenantID: h["tenant_id"]}
	var err error
	if in.Incarnation, err = strconv.ParseInt(h["incarnation"], 10, 64); err != nil {
		return nil, fmt.Errorf("falkordb: incarnation of %q: %w", in.TenantID, err)
	}
	if in.CreatedAt, err = fromUsec(h["created_at"]); err != nil {
		return nil, fmt.Errorf("falkordb: incarnation %d of %q: %w", in.Incarnation, in.TenantID, err)
	}
	if in.DeletedAt, err = optUsec(h, "deleted_at"); err != nil {
		return nil, err
	}
	return in, nil
}

// incarnationKey names one incarnation of a tenant id.
type incarnationKey struct {
	tenant string
	n      int64
}

// archivePage is how many audit events, or incarnations' usage, one read
// of a dump takes after its consistent read.
const archivePage = 500

// DumpRegistry yields every record; see mnemo.RegistryArchiver.
// Incarnations, tenants, keys and OAuth state are read by one script, at
// one instant (dumpRegistryScript), and held in memory; then the audit
// log is read by id and the usage of each dumped incarnation, a page per
// round trip, keeping only rows of the dumped incarnations (or of no
// tenant). Usage is written when counted (nothing is buffered), so the
// pages see every count made up to the consistent read.
func (r *Registry) DumpRegistry(ctx context.Context) iter.Seq2[mnemo.RegistryRecord, error] {
	return func(yield func(mnemo.RegistryRecord, error) bool) {
		st, err := r.readRegistryState(ctx)
		if err != nil {
			yield(mnemo.RegistryRecord{}, fmt.Errorf("dump registry: %w", err))
			return
		}
		known := map[incarnationKey]bool{}
		for _, in := range st.Incarnations {
			known[incarnationKey{in.TenantID, in.Incarnation}] = true
		}
		if !st.Yield(yield) || !r.dumpAudit(ctx, known, yield) {
			return
		}
		r.dumpUsage(ctx, st.Incarnations, yield)
	}
}

// auditAfterScript reads events by id, oldest first, after an id. KEYS:
// all, events. ARGV: the exclusive lower bound, count. Answers {ids, the
// events' JSON}.
var auditAfterScript = redis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], '+inf', 'BYSCORE', 'LIMIT', 0, ARGV[2])
if #ids == 0 then return {{}, {}} end
return {ids, redis.call('HMGET', KEYS[2], unpack(ids))}
`)

// dumpAudit yields the audit log by id, a page per script; false when the
// sequence ended. known are the dumped incarnations.
func (r *Registry) dumpAudit(ctx context.Context, known map[incarnationKey]bool, yield func(mnemo.RegistryRecord, error) bool) bool {
	fail := func(err error) bool {
		yield(mnemo.RegistryRecord{}, fmt.Errorf("dump audit: %w", err))
		return false
	}
	for after := "0"; ; {
		v, err := r.runScript(ctx, auditAfterScript, []string{auditAllName, auditEventsName}, after, archivePage)
		if err != nil {
			return fail(err)
		}
		page, _ := v.([]any)
		if len(page) != 2 {
			return fail(fmt.Errorf("the audit script answered %T", v))
		}
		ids, _ := page[0].([]any)
		events, _ := page[1].([]any)
		for i, raw := range events {
			after, _ = ids[i].(string)
			e, err := decodeAuditEvent(raw)
			if err != nil {
				return fail(err)
			}
			if e == nil || e.TenantID != "" && e.Incarnation > 0 && !known[incarnationKey{e.TenantID, e.Incarnation}] {
				continue // pruned meanwhile, or of a tenant created after the consistent read
			}
			if !yield(mnemo.RegistryRecord{Audit: e}, nil) {
				return false
			}
		}
		if len(ids) < archivePage {
			return true
		}
	}
}

// dumpUsage yields the counters of the dumped incarnations (sorted by
// tenant and incarnation), by tenant, incarnation, day and kind: a
// pipeline of archivePage incarnations' hashes per round trip.
func (r *Registry) dumpUsage(ctx context.Context, incs []mnemo.IncarnationRecord, yield func(mnemo.RegistryRecord, error) bool) {
	for page := range slices.Chunk(incs, archivePage) {
		pipe := r.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(page))
		for i, in := range page {
			cmds[i] = pipe.HGetAll(ctx, usageTenantName(in.TenantID, in.Incarnation))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			yield(mnemo.RegistryRecord{}, fmt.Errorf("dump usage: %w", regErr(ctx, "HGETALL", err)))
			return
		}
		for i, in := range page {
			rows, err := incarnationUsage(in.TenantID, in.Incarnation, cmds[i].Val())
			if err != nil {
				yield(mnemo.RegistryRecord{}, fmt.Errorf("dump usage: %w", err))
				return
			}
			for j := range rows {
				if !yield(mnemo.RegistryRecord{Usage: &rows[j]}, nil) {
					return
				}
			}
		}
	}
}

// registryIndexes are the names through which every record of a registry
// is found (dumpRegistryScript, the logs, idempotency's index): a
// registry none of which exists holds no record.
var registryIndexes = []string{tenantsName, closedIncarnationsName, auditAllName, usageDaysName, idemIndex,
	oauthUnusedClientSet, oauthUsedClientSet, oauthExpirySet}

// loadRegistryScript writes records of the registry's own (not the logs)
// with the live writes' Lua functions. KEYS: registryIndexes. ARGV: '1'
// to refuse a registry that is not empty (answering -1, writing nothing),
// then records, each as kind, how many arguments follow, them:
//
//	incarnation  tenant id, incarnation, created_at, deleted_at ('' when open)
//	tenant       id, created_at, incarnation, the hash's other field/value pairs
//	key          key id, tenant id, the lookup entry's name, the hash's field/value pairs
//	client       id, name, redirect_uris, created_at, used_at, active_at ('' when none)
//	grant        grantArgs' nine, then used ('1' or '0')
//
// A client used is written as issueTokensScript leaves one, through
// client_active at its first use and at its last token; one with only one
// of the two times gets both at that time.
var loadRegistryScript = redis.NewScript(luaRegistryLib + oauthLua + `
if ARGV[1] == '1' and redis.call('EXISTS', unpack(KEYS)) > 0 then return -1 end
local i = 2
while i <= #ARGV do
	local kind, n = ARGV[i], tonumber(ARGV[i + 1])
	local a = i + 2
	if kind == 'incarnation' then
		put_incarnation(ARGV[a], ARGV[a + 1], ARGV[a + 2])
		if ARGV[a + 3] ~= '' then close_incarnation(ARGV[a], ARGV[a + 1], ARGV[a + 3]) end
	elseif kind == 'tenant' then
		put_tenant(ARGV[a], ARGV[a + 1], ARGV[a + 2], {unpack(ARGV, a + 3, a + n - 1)})
	elseif kind == 'key' then
		put_key(ARGV[a + 1], ARGV[a], ARGV[a + 2], {unpack(ARGV, a + 3, a + n - 1)})
	elseif kind == 'client' then
		put_client(ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
		for _, at in ipairs({ARGV[a + 4], ARGV[a + 5]}) do
			if at ~= '' then client_active(ARGV[a], at) end
		end
	elseif kind == 'grant' then
		put_grant(grant_args(a))
		if ARGV[a + 9] == '1' then redis.call('HSET', P .. 'grant:' .. ARGV[a], 'used', '1') end
	else
		return redis.error_reply('unknown record kind')
	end
	i = a + n
end
return 1
`)

// loadBatch is how many records one round trip of a load writes.
const loadBatch = 500

// LoadRegistry writes a dump into this registry, which must be empty; see
// mnemo.RegistryArchiver. Records are checked (mnemo.RegistryRecordCheck)
// as they come and written loadBatch at a time: incarnations, tenants,
// keys and OAuth state by loadRegistryScript, audit events by the live
// appendAuditScript given their ids (pipelined), usage by AddUsage with
// the rows' incarnations. Emptiness is checked before the first record is
// read, and again by the first script, atomically with its writes.
func (r *Registry) LoadRegistry(ctx context.Context, records iter.Seq2[mnemo.RegistryRecord, error]) error {
	if n, err := r.rdb.Exists(ctx, registryIndexes...).Result(); err != nil {
		return regErr(ctx, "EXISTS", err)
	} else if n > 0 {
		return errRegistryNotEmpty()
	}
	next, stop := iter.Pull2(records)
	defer stop()
	var check mnemo.RegistryRecordCheck
	for first := true; ; first = false {
		var b loadBuffer
		end := false
		for b.n < loadBatch {
			rec, err, ok := next()
			if !ok {
				end = true
				break
			}
			if err != nil {
				return err
			}
			if err := check.Check(rec); err != nil {
				return err
			}
			if err := b.add(rec); err != nil {
				return err
			}
		}
		if err := r.write(ctx, &b, first); err != nil {
			return fmt.Errorf("load registry: %w", err)
		}
		if end {
			return nil
		}
	}
}

func errRegistryNotEmpty() error {
	return mnemo.Errorf(mnemo.ECONFLICT, "The registry is not empty; a dump loads only into an empty registry")
}

// loadBuffer is a batch of a load, by how it is written.
type loadBuffer struct {
	n     int
	args  []any // loadRegistryScript's records
	audit []*mnemo.AuditEvent
	usage []mnemo.Usage
}

func (b *loadBuffer) add(rec mnemo.RegistryRecord) error {
	b.n++
	var kind string
	var a []any
	switch {
	case rec.Incarnation != nil:
		in := rec.Incarnation
		deleted := ""
		if in.DeletedAt != nil {
			deleted = usec(*in.DeletedAt)
		}
		kind, a = "incarnation", append(a, in.TenantID, in.Incarnation, usec(in.CreatedAt), deleted)
	case rec.Tenant != nil:
		t := rec.Tenant
		set, _ := tenantFields(t)
		kind, a = "tenant", append(append(a, t.ID, usec(t.CreatedAt), t.Incarnation), set...)
	case rec.Key != nil:
		k := rec.Key.Key
		f := keyFields(&k, k.TenantID, rec.Key.Hash)
		if k.RevokedAt != nil {
			f = append(f, "revoked_at", usec(*k.RevokedAt))
		}
		if k.LastUsedAt != nil {
			f = append(f, "last_used_at", usec(*k.LastUsedAt))
		}
		kind, a = "key", append(append(a, k.ID, k.TenantID, keyHashName(rec.Key.Hash)), f...)
	case rec.OAuthClient != nil:
		c := rec.OAuthClient.Client
		uris, err := json.Marshal(c.RedirectURIs)
		if err != nil {
			return err
		}
		used, active := "", ""
		if c.UsedAt != nil {
			used = strconv.FormatInt(stateMicros(*c.UsedAt), 10)
		}
		if at := rec.OAuthClient.ActiveAt; at != nil {
			active = strconv.FormatInt(stateMicros(*at), 10)
		}
		kind, a = "client", append(a, c.ID, c.Name, string(uris), stateMicros(c.CreatedAt), used, active)
	case rec.OAuthGrant != nil:
		g, err := grantArgs(&rec.OAuthGrant.Grant)
		if err != nil {
			return err
		}
		used := "0"
		if rec.OAuthGrant.Used {
			used = "1"
		}
		kind, a = "grant", append(append(a, g...), used)
	case rec.Audit != nil:
		b.audit = append(b.audit, rec.Audit)
		return nil
	case rec.Usage != nil:
		b.usage = append(b.usage, *rec.Usage)
		return nil
	}
	b.args = append(append(b.args, kind, len(a)), a...)
	return nil
}

// write writes a batch in the dump's order: the registry's records, then
// the audit events, then usage. The first batch's script refuses a
// registry that is not empty.
func (r *Registry) write(ctx context.Context, b *loadBuffer, first bool) error {
	if first || len(b.args) > 0 {
		check := "0"
		if first {
			check = "1"
		}
		code, err := r.runCode(ctx, loadRegistryScript, registryIndexes, append([]any{check}, b.args...)...)
		if err != nil {
			return err
		}
		if code == -1 {
			return errRegistryNotEmpty()
		}
	}
	if len(b.audit) > 0 {
		if err := appendAuditScript.Load(ctx, r.rdb).Err(); err != nil {
			return regErr(ctx, "SCRIPT LOAD", err)
		}
		pipe := r.rdb.Pipeline()
		for _, e := range b.audit {
			keys, args, err := appendAuditArgs(e)
			if err != nil {
				return err
			}
			pipe.EvalSha(ctx, appendAuditScript.Hash(), keys, append(args, e.ID)...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return regErr(ctx, "EVALSHA", err)
		}
	}
	return r.AddUsage(ctx, b.usage)
}
