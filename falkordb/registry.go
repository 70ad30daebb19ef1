package falkordb

import "github.com/redis/go-redis/v9"

// Registry is the state every replica shares, in plain Redis structures on
// the FalkorDB server (or a separate Redis): tenants, keys, audit, usage,
// idempotency records and OAuth state. Nothing is cached in the process,
// so a key revoked or a tenant suspended through one replica is refused by
// every replica on its next request. Every rule that touches more than one
// key is one Lua script (scripts may not call GRAPH.QUERY, but plain
// commands are atomic in them), so it holds across replicas.
//
// Key names. Every key starts with "mnemo:"; each part of the registry
// owns its names, and DeleteTenant (tenants.go) knows the others':
//
//	tenants.go, keys.go  mnemo:tenant:<id>, mnemo:tenants, mnemo:key:<id>,
//	                     mnemo:keyhash:<sha256 hex>, mnemo:tenantkeys:<id>,
//	                     mnemo:incarnation:<id>:<n>, mnemo:incarnations:<id>
//	audit.go, usage.go   mnemo:audit..., mnemo:usage...
//	idempotency.go       mnemo:idem:<tenant id> (one hash per tenant)
//	oauth.go             mnemo:oauth:client:<id>, mnemo:oauth:grant:<hash hex>,
//	                     mnemo:oauth:family:<family>, mnemo:oauth:keygrants:<key id>, ...
//	limits.go            mnemo:rate:<tenant>, mnemo:slots:<tenant>,
//	                     mnemo:throttle:..., mnemo:registrations:..., mnemo:lease:...
//
// A tenant's graph is memories_<id> (stores.go).
type Registry struct {
	c   *Client               // the tenants' graphs, for their counters
	rdb redis.UniversalClient // the shared state
}

// NewRegistry returns the registry on c's server. The tenants' graphs are
// read through c for their counters (Tenant, Tenants): no graph is scanned.
func NewRegistry(c *Client) *Registry { return NewRegistryOn(c, c.rdb) }

// NewRegistryOn returns a registry whose shared state is on state (a
// separate Redis, REDIS_URL) while the tenants' graphs are on c.
func NewRegistryOn(c *Client, state redis.UniversalClient) *Registry {
	return &Registry{c: c, rdb: state}
}
