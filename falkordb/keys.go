package falkordb

// The tenants' keys. Layout (OAuth reads it too):
//
//	mnemo:key:<key id>         HASH id, tenant_id, hash (lower hex of the
//	                           token's SHA-256), prefix, label, scopes (a JSON
//	                           array), created_at, and when set expires_at,
//	                           revoked_at, last_used_at (Unix microseconds)
//	mnemo:keyhash:<hash hex>   STRING: the key id, for lookup by token
//	mnemo:tenantkeys:<tenant>  SET of the tenant's key ids
//
// A revoked key keeps its lookup entry, so its token stays taken, as in
// SQLite, where the hash column is unique whether revoked or not.

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/redis/go-redis/v9"
)

func apiKeyName(id string) string           { return "mnemo:key:" + id }
func keyHashName(hash []byte) string        { return "mnemo:keyhash:" + hex.EncodeToString(hash) }
func tenantKeysName(tenantID string) string { return "mnemo:tenantkeys:" + tenantID }

// keyFields are key's fields as HSET arguments.
func keyFields(key *mnemo.Key, tenantID string, keyHash []byte) []any {
	scopes, _ := json.Marshal(key.Scopes)
	f := []any{"id", key.ID, "tenant_id", tenantID, "hash", hex.EncodeToString(keyHash), "prefix", key.Prefix,
		"label", key.Label, "scopes", string(scopes), "created_at", usec(key.CreatedAt)}
	if key.ExpiresAt != nil {
		f = append(f, "expires_at", usec(*key.ExpiresAt))
	}
	return f
}

