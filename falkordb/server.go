package falkordb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Ping checks that the graphs' server and the shared state's (the same
// one unless REDIS_URL names another) answer.
func Ping(ctx context.Context, c *Client, state redis.UniversalClient) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return classify(ctx, "PING", err)
	}
	if state != c.rdb {
		if err := state.Ping(ctx).Err(); err != nil {
			return classify(ctx, "PING (shared state)", err)
		}
	}
	return nil
}

// ServerSettings are the settings of a FalkorDB server that mnemo's
// promises rest on.
type ServerSettings struct {
	ModuleVersion   int64  // the graph module's version (41603 for 4.16.3); 0: not loaded
	AppendOnly      string // "yes": writes are logged
	AppendFsync     string // "always": logged before the reply
	MaxMemoryPolicy string // "noeviction": nothing is evicted to make room
}

// CheckServer reads the server's settings. A server that hides CONFIG (a
// managed Redis may rename it) gives empty strings, which Warnings names.
func CheckServer(ctx context.Context, rdb redis.UniversalClient) (ServerSettings, error) {
	var s ServerSettings
	mods, err := rdb.Do(ctx, "MODULE", "LIST").Result()
	if err != nil {
		return s, classify(ctx, "MODULE LIST", err)
	}
	s.ModuleVersion = graphModuleVersion(mods)
	for name, dst := range map[string]*string{"appendonly": &s.AppendOnly, "appendfsync": &s.AppendFsync, "maxmemory-policy": &s.MaxMemoryPolicy} {
		v, err := rdb.ConfigGet(ctx, name).Result()
		if err != nil {
			var rerr redis.Error
			if errors.As(err, &rerr) { // CONFIG renamed or refused: say it cannot be checked
				continue
			}
			return s, classify(ctx, "CONFIG GET", err)
		}
		*dst = v[name]
	}
	return s, nil
}

// Warnings says what in s breaks a promise, and what it costs.
func (s ServerSettings) Warnings() []string {
	var w []string
	if s.ModuleVersion == 0 {
		w = append(w, "the graph module is not loaded (redis-server --loadmodule falkordb.so): every tenant request will fail")
	}
	switch s.AppendOnly {
	case "yes":
	case "":
		w = append(w, "appendonly could not be read (CONFIG refused): make sure it is yes, or a crash loses acknowledged writes")
	default:
		w = append(w, "appendonly is "+s.AppendOnly+": a crash of FalkorDB loses every write since its last snapshot, acknowledged or not; set appendonly yes")
	}
	switch s.AppendFsync {
	case "always":
	case "everysec":
		w = append(w, "appendfsync is everysec: a crash of FalkorDB's machine can lose up to a second of acknowledged writes (the documented trade-off); appendfsync always makes every 2xx durable")
	case "":
		if s.AppendOnly == "yes" {
			w = append(w, "appendfsync could not be read: make sure it is always")
		}
	default:
		w = append(w, "appendfsync is "+s.AppendFsync+": the OS decides when writes reach the disk, and a crash can lose acknowledged ones; set appendfsync always")
	}
	switch s.MaxMemoryPolicy {
	case "noeviction", "":
		if s.MaxMemoryPolicy == "" {
			w = append(w, "maxmemory-policy could not be read: make sure it is noeviction")
		}
	default:
		w = append(w, "maxmemory-policy is "+s.MaxMemoryPolicy+": at maxmemory Redis deletes keys (tenants' graphs, keys, usage) to make room; set noeviction")
	}
	return w
}

// graphModuleVersion finds the "graph" module in MODULE LIST's reply.
func graphModuleVersion(reply any) int64 {
	list, ok := reply.([]any)
	if !ok {
		return 0
	}
	for _, m := range list {
		var name string
		var ver int64
		switch x := m.(type) {
		case map[any]any:
			name, _ = x["name"].(string)
			ver, _ = x["ver"].(int64)
		case []any: // RESP2: a flat list of pairs
			for i := 0; i+1 < len(x); i += 2 {
				switch k := fmt.Sprint(x[i]); k {
				case "name":
					name, _ = x[i+1].(string)
				case "ver":
					ver, _ = x[i+1].(int64)
				}
			}
		}
		if strings.EqualFold(name, "graph") {
			return ver
		}
	}
	return 0
}
