package falkordb

// The audit log. Layout:
//
//	mnemo:audit:seq                      STRING: the last event id (INCR)
//	mnemo:audit:events                   HASH event id → the event as JSON
//	mnemo:audit:all                      ZSET of event ids (score: the id)
//	mnemo:audit:tenant:<id>:<incarnation> ZSET of one incarnation's event ids
//	mnemo:audit:action:<action>          ZSET of one action's event ids
//	mnemo:audit:at                       ZSET of event ids scored by time, for
//	                                     Since and the pruner
//
// A read walks the smallest index that applies, newest first, and checks
// the other filters on the events it reads: its cost is bounded by the
// most selective filter, never by the whole log.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/mnemohq/mnemo"
	"github.com/redis/go-redis/v9"
)

const (
	auditSeqName    = "mnemo:audit:seq"
	auditEventsName = "mnemo:audit:events"
	auditAllName    = "mnemo:audit:all"
	auditAtName     = "mnemo:audit:at"
)

func auditTenantName(tenantID string, incarnation int64) string {
	return "mnemo:audit:tenant:" + tenantID + ":" + strconv.FormatInt(incarnation, 10)
}

func auditActionName(action string) string { return "mnemo:audit:action:" + action }

// auditRecord is an event as stored: its time in Unix microseconds. Go
// writes it without id and incarnation (zero then), which the script adds.
type auditRecord struct {
	At          int64  `json:"at"`
	Actor       string `json:"actor"`
	TenantID    string `json:"tenant_id"`
	Action      string `json:"action"`
	Target      string `json:"target"`
	RequestID   string `json:"request_id"`
	Outcome     string `json:"outcome"`
	ID          int64  `json:"id,omitempty"`
	Incarnation int64  `json:"incarnation,omitempty"`
}

// appendAuditScript numbers and stores an event with its indexes. KEYS:
// seq, events, all, at, action. ARGV: tenant id, incarnation (0: the id's
// latest), at, the event's JSON without its closing brace (the script
// adds the id and incarnation), and for a load (LoadRegistry) the event's
// id: then the event keeps its id and incarnation as given, and the
// sequence is raised to the id. Answers {id, incarnation}.
var appendAuditScript = redis.NewScript(luaRegistryLib + `
local tid = ARGV[1]
local inc = tonumber(ARGV[2])
local id = ARGV[5]
if id then
	if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(id) then redis.call('SET', KEYS[1], id) end
else
	if inc == 0 then inc = latest_incarnation(tid) end
	id = string.format('%d', redis.call('INCR', KEYS[1]))
end
local incs = string.format('%d', inc)
redis.call('HSET', KEYS[2], id, ARGV[4] .. ',"id":' .. id .. ',"incarnation":' .. incs .. '}')
redis.call('ZADD', KEYS[3], id, id)
redis.call('ZADD', KEYS[4], ARGV[3], id)
redis.call('ZADD', KEYS[5], id, id)
if tid ~= '' then redis.call('ZADD', 'mnemo:audit:tenant:' .. tid .. ':' .. incs, id, id) end
return {tonumber(id), inc}
`)

// AppendAudit records e before it returns and sets e.ID. An event about a
// tenant without an incarnation gets the id's latest (0 when no tenant
// ever had the id), as in SQLite.
func (r *Registry) AppendAudit(ctx context.Context, e *mnemo.AuditEvent) error {
	keys, args, err := appendAuditArgs(e)
	if err != nil {
		return err
	}
	v, err := r.runScript(ctx, appendAuditScript, keys, args...)
	if err != nil {
		return err
	}
	pair, _ := v.([]any)
	if len(pair) != 2 {
		return fmt.Errorf("falkordb: audit script answered %v", v)
	}
	e.ID, _ = pair[0].(int64)
	e.Incarnation, _ = pair[1].(int64)
	return nil
}

// appendAuditArgs are appendAuditScript's keys and arguments for e, but
// the id of a load.
func appendAuditArgs(e *mnemo.AuditEvent) ([]string, []any, error) {
	body, err := json.Marshal(auditRecord{At: e.At.UTC().UnixMicro(), Actor: e.Actor, TenantID: e.TenantID, Action: e.Action,
		Target: e.Target, RequestID: e.RequestID, Outcome: e.Outcome})
	if err != nil {
		return nil, nil, err
	}
	return []string{auditSeqName, auditEventsName, auditAllName, auditAtName, auditActionName(e.Action)},
		[]any{e.TenantID, e.Incarnation, usec(e.At), body[:len(body)-1]}, nil
}