// decodeKey reads a key hash, with the stored hash; nil when it is empty.
func decodeKey(h map[string]string) (*mnemo.Key, []byte, error) {
	if len(h) == 0 || h["id"] == "" {
		return nil, nil, nil
	}
	k := &mnemo.Key{ID: h["id"], TenantID: h["tenant_id"], Prefix: h["prefix"], Label: h["label"]}
	hash, err := hex.DecodeString(h["hash"])
	if err != nil {
		return nil, nil, fmt.Errorf("falkordb: key %s hash: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(h["scopes"]), &k.Scopes); err != nil {
		return nil, nil, fmt.Errorf("falkordb: key %s scopes: %w", k.ID, err)
	}
	if k.CreatedAt, err = fromUsec(h["created_at"]); err != nil {
		return nil, nil, err
	}
	for _, f := range []struct {
		name string
		to   **time.Time
	}{{"expires_at", &k.ExpiresAt}, {"revoked_at", &k.RevokedAt}, {"last_used_at", &k.LastUsedAt}} {
		if *f.to, err = optUsec(h, f.name); err != nil {
			return nil, nil, err
		}
	}
	return k, hash, nil
}

// addKeyScript adds a key to an existing tenant. KEYS: tenant, key,
// keyhash, tenantkeys. ARGV: key id, tenant id, the key's field/value
// pairs. Answers 1, or a code (keyScriptErr): the token is taken, there
// is no tenant, the key id is taken.
var addKeyScript = redis.NewScript(luaRegistryLib + `
if token_taken(KEYS[3]) then return -2 end
if redis.call('EXISTS', KEYS[1]) == 0 then return -4 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -3 end
put_key(ARGV[2], ARGV[1], KEYS[3], {unpack(ARGV, 3)})
return 1
`)

// AddKey adds key to its tenant: ECONFLICT when the token is taken (first,
// as SQLite checks), ENOTFOUND when the tenant does not exist.
func (r *Registry) AddKey(ctx context.Context, key *mnemo.Key, keyHash []byte) error {
	code, err := r.runCode(ctx, addKeyScript,
		[]string{tenantName(key.TenantID), apiKeyName(key.ID), keyHashName(keyHash), tenantKeysName(key.TenantID)},
		append([]any{key.ID, key.TenantID}, keyFields(key, key.TenantID, keyHash)...)...)
	if err != nil {
		return err
	}
	return keyScriptErr(code, key.TenantID, key.ID)
}

// keysScript reads a tenant's key hashes. KEYS: tenantkeys.
var keysScript = redis.NewScript(`
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
	out[#out + 1] = redis.call('HGETALL', 'mnemo:key:' .. id)
end
return out
`)

// Keys lists a tenant's keys, revoked ones included, oldest first (by
// creation, then id).
func (r *Registry) Keys(ctx context.Context, tenantID string) ([]*mnemo.Key, error) {
	v, err := r.runScript(ctx, keysScript, []string{tenantKeysName(tenantID)})
	if err != nil {
		return nil, err
	}
	hashes, _ := v.([]any)
	out := make([]*mnemo.Key, 0, len(hashes))
	for _, h := range hashes {
		k, _, err := decodeKey(flatHash(h))
		if err != nil {
			return nil, err
		}
		if k != nil && k.TenantID == tenantID {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b *mnemo.Key) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// keyScript reads a key and its tenant. KEYS: the keyhash entry, or none
// when ARGV[1] is the key id. Answers {key hash, tenant hash} or nil.
var keyScript = redis.NewScript(`
local id = ARGV[1]
if #KEYS == 1 then
	id = redis.call('GET', KEYS[1])
	if not id then return false end
end
local k = redis.call('HGETALL', 'mnemo:key:' .. id)
local tid = false
for i = 1, #k, 2 do
	if k[i] == 'tenant_id' then tid = k[i + 1] end
end
if not tid then return false end
return {k, redis.call('HGETALL', 'mnemo:tenant:' .. tid)}
`)

// key reads a key and its tenant in one script: by the token's hash
// (byHash) or by id. Nil when either is missing. The tenant's stats are
// not read: they cost graph queries, and authentication needs none
// (Tenant has them).
func (r *Registry) key(ctx context.Context, keyHash []byte, id string, byHash bool) (*mnemo.Key, *mnemo.Tenant, []byte, error) {
	var keys []string
	if byHash {
		keys = []string{keyHashName(keyHash)}
	}
	v, err := r.runScript(ctx, keyScript, keys, id)
	if err != nil || v == nil {
		return nil, nil, nil, err
	}
	pair, _ := v.([]any)
	if len(pair) != 2 {
		return nil, nil, nil, fmt.Errorf("falkordb: key script answered %v", v)
	}
	k, stored, err := decodeKey(flatHash(pair[0]))
	if err != nil || k == nil {
		return nil, nil, nil, err
	}
	t, err := decodeTenant(flatHash(pair[1]))
	if err != nil || t == nil {
		return nil, nil, nil, err
	}
	return k, t, stored, nil
}

// KeyByHash returns the unrevoked key whose token hashes to keyHash, with
// its tenant, or EUNAUTHORIZED. The lookup is by the hash; the stored hash
// is then compared with keyHash in constant time. Nothing is cached: a
// revoke through any replica is seen on the next call.
func (r *Registry) KeyByHash(ctx context.Context, keyHash []byte) (*mnemo.Key, *mnemo.Tenant, error) {
	k, t, stored, err := r.key(ctx, keyHash, "", true)
	if err != nil {
		return nil, nil, err
	}
	if k == nil || k.RevokedAt != nil || subtle.ConstantTimeCompare(stored, keyHash) != 1 {
		return nil, nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	return k, t, nil
}

// KeyByID returns a key, revoked or not, with its tenant; ENOTFOUND.
func (r *Registry) KeyByID(ctx context.Context, id string) (*mnemo.Key, *mnemo.Tenant, error) {
	k, t, _, err := r.key(ctx, nil, id, false)
	if err != nil {
		return nil, nil, err
	}
	if k == nil {
		return nil, nil, mnemo.Errorf(mnemo.ENOTFOUND, "Key '%s' not found", id)
	}
	return k, t, nil
}

// revokeKeyScript revokes an unrevoked key of a tenant. KEYS: key.
// ARGV: tenant id, at. Answers 0 when there is no such key.
var revokeKeyScript = redis.NewScript(`
local k = redis.call('HMGET', KEYS[1], 'tenant_id', 'revoked_at')
if k[1] ~= ARGV[1] or k[2] then return 0 end
redis.call('HSET', KEYS[1], 'revoked_at', ARGV[2])
return 1
`)

// RevokeKey revokes one key of a tenant at at: KeyByHash refuses it from
// when this returns, in every replica. An unknown key, another tenant's or
// one already revoked is ENOTFOUND.
func (r *Registry) RevokeKey(ctx context.Context, tenantID, keyID string, at time.Time) error {
	n, err := r.runCode(ctx, revokeKeyScript, []string{apiKeyName(keyID)}, tenantID, usec(at))
	if err != nil {
		return err
	}
	if n == 0 {
		return mnemo.Errorf(mnemo.ENOTFOUND, "Key '%s' not found for tenant '%s' (or already revoked)", keyID, tenantID)
	}
	return nil
}

// touchKeyScript raises a key's last use to at. KEYS: key. ARGV: at. A
// key that does not exist (deleted meanwhile) is left alone: a plain HSET
// would leave a partial key behind.
var touchKeyScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[1], 'last_used_at')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'last_used_at', ARGV[1])
return 1
`)

// TouchKey records a key's last use, at once (one command; the service
// touches a key at most once a minute). It never moves it back.
func (r *Registry) TouchKey(ctx context.Context, keyID string, at time.Time) error {
	_, err := r.runScript(ctx, touchKeyScript, []string{apiKeyName(keyID)}, usec(at))
	return err
}
