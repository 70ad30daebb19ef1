package falkordb

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/redis/go-redis/v9"
)

// OAuth state, in plain Redis structures that every replica shares. Every
// rule that reads or writes more than one key is one Lua script, so it
// holds across replicas: a code consumed through one replica is used for
// all of them, and a reuse revokes its family before any replica can issue
// from it again. Times are integer Unix microseconds, always the caller's
// (never the server's clock), computed in Go: Lua's numbers are doubles,
// exact for microseconds until the year 2255, but tostring would round
// them, so a script stores times only as the strings it was given.
//
// Key names (DeleteTenant, in tenants.go, deletes the grants listed in a
// key's keygrants set and the set itself; every script here tolerates the
// members that this leaves dangling in the other sets):
//
//	mnemo:oauth:client:<id>           hash: id, name, redirect_uris (JSON),
//	                                  created_at, used_at, active_at
//	mnemo:oauth:clients:unused        sorted set: ids of clients never used, by created_at
//	mnemo:oauth:clients:used          sorted set: ids of clients used, by active_at
//	mnemo:oauth:clientgrants:<id>     set: hex hashes of the client's grants
//	mnemo:oauth:grant:<hash hex>      hash: kind, client_id, key_id, scopes (JSON),
//	                                  redirect_uri, code_challenge, expires_at, family, used
//	mnemo:oauth:expiry                sorted set: hex hashes of every grant, by expires_at
//	mnemo:oauth:family:<family>       set: hex hashes of the family's grants
//	mnemo:oauth:keygrants:<key id>    set: hex hashes of the grants made for the key
//
// A tenant key exists while its hash mnemo:key:<id> does (keys.go).
//
// The scripts name keys they compute from what they read (a grant's
// family, a client's grants), so they need every key on one server: a
// Redis Cluster would need these names hash-tagged first.

const (
	oauthClientKey       = "mnemo:oauth:client:"
	oauthGrantKey        = "mnemo:oauth:grant:"
	oauthUnusedClientSet = "mnemo:oauth:clients:unused"
	oauthUsedClientSet   = "mnemo:oauth:clients:used"
	oauthExpirySet       = "mnemo:oauth:expiry"
)

