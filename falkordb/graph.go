// Package falkordb is mnemo's scale-out backend on FalkorDB: one graph per
// tenant, and (in later work) the shared state in plain Redis structures.
//
// This file is the thin adapter the backend stands on: GRAPH.QUERY and
// GRAPH.RO_QUERY sent through go-redis with the caller's context, Cypher
// parameters serialised by this package, and replies decoded into Go
// values. It does not use FalkorDB's own Go client (falkordb-go v2.1.0):
// that client ignores the caller's context (a package-level
// context.Background), panics on parameter types it does not know, and
// quotes strings with Go's escapes, which FalkorDB does not all read (it
// keeps "\u00e9" as six characters; see TestStringLiteralEscapes).
//
// Replies are requested with --compact. FalkorDB's other ("verbose") reply
// turns lists and maps into display strings: ['a, b', 'c'] comes back as
// "[a, b, c]", so a tag holding a comma could not be read back
// (TestVerboseRepliesLoseListStructure pins this). The compact reply types
// every value. Its nodes and edges name labels and properties by number,
// which would need the graph's schema to read, so queries project what they
// need instead: properties(n), labels(n), type(r), id(n).
package falkordb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Client sends graph queries over a go-redis client. Give it a client
// with MaxRetries -1: go-redis retries a command after a network error,
// and a write that reached the server before the connection broke would
// then run twice.
type Client struct {
	rdb redis.UniversalClient
}

// New returns a Client on rdb, which the caller keeps and closes.
func New(rdb redis.UniversalClient) *Client { return &Client{rdb: rdb} }

// Redis returns the underlying client, for the plain Redis structures.
func (c *Client) Redis() redis.UniversalClient { return c.rdb }

// Graph is one named graph, such as a tenant's "memories_<id>".
type Graph struct {
	c    *Client
	name string
}

// Graph returns the graph of the given name. FalkorDB creates a graph on
// its first write; nothing is sent here.
func (c *Client) Graph(name string) *Graph { return &Graph{c: c, name: name} }

// Name is the graph's key in Redis.
func (g *Graph) Name() string { return g.name }

// Query runs a Cypher query that may write, with params bound to $name.
func (g *Graph) Query(ctx context.Context, cypher string, params Params) (*Result, error) {
	return g.run(ctx, "GRAPH.QUERY", cypher, params)
}

// ROQuery runs a read-only query; FalkorDB refuses one that writes.
// Read-only queries may run on a replica, and in parallel on the server.
func (g *Graph) ROQuery(ctx context.Context, cypher string, params Params) (*Result, error) {
	return g.run(ctx, "GRAPH.RO_QUERY", cypher, params)
}

func (g *Graph) run(ctx context.Context, cmd, cypher string, params Params) (*Result, error) {
	prefix, err := params.Prefix()
	if err != nil {
		return nil, err
	}
	reply, err := g.c.rdb.Do(ctx, cmd, g.name, prefix+cypher, "--compact").Result()
	if err != nil {
		return nil, classify(ctx, cmd, err)
	}
	res, err := decodeResult(reply)
	if err != nil {
		return nil, fmt.Errorf("falkordb: %s on %s: %w", cmd, g.name, err)
	}
	return res, nil
}

// Delete removes the graph with its indexes. Deleting a graph that does
// not exist is not an error.
func (g *Graph) Delete(ctx context.Context) error {
	err := g.c.rdb.Do(ctx, "GRAPH.DELETE", g.name).Err()
	if err == nil {
		return nil
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && strings.Contains(err.Error(), "empty key") {
		return nil
	}
	return classify(ctx, "GRAPH.DELETE", err)
}
