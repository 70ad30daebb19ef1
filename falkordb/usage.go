package falkordb

// Usage counters, per tenant, incarnation, UTC day and kind. Each counter
// is kept twice, so that both reads are direct: by tenant (a tenant's bill)
// and by day (every tenant's, and the pruner). Layout:
//
//	mnemo:usage:t:<tenant>:<incarnation>  HASH "<day>|<kind>" → count
//	mnemo:usage:d:<day>                   HASH "<tenant>|<incarnation>|<kind>" → count
//	mnemo:usage:days                      ZSET of the days that have counters
//	                                      (score 0: ordered by their text)
//
// Both hashes are written by one script, so they never disagree.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mnemohq/mnemo"
	"github.com/redis/go-redis/v9"
)

const usageDaysName = "mnemo:usage:days"

func usageTenantName(tenantID string, incarnation int64) string {
	return "mnemo:usage:t:" + tenantID + ":" + strconv.FormatInt(incarnation, 10)
}

func usageDayName(day string) string { return "mnemo:usage:d:" + day }

// latestIncarnation is the id's current incarnation, or its last one when
// it is deleted; 0 when no tenant ever had the id.
func (r *Registry) latestIncarnation(ctx context.Context, tenantID string) (int64, error) {
	top, err := r.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: incarnationsName(tenantID), Start: 0, Stop: 0, Rev: true}).Result()
	if err != nil {
		return 0, regErr(ctx, "ZRANGE", err)
	}
	if len(top) == 0 {
		return 0, nil
	}
	return strconv.ParseInt(top[0], 10, 64)
}

// addUsageScript adds counts. KEYS: days. ARGV: tenant, incarnation (0:
// the id's latest), day, kind, count, for each row.
var addUsageScript = redis.NewScript(luaRegistryLib + `
for i = 1, #ARGV, 5 do
	local tid, day, kind, n = ARGV[i], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
	local inc = tonumber(ARGV[i + 1])
	if inc == 0 then inc = latest_incarnation(tid) end
	inc = string.format('%d', inc)
	redis.call('HINCRBY', 'mnemo:usage:t:' .. tid .. ':' .. inc, day .. '|' .. kind, n)
	redis.call('HINCRBY', 'mnemo:usage:d:' .. day, tid .. '|' .. inc .. '|' .. kind, n)
	redis.call('ZADD', KEYS[1], 0, day)
end
return 1
`)

// AddUsage adds counts, in one script: they are visible to Usage when it
// returns, in every replica. A row without an incarnation counts for the
// id's latest.
func (r *Registry) AddUsage(ctx context.Context, rows []mnemo.Usage) error {
	if len(rows) == 0 {
		return nil
	}
	args := make([]any, 0, 5*len(rows))
	for _, u := range rows {
		args = append(args, u.TenantID, u.Incarnation, u.Day, u.Kind, u.Count)
	}
	_, err := r.runScript(ctx, addUsageScript, []string{usageDaysName}, args...)
	return err
}

// tenantUsageScript reads one incarnation's counters. KEYS: none. ARGV:
// tenant, incarnation (0: the id's latest). Answers {incarnation, hash}.
var tenantUsageScript = redis.NewScript(luaRegistryLib + `
local inc = tonumber(ARGV[2])
if inc == 0 then inc = latest_incarnation(ARGV[1]) end
return {inc, redis.call('HGETALL', 'mnemo:usage:t:' .. ARGV[1] .. ':' .. string.format('%d', inc))}
`)