// auditPageScript reads events of an id index, newest first, below an id.
// KEYS: index, events. ARGV: the exclusive upper bound ("+inf" at first),
// count. Answers {ids, the events' JSON}.
var auditPageScript = redis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[1], ARGV[1], '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, ARGV[2])
if #ids == 0 then return {{}, {}} end
return {ids, redis.call('HMGET', KEYS[2], unpack(ids))}
`)

// auditChunk is how many events a read fetches at a time.
const auditChunk = 256

// Audit returns the events f selects, newest first (by id). With a tenant
// and no incarnation, the id's latest incarnation is read. A limit of 0
// returns none, a negative one all, as in SQLite.
func (r *Registry) Audit(ctx context.Context, f mnemo.AuditFilter) ([]*mnemo.AuditEvent, error) {
	out := []*mnemo.AuditEvent{}
	if f.Limit == 0 {
		return out, nil
	}
	if f.TenantID != "" && f.Incarnation == 0 {
		inc, err := r.latestIncarnation(ctx, f.TenantID)
		if err != nil {
			return nil, err
		}
		f.Incarnation = inc
	}
	// The smallest index that applies drives the read.
	pipe := r.rdb.Pipeline()
	index := auditAllName
	if f.TenantID != "" {
		index = auditTenantName(f.TenantID, f.Incarnation)
	} else if f.Action != "" {
		index = auditActionName(f.Action)
	}
	size := pipe.ZCard(ctx, index)
	var actionSize, sinceSize *redis.IntCmd
	if f.TenantID != "" && f.Action != "" {
		actionSize = pipe.ZCard(ctx, auditActionName(f.Action))
	}
	// Since counts in whole microseconds, as events are stored (and as
	// SQLite compares it).
	sinceMicros := f.Since.UTC().UnixMicro()
	since := strconv.FormatInt(sinceMicros, 10)
	if !f.Since.IsZero() {
		sinceSize = pipe.ZCount(ctx, auditAtName, since, "+inf")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, regErr(ctx, "ZCARD", err)
	}
	n := size.Val()
	if actionSize != nil && actionSize.Val() < n {
		index, n = auditActionName(f.Action), actionSize.Val()
	}
	keep := func(e *mnemo.AuditEvent) bool {
		return (f.TenantID == "" || e.TenantID == f.TenantID && e.Incarnation == f.Incarnation) &&
			(f.Action == "" || e.Action == f.Action) && (f.Since.IsZero() || e.At.UnixMicro() >= sinceMicros)
	}
	if sinceSize != nil && sinceSize.Val() < n {
		return r.auditSince(ctx, since, keep, f.Limit)
	}
	for upper := "+inf"; ; {
		v, err := r.runScript(ctx, auditPageScript, []string{index, auditEventsName}, upper, auditChunk)
		if err != nil {
			return nil, err
		}
		page, _ := v.([]any)
		if len(page) != 2 {
			return nil, fmt.Errorf("falkordb: audit page script answered %v", v)
		}
		ids, _ := page[0].([]any)
		events, _ := page[1].([]any)
		for i, raw := range events {
			e, err := decodeAuditEvent(raw)
			if err != nil {
				return nil, err
			}
			if e != nil && keep(e) {
				if out = append(out, e); len(out) == f.Limit {
					return out, nil
				}
			}
			id, _ := ids[i].(string)
			upper = "(" + id
		}
		if len(ids) < auditChunk {
			return out, nil
		}
	}
}

// auditSince reads the events at or after since (its index being the
// smallest), newest first by id.
func (r *Registry) auditSince(ctx context.Context, since string, keep func(*mnemo.AuditEvent) bool, limit int) ([]*mnemo.AuditEvent, error) {
	members, err := r.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: auditAtName, Start: since, Stop: "+inf", ByScore: true}).Result()
	if err != nil {
		return nil, regErr(ctx, "ZRANGE", err)
	}
	ids := make([]int64, 0, len(members))
	for _, m := range members {
		if id, err := strconv.ParseInt(m, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b int64) int { return cmp.Compare(b, a) })
	out := []*mnemo.AuditEvent{}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), auditChunk)]
		ids = ids[len(chunk):]
		fields := make([]string, len(chunk))
		for i, id := range chunk {
			fields[i] = strconv.FormatInt(id, 10)
		}
		vals, err := r.rdb.HMGet(ctx, auditEventsName, fields...).Result()
		if err != nil {
			return nil, regErr(ctx, "HMGET", err)
		}
		for _, raw := range vals {
			e, err := decodeAuditEvent(raw)
			if err != nil {
				return nil, err
			}
			if e != nil && keep(e) {
				if out = append(out, e); len(out) == limit {
					return out, nil
				}
			}
		}
	}
	return out, nil
}

// decodeAuditEvent reads a stored event; nil for a missing one.
func decodeAuditEvent(raw any) (*mnemo.AuditEvent, error) {
	s, ok := raw.(string)
	if !ok || s == "" {
		return nil, nil
	}
	var rec auditRecord
	if err := json.Unmarshal([]byte(s), &rec); err != nil {
		return nil, fmt.Errorf("falkordb: audit event: %w", err)
	}
	return &mnemo.AuditEvent{ID: rec.ID, At: time.UnixMicro(rec.At).UTC(), Actor: rec.Actor, TenantID: rec.TenantID, Action: rec.Action,
		Target: rec.Target, RequestID: rec.RequestID, Outcome: rec.Outcome, Incarnation: rec.Incarnation}, nil
}

// pruneAuditScript removes up to a batch of events that happened before a
// cutoff, with their index entries. KEYS: at, events, all. ARGV: cutoff,
// batch. Answers how many it removed.
var pruneAuditScript = redis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[1], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
	local raw = redis.call('HGET', KEYS[2], id)
	if raw then
		local e = cjson.decode(raw)
		redis.call('ZREM', 'mnemo:audit:action:' .. e.action, id)
		if e.tenant_id ~= '' then
			redis.call('ZREM', 'mnemo:audit:tenant:' .. e.tenant_id .. ':' .. string.format('%d', e.incarnation), id)
		end
	end
	redis.call('HDEL', KEYS[2], id)
	redis.call('ZREM', KEYS[1], id)
	redis.call('ZREM', KEYS[3], id)
end
return #ids
`)