// oauthLua is the head of every OAuth script: the key names, and how a
// grant or a client is stored and removed with its index entries.
const oauthLua = `
local P = 'mnemo:oauth:'
local EXPIRY = P .. 'expiry'
local UNUSED, USED = P .. 'clients:unused', P .. 'clients:used'

-- del_grant removes a grant and its index entries; 1 if it existed.
local function del_grant(h)
  local g = P .. 'grant:' .. h
  local f = redis.call('HMGET', g, 'key_id', 'client_id', 'family')
  redis.call('ZREM', EXPIRY, h)
  if redis.call('DEL', g) == 0 then return 0 end
  if f[1] then redis.call('SREM', P .. 'keygrants:' .. f[1], h) end
  if f[2] then redis.call('SREM', P .. 'clientgrants:' .. f[2], h) end
  if f[3] then redis.call('SREM', P .. 'family:' .. f[3], h) end
  return 1
end

-- grant_args reads the nine grant arguments that start at ARGV[i].
local function grant_args(i)
  return {hash = ARGV[i], kind = ARGV[i+1], client = ARGV[i+2], key = ARGV[i+3], scopes = ARGV[i+4],
    redirect = ARGV[i+5], challenge = ARGV[i+6], expires = ARGV[i+7], family = ARGV[i+8]}
end

local function put_grant(a)
  redis.call('HSET', P .. 'grant:' .. a.hash, 'kind', a.kind, 'client_id', a.client, 'key_id', a.key,
    'scopes', a.scopes, 'redirect_uri', a.redirect, 'code_challenge', a.challenge,
    'expires_at', a.expires, 'family', a.family, 'used', '0')
  redis.call('ZADD', EXPIRY, a.expires, a.hash)
  redis.call('SADD', P .. 'keygrants:' .. a.key, a.hash)
  redis.call('SADD', P .. 'clientgrants:' .. a.client, a.hash)
  redis.call('SADD', P .. 'family:' .. a.family, a.hash)
end

-- put_client registers a client, unused.
local function put_client(id, name, uris, created)
  redis.call('HSET', P .. 'client:' .. id, 'id', id, 'name', name, 'redirect_uris', uris, 'created_at', created)
  redis.call('ZADD', UNUSED, created, id)
end

-- client_active records a token issued to a client at now: its first use
-- and its last activity.
local function client_active(id, now)
  local client = P .. 'client:' .. id
  redis.call('HSETNX', client, 'used_at', now)
  redis.call('HSET', client, 'active_at', now)
  redis.call('ZREM', UNUSED, id)
  redis.call('ZADD', USED, now, id)
end

-- any_grant reports whether the set holds a grant that exists, dropping
-- the members it finds dangling (left by DeleteTenant) on the way.
local function any_grant(set)
  while true do
    local h = redis.call('SRANDMEMBER', set)
    if not h then return false end
    if redis.call('EXISTS', P .. 'grant:' .. h) == 1 then return true end
    redis.call('SREM', set, h)
  end
end

local function revoke_family(family)
  local set = P .. 'family:' .. family
  for _, h in ipairs(redis.call('SMEMBERS', set)) do del_grant(h) end
  redis.call('DEL', set)
end

-- del_client removes a client with its grants; it returns 1 if the
-- client existed, and how many grants went with it.
local function del_client(id)
  local set, n = P .. 'clientgrants:' .. id, 0
  for _, h in ipairs(redis.call('SMEMBERS', set)) do n = n + del_grant(h) end
  redis.call('DEL', set)
  redis.call('ZREM', UNUSED, id)
  redis.call('ZREM', USED, id)
  return redis.call('DEL', P .. 'client:' .. id), n
end
`

// oauthScript is a script with oauthLua's functions.
func oauthScript(body string) *redis.Script { return redis.NewScript(oauthLua + body) }

// registerClientScript: ARGV id, name, redirect_uris, created_at,
// unused_before ("" for none), max. It checks the cap before it removes
// anything, so a refusal changes nothing.
// Reply: {1} stored; {0, n} full with n clients in use; {-1} the id exists.
var registerClientScript = oauthScript(`
if redis.call('EXISTS', P .. 'client:' .. ARGV[1]) == 1 then return {-1} end
local expired = {}
if ARGV[5] ~= '' then expired = redis.call('ZRANGEBYSCORE', UNUSED, '-inf', '(' .. ARGV[5]) end
local unused = redis.call('ZCARD', UNUSED) - #expired
local n = unused + redis.call('ZCARD', USED)
local max = tonumber(ARGV[6])
local over = 0
if max > 0 then over = n - max + 1 end
if over > unused then return {0, n} end
for _, id in ipairs(expired) do del_client(id) end
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', UNUSED, 0, over - 1)) do del_client(id) end
end
put_client(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return {1}
`)

// The scripts that store grants reply {1} stored, {0} the family is
// revoked (issueTokensScript), {-1} a key is gone, {-2} a grant with the
// hash exists; grantReply reads that.

// saveGrantScript: ARGV the grant.
var saveGrantScript = oauthScript(`
local g = grant_args(1)
if redis.call('EXISTS', 'mnemo:key:' .. g.key) == 0 then return {-1} end
if redis.call('EXISTS', P .. 'grant:' .. g.hash) == 1 then return {-2} end
put_grant(g)
return {1}
`)

