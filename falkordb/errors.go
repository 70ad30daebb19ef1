package falkordb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is in the chain of every error that means the server
// could not serve the request but may later: no connection, a connection
// that broke, a server still loading its data, a busy script, a failover.
// The store maps it to mnemo's EUNAVAILABLE (a 503 with Retry-After).
var ErrUnavailable = errors.New("falkordb: server unavailable")

// ErrOutOfMemory is in the chain of an error the server returns when a
// write would pass maxmemory (with the noeviction policy mnemo requires).
var ErrOutOfMemory = errors.New("falkordb: server out of memory")

// QueryError is an error the server returned for the query itself: bad
// Cypher, a type error, a missing index, a server-side timeout. Retrying
// the same query gives the same answer.
type QueryError struct {
	Command string // GRAPH.QUERY, GRAPH.RO_QUERY, ...
	Message string // the server's message
}

func (e *QueryError) Error() string {
	return "falkordb: " + e.Command + ": " + e.Message
}

// unavailablePrefixes are the Redis error replies that say "not now".
var unavailablePrefixes = []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY"}

// classify maps a go-redis error. The context's own error wins: a request
// that ran out of time did not find the server unavailable.
func classify(ctx context.Context, cmd string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("falkordb: %s: %w", cmd, ctxErr)
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && !errors.Is(err, redis.ErrClosed) {
		msg := err.Error()
		for _, p := range unavailablePrefixes {
			if strings.HasPrefix(msg, p+" ") || msg == p {
				return fmt.Errorf("%w: %s: %s", ErrUnavailable, cmd, msg)
			}
		}
		if strings.HasPrefix(msg, "OOM ") {
			return fmt.Errorf("%w: %s: %s", ErrOutOfMemory, cmd, msg)
		}
		return &QueryError{Command: cmd, Message: msg}
	}
	// Anything else is the transport: refused or reset connections, EOF,
	// timeouts of the dial or the pool, a closed client.
	return fmt.Errorf("%w: %s: %v", ErrUnavailable, cmd, err)
}