// Usage returns the counters of days from to to (inclusive), of one
// incarnation of a tenant id (0: its latest) or, with tenantID "", of all,
// ordered by tenant, incarnation, day and kind. In a listing of all, a row
// of an incarnation that a later one replaced says so (Superseded).
func (r *Registry) Usage(ctx context.Context, tenantID string, incarnation int64, from, to string) ([]mnemo.Usage, error) {
	out := []mnemo.Usage{}
	if tenantID != "" {
		v, err := r.runScript(ctx, tenantUsageScript, nil, tenantID, incarnation)
		if err != nil {
			return nil, err
		}
		pair, _ := v.([]any)
		if len(pair) != 2 {
			return nil, fmt.Errorf("falkordb: usage script answered %v", v)
		}
		inc, _ := pair[0].(int64)
		rows, err := incarnationUsage(tenantID, inc, flatHash(pair[1]))
		if err != nil {
			return nil, err
		}
		return slices.DeleteFunc(rows, func(u mnemo.Usage) bool { return u.Day < from || u.Day > to }), nil
	}
	if from > to {
		return out, nil
	}
	days, err := r.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: usageDaysName, Start: "[" + from, Stop: "[" + to, ByLex: true}).Result()
	if err != nil {
		return nil, regErr(ctx, "ZRANGE", err)
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(days))
	for i, d := range days {
		cmds[i] = pipe.HGetAll(ctx, usageDayName(d))
	}
	if _, err := pipe.Exec(ctx); err != nil && len(days) > 0 {
		return nil, regErr(ctx, "HGETALL", err)
	}
	latest := map[string]int64{}
	for i, d := range days {
		for field, count := range cmds[i].Val() {
			parts := strings.SplitN(field, "|", 3)
			if len(parts) != 3 {
				return nil, fmt.Errorf("falkordb: usage field %q of %s", field, d)
			}
			inc, err := strconv.ParseInt(parts[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("falkordb: usage field %q of %s: %w", field, d, err)
			}
			n, err := strconv.ParseInt(count, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("falkordb: usage field %q of %s: %w", field, d, err)
			}
			out = append(out, mnemo.Usage{TenantID: parts[0], Incarnation: inc, Day: d, Kind: parts[2], Count: n})
			latest[parts[0]] = max(latest[parts[0]], inc)
		}
	}
	// Usage can end before its incarnation does: ask which are latest.
	if len(latest) > 0 {
		pipe := r.rdb.Pipeline()
		top := map[string]*redis.StringSliceCmd{}
		for id := range latest {
			top[id] = pipe.ZRangeArgs(ctx, redis.ZRangeArgs{Key: incarnationsName(id), Start: 0, Stop: 0, Rev: true})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, regErr(ctx, "ZRANGE", err)
		}
		for id, cmd := range top {
			if v := cmd.Val(); len(v) == 1 {
				if inc, err := strconv.ParseInt(v[0], 10, 64); err == nil {
					latest[id] = max(latest[id], inc)
				}
			}
		}
		for i := range out {
			out[i].Superseded = out[i].Incarnation < latest[out[i].TenantID]
		}
	}
	sortUsage(out)
	return out, nil
}

// incarnationUsage reads the hash of one incarnation's counters
// (mnemo:usage:t:...), ordered by day and kind.
func incarnationUsage(tenantID string, inc int64, h map[string]string) ([]mnemo.Usage, error) {
	out := make([]mnemo.Usage, 0, len(h))
	for field, count := range h {
		day, kind, _ := strings.Cut(field, "|")
		n, err := strconv.ParseInt(count, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("falkordb: usage %s: %w", field, err)
		}
		out = append(out, mnemo.Usage{TenantID: tenantID, Incarnation: inc, Day: day, Kind: kind, Count: n})
	}
	sortUsage(out)
	return out, nil
}

func sortUsage(u []mnemo.Usage) {
	slices.SortFunc(u, func(a, b mnemo.Usage) int {
		return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.Incarnation, b.Incarnation),
			cmp.Compare(a.Day, b.Day), cmp.Compare(a.Kind, b.Kind))
	})
}

// pruneUsageScript removes up to a batch of counters of days before a
// cutoff, oldest days first, from both hashes. KEYS: days. ARGV: cutoff
// day, batch. Answers how many it removed.
var pruneUsageScript = redis.NewScript(`
local n, batch = 0, tonumber(ARGV[2])
while n < batch do
	local d = redis.call('ZRANGE', KEYS[1], '-', '(' .. ARGV[1], 'BYLEX', 'LIMIT', 0, 1)
	if #d == 0 then break end
	local dk = 'mnemo:usage:d:' .. d[1]
	for _, f in ipairs(redis.call('HRANDFIELD', dk, batch - n)) do
		local tid, inc, kind = string.match(f, '^([^|]*)|([^|]*)|(.*)$')
		redis.call('HDEL', 'mnemo:usage:t:' .. tid .. ':' .. inc, d[1] .. '|' .. kind)
		redis.call('HDEL', dk, f)
		n = n + 1
	end
	if redis.call('EXISTS', dk) == 0 then redis.call('ZREM', KEYS[1], d[1]) end
end
return n
`)