// consumeGrantScript: ARGV hash hex, kind, now. Reply: {0} no such
// unexpired grant; {1, fields} consumed; {2, fields} used before, and its
// family now revoked.
var consumeGrantScript = oauthScript(`
local key = P .. 'grant:' .. ARGV[1]
local f = redis.call('HMGET', key, 'kind', 'expires_at', 'used', 'family')
if f[1] ~= ARGV[2] or tonumber(f[2]) <= tonumber(ARGV[3]) then return {0} end
local fields = redis.call('HGETALL', key)
if f[3] == '1' then
  revoke_family(f[4])
  del_grant(ARGV[1])
  return {2, fields}
end
redis.call('HSET', key, 'used', '1')
return {1, fields}
`)

// issueTokensScript: ARGV family, now, the access grant, the refresh
// grant.
var issueTokensScript = oauthScript(`
local family, now = ARGV[1], ARGV[2]
local access, refresh = grant_args(3), grant_args(12)
-- The code or refresh token just consumed is the family's proof of life:
-- a revocation since removed it.
if not any_grant(P .. 'family:' .. family) then return {0} end
for _, g in ipairs({access, refresh}) do
  if redis.call('EXISTS', 'mnemo:key:' .. g.key) == 0 then return {-1} end
  if redis.call('EXISTS', P .. 'grant:' .. g.hash) == 1 then return {-2} end
end
for _, h in ipairs(redis.call('SMEMBERS', P .. 'family:' .. family)) do
  if redis.call('HGET', P .. 'grant:' .. h, 'kind') == 'access' then del_grant(h) end
end
put_grant(access)
put_grant(refresh)
if redis.call('EXISTS', P .. 'client:' .. access.client) == 1 then client_active(access.client, now) end
return {1}
`)

// revokeFamilyScript: ARGV family. Reply: {}.
var revokeFamilyScript = oauthScript(`
revoke_family(ARGV[1])
return {}
`)

// RegisterOAuthClient stores a new public client, first removing the
// clients never used that were registered before unusedBefore, then, at
// max, the oldest never-used ones; see mnemo.OAuthStore.
func (r *Registry) RegisterOAuthClient(ctx context.Context, c *mnemo.OAuthClient, unusedBefore time.Time, maxClients int) error {
	uris, err := json.Marshal(c.RedirectURIs)
	if err != nil {
		return err
	}
	before := ""
	if !unusedBefore.IsZero() {
		before = strconv.FormatInt(stateMicros(unusedBefore), 10)
	}
	reply, err := r.evalState(ctx, registerClientScript, nil, c.ID, c.Name, string(uris), stateMicros(c.CreatedAt), before, maxClients)
	if err != nil {
		return err
	}
	switch replyInt(reply, 0) {
	case 1:
		return nil
	case 0:
		return mnemo.Errorf(mnemo.ETOOMANY, "Client registration is full: %d clients are registered and in use", replyInt(reply, 1))
	default:
		return errors.New("falkordb: an OAuth client with this id exists")
	}
}

// OAuthClient returns a registered client, or ENOTFOUND.
func (r *Registry) OAuthClient(ctx context.Context, id string) (*mnemo.OAuthClient, error) {
	f, err := r.rdb.HGetAll(ctx, oauthClientKey+id).Result()
	if err != nil {
		return nil, limitsErr(ctx, "HGETALL", err)
	}
	if len(f) == 0 {
		return nil, mnemo.Errorf(mnemo.ENOTFOUND, "unknown client_id")
	}
	c, _, err := decodeClient(id, f)
	return c, err
}

// decodeClient reads a client's hash fields, with the time of its last
// token (active_at).
func decodeClient(id string, f map[string]string) (*mnemo.OAuthClient, *time.Time, error) {
	c := &mnemo.OAuthClient{ID: id, Name: f["name"]}
	var active *time.Time
	errs := []error{json.Unmarshal([]byte(f["redirect_uris"]), &c.RedirectURIs)}
	var err error
	c.CreatedAt, err = parseMicros(f["created_at"])
	errs = append(errs, err)
	for _, opt := range []struct {
		field string
		to    **time.Time
	}{{"used_at", &c.UsedAt}, {"active_at", &active}} {
		if s, ok := f[opt.field]; ok {
			at, err := parseMicros(s)
			*opt.to = &at
			errs = append(errs, err)
		}
	}
	if errors.Join(errs...) != nil {
		return nil, nil, errors.New("falkordb: a malformed OAuth client record")
	}
	return c, active, nil
}

// grantArgs are the nine arguments that store g (grant_args in oauthLua).
func grantArgs(g *mnemo.OAuthGrant) ([]any, error) {
	if g.Family == "" {
		return nil, errors.New("falkordb: an OAuth grant needs a family") // or its reuse could not revoke it alone
	}
	scopes, err := json.Marshal(g.Scopes)
	if err != nil {
		return nil, err
	}
	return []any{hex.EncodeToString(g.Hash), g.Kind, g.ClientID, g.KeyID, string(scopes), g.RedirectURI, g.CodeChallenge,
		stateMicros(g.ExpiresAt), g.Family}, nil
}

// SaveOAuthGrant stores a code by its hash, while its key exists.
func (r *Registry) SaveOAuthGrant(ctx context.Context, g *mnemo.OAuthGrant) error {
	args, err := grantArgs(g)
	if err != nil {
		return err
	}
	return grantReply(r.evalState(ctx, saveGrantScript, nil, args...))
}

// grantReply is the error of a script that stores grants.
func grantReply(reply []any, err error) error {
	if err != nil {
		return err
	}
	switch replyInt(reply, 0) {
	case 1:
		return nil
	case 0:
		return mnemo.Errorf(mnemo.EINVALID, "invalid_grant: the authorization was revoked")
	case -1:
		return mnemo.Errorf(mnemo.ENOTFOUND, "the key this grant was made with no longer exists")
	default:
		return errors.New("falkordb: an OAuth grant with this hash exists")
	}
}

// ConsumeOAuthGrant returns an unexpired grant of the given kind and marks
// it used, in one script: a code or a refresh token works once. One
// presented again revokes its family in the same script.
func (r *Registry) ConsumeOAuthGrant(ctx context.Context, kind string, hash []byte, now time.Time) (*mnemo.OAuthGrant, error) {
	reply, err := r.evalState(ctx, consumeGrantScript, nil, hex.EncodeToString(hash), kind, stateMicros(now))
	if err != nil {
		return nil, err
	}
	code := replyInt(reply, 0)
	if code == 0 {
		return nil, mnemo.Errorf(mnemo.EINVALID, "invalid_grant")
	}
	var fields map[string]string
	if len(reply) > 1 {
		fields = replyFields(reply[1])
	}
	g, err := decodeGrant(hash, fields)
	if err != nil {
		return nil, err
	}
	if code == 2 {
		return nil, &mnemo.GrantReusedError{Err: mnemo.Errorf(mnemo.EINVALID, "invalid_grant: used before; its family is revoked"), Grant: g}
	}
	return g, nil
}

// IssueOAuthTokens stores the tokens of a rotation in one script; see
// mnemo.OAuthStore.
func (r *Registry) IssueOAuthTokens(ctx context.Context, access, refresh *mnemo.OAuthGrant, now time.Time) error {
	args := []any{access.Family, stateMicros(now)}
	for _, g := range []*mnemo.OAuthGrant{access, refresh} {
		a, err := grantArgs(g)
		if err != nil {
			return err
		}
		args = append(args, a...)
	}
	return grantReply(r.evalState(ctx, issueTokensScript, nil, args...))
}

// grant reads one grant, nil when there is none.
func (r *Registry) grant(ctx context.Context, hash []byte) (*mnemo.OAuthGrant, error) {
	f, err := r.rdb.HGetAll(ctx, oauthGrantKey+hex.EncodeToString(hash)).Result()
	if err != nil || len(f) == 0 {
		return nil, limitsErr(ctx, "HGETALL", err)
	}
	return decodeGrant(hash, f)
}

// AccessGrant returns the access token with hash, expired or not: expiry is
// the caller's to check (an expired token is not a guess).
func (r *Registry) AccessGrant(ctx context.Context, hash []byte, _ time.Time) (*mnemo.OAuthGrant, error) {
	g, err := r.grant(ctx, hash)
	if err == nil && (g == nil || g.Kind != mnemo.GrantAccess) {
		return nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	return g, err
}

// OAuthToken returns the access or refresh token with hash, in any state.
func (r *Registry) OAuthToken(ctx context.Context, hash []byte) (*mnemo.OAuthGrant, error) {
	g, err := r.grant(ctx, hash)
	if err == nil && (g == nil || g.Kind != mnemo.GrantAccess && g.Kind != mnemo.GrantRefresh) {
		return nil, mnemo.Errorf(mnemo.ENOTFOUND, "unknown token")
	}
	return g, err
}

// RevokeOAuthFamily removes every grant of a family.
func (r *Registry) RevokeOAuthFamily(ctx context.Context, family string) error {
	_, err := r.evalState(ctx, revokeFamilyScript, nil, family)
	return err
}

// decodeGrant reads a grant's hash fields.
func decodeGrant(hash []byte, f map[string]string) (*mnemo.OAuthGrant, error) {
	g := &mnemo.OAuthGrant{Hash: hash, Kind: f["kind"], ClientID: f["client_id"], KeyID: f["key_id"],
		RedirectURI: f["redirect_uri"], CodeChallenge: f["code_challenge"], Family: f["family"]}
	var err error
	g.ExpiresAt, err = parseMicros(f["expires_at"])
	if err = errors.Join(err, json.Unmarshal([]byte(f["scopes"]), &g.Scopes)); err != nil {
		return nil, errors.New("falkordb: a malformed OAuth grant record")
	}
	return g, nil
}

// The helpers below serve every part of the shared state in this file and
// idempotency.go.

// evalState runs a script that replies with an array; errors are mapped
// as limits.go maps them (run, limitsErr).
func (r *Registry) evalState(ctx context.Context, s *redis.Script, keys []string, args ...any) ([]any, error) {
	cmd, err := run(ctx, r.rdb, s, keys, args...)
	if err != nil {
		return nil, err
	}
	reply, err := cmd.Slice()
	if err != nil {
		// Not scriptReply: the command's text would carry the arguments
		// (hashes, fingerprints) into the log.
		return nil, &QueryError{Command: "EVALSHA", Message: "a script replied with no array"}
	}
	return reply, nil
}

// replyInt is the integer at i of a script's reply, 0 when there is none.
func replyInt(reply []any, i int) int64 {
	if i >= len(reply) {
		return 0
	}
	n, _ := reply[i].(int64)
	return n
}

// replyFields reads HGETALL's flat list of names and values, as a script
// returns it.
func replyFields(v any) map[string]string {
	list, _ := v.([]any)
	f := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		name, _ := list[i].(string)
		value, _ := list[i+1].(string)
		f[name] = value
	}
	return f
}

// stateMicros is how the shared state stores a time: Unix microseconds.
func stateMicros(t time.Time) int64 { return t.UTC().UnixMicro() }

func parseMicros(s string) (time.Time, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	return time.UnixMicro(v).UTC(), err
}

// Retention: Prune and CleanOrphans (retention.go) call pruneOAuth and
// cleanOAuthOrphans.

// The pruning scripts take their cutoffs, then offset and batch: each
// looks at up to batch entries of its range from offset, and replies
// {looked at, kept, removed...}. What a script keeps stays at the front of
// its range, so the next one starts after it (pruneBatches).

// pruneGrantsScript: ARGV expired_before, offset, batch. Reply: {looked
// at, 0, grants removed}.
var pruneGrantsScript = oauthScript(`
local hs = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', '(' .. ARGV[1], 'LIMIT', ARGV[2], ARGV[3])
local n = 0
for _, h in ipairs(hs) do n = n + del_grant(h) end
return {#hs, 0, n}
`)

// pruneUnusedClientsScript: ARGV registered_before, offset, batch. Reply:
// {looked at, 0, clients removed, grants removed}.
var pruneUnusedClientsScript = oauthScript(`
local ids = redis.call('ZRANGEBYSCORE', UNUSED, '-inf', '(' .. ARGV[1], 'LIMIT', ARGV[2], ARGV[3])
local clients, grants = 0, 0
for _, id in ipairs(ids) do
  local c, g = del_client(id)
  clients, grants = clients + c, grants + g
end
return {#ids, 0, clients, grants}
`)

// pruneIdleClientsScript: ARGV active_before, offset, batch. It removes
// the used clients last active before active_before that hold no grant.
// Reply: {looked at, kept, clients removed}.
var pruneIdleClientsScript = oauthScript(`
local ids = redis.call('ZRANGEBYSCORE', USED, '-inf', '(' .. ARGV[1], 'LIMIT', ARGV[2], ARGV[3])
local removed, kept = 0, 0
for _, id in ipairs(ids) do
  if any_grant(P .. 'clientgrants:' .. id) then
    kept = kept + 1
  else
    removed = removed + del_client(id)
  end
end
return {#ids, kept, removed}
`)

// pruneBatches runs a pruning script, args then offset and batch, until
// it looks at fewer than batch entries, and passes count each reply.
func (r *Registry) pruneBatches(ctx context.Context, s *redis.Script, keys []string, batch int, count func(reply []any), args ...any) error {
	batch = max(batch, 1)
	var offset int64
	for {
		reply, err := r.evalState(ctx, s, keys, append(args[:len(args):len(args)], offset, batch)...)
		if err != nil {
			return err
		}
		count(reply)
		offset += replyInt(reply, 1)
		if replyInt(reply, 0) < int64(batch) {
			return nil
		}
	}
}

// pruneOAuth removes the grants expired before c.OAuthGrants, the clients
// never used registered before c.UnusedOAuthClients with their codes, and
// the clients without grants last active before c.IdleOAuthClients, each
// in scripts of at most batch grants or clients (with an unused client go
// its codes). It adds what it removed to removed["oauth_grants"] and
// removed["oauth_clients"], as sqlite's Prune counts them.
func (r *Registry) pruneOAuth(ctx context.Context, c mnemo.PruneCutoffs, batch int, removed map[string]int64) error {
	steps := []struct {
		cutoff time.Time
		script *redis.Script
		kinds  []string // what the counts after looked at and kept are
	}{
		{c.OAuthGrants, pruneGrantsScript, []string{"oauth_grants"}},
		{c.UnusedOAuthClients, pruneUnusedClientsScript, []string{"oauth_clients", "oauth_grants"}},
		{c.IdleOAuthClients, pruneIdleClientsScript, []string{"oauth_clients"}},
	}
	for _, st := range steps {
		if st.cutoff.IsZero() {
			continue
		}
		count := func(reply []any) {
			for i, kind := range st.kinds {
				removed[kind] += replyInt(reply, 2+i)
			}
		}
		if err := r.pruneBatches(ctx, st.script, nil, batch, count, stateMicros(st.cutoff)); err != nil {
			return err
		}
	}
	return nil
}

// orphanGrantsScript: ARGV grant hex hashes. It removes those whose key or
// client no longer exists. Reply: {removed}.
var orphanGrantsScript = oauthScript(`
local n = 0
for _, h in ipairs(ARGV) do
  local f = redis.call('HMGET', P .. 'grant:' .. h, 'kind', 'key_id', 'client_id')
  if f[1] and (not f[2] or not f[3] or redis.call('EXISTS', 'mnemo:key:' .. f[2]) == 0
      or redis.call('EXISTS', P .. 'client:' .. f[3]) == 0) then
    n = n + del_grant(h)
  end
end
return {n}
`)

// danglingScript drops index entries that point at nothing. ARGV[1] is
// what KEYS are: 'sets', sets of grant hashes (family, keygrants,
// clientgrants), each read whole; or 'grants' or 'clients', one sorted set
// (KEYS[1]) with the members to check in ARGV[2...]. Reply: {dropped}.
var danglingScript = oauthScript(`
local n = 0
local function check(set, kind, members, zset)
  for _, m in ipairs(members) do
    if redis.call('EXISTS', P .. kind .. ':' .. m) == 0 then
      if zset then redis.call('ZREM', set, m) else redis.call('SREM', set, m) end
      n = n + 1
    end
  end
end
if ARGV[1] == 'sets' then
  for _, set in ipairs(KEYS) do check(set, 'grant', redis.call('SMEMBERS', set), false) end
else
  local kind = 'grant'
  if ARGV[1] == 'clients' then kind = 'client' end
  check(KEYS[1], kind, {unpack(ARGV, 2)}, true)
end
return {n}
`)

// cleanOAuthOrphans removes the grants whose key or client no longer
// exists, adding them to removed["oauth_grants"], and the index entries
// that point at nothing (not counted: they are not records): members of
// family, keygrants and clientgrants sets and of the expiry and client
// indexes. DeleteTenant leaves such entries behind; every script
// tolerates them meanwhile. It walks the keyspace with SCAN, a page per
// script, so it never holds the server long.
func (r *Registry) cleanOAuthOrphans(ctx context.Context, now time.Time, removed map[string]int64) error {
	removed["oauth_grants"] += 0
	err := r.scanKeys(ctx, oauthGrantKey+"*", func(keys []string) error {
		args := make([]any, len(keys))
		for i, k := range keys {
			args[i] = k[len(oauthGrantKey):]
		}
		reply, err := r.evalState(ctx, orphanGrantsScript, nil, args...)
		removed["oauth_grants"] += replyInt(reply, 0)
		return err
	})
	if err != nil {
		return err
	}
	for _, pattern := range []string{"mnemo:oauth:family:*", "mnemo:oauth:keygrants:*", "mnemo:oauth:clientgrants:*"} {
		err := r.scanKeys(ctx, pattern, func(keys []string) error {
			_, err := r.evalState(ctx, danglingScript, keys, "sets")
			return err
		})
		if err != nil {
			return err
		}
	}
	for _, z := range []struct{ key, kind string }{{oauthExpirySet, "grants"}, {oauthUnusedClientSet, "clients"}, {oauthUsedClientSet, "clients"}} {
		iter := r.rdb.ZScan(ctx, z.key, 0, "", 500).Iterator()
		args := []any{z.kind}
		flush := func() error {
			if len(args) == 1 {
				return nil
			}
			_, err := r.evalState(ctx, danglingScript, []string{z.key}, args...)
			args = args[:1]
			return err
		}
		// ZSCAN yields a member, then its score.
		for i := 0; iter.Next(ctx); i++ {
			if i%2 == 0 {
				args = append(args, iter.Val())
			}
			if len(args) > 500 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return limitsErr(ctx, "ZSCAN", err)
		}
		if err := flush(); err != nil {
			return err
		}
	}
	return nil
}

// scanKeys calls fn with each page of the keys that match pattern.
func (r *Registry) scanKeys(ctx context.Context, pattern string, fn func(keys []string) error) error {
	var cursor uint64
	for {
		keys, next, err := r.rdb.Scan(ctx, cursor, pattern, 500).Result()
		if err != nil {
			return limitsErr(ctx, "SCAN", err)
		}
		if len(keys) > 0 {
			if err := fn(keys); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}
