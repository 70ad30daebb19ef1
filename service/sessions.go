package service

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/mnemohq/mnemo"
)

// sessions counts the open MCP sessions of this process. They live in the
// process that serves them (the transport keeps them in memory), so their
// count does too: it is not shared state that a replica could see.
type sessions struct {
	mu        sync.Mutex
	total     int
	perTenant map[string]int
}

// OpenSession admits a new MCP session for c; see mnemo.Gate.
func (s *Service) OpenSession(_ context.Context, c *mnemo.Caller) (func(), error) {
	if c == nil || c.Tenant == nil {
		return nil, mnemo.Errorf(mnemo.EUNAUTHORIZED, "Unauthorized")
	}
	id, perTenant, total := c.Tenant.ID, s.cfg.MCPSessionsPerTenant, s.cfg.MCPMaxSessions
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	if s.sessions.perTenant == nil {
		s.sessions.perTenant = map[string]int{}
	}
	idle := ""
	if s.cfg.MCPSessionTimeout > 0 {
		idle = " or for one to sit idle for " + s.cfg.MCPSessionTimeout.String()
	}
	switch {
	case perTenant > 0 && s.sessions.perTenant[id] >= perTenant:
		s.refuse("mcp_sessions")
		return nil, &mnemo.Error{Code: mnemo.ETOOMANY, RetryAfter: time.Minute,
			Message: "Too many MCP sessions for tenant '" + id + "': at most " + strconv.Itoa(perTenant) +
				" may be open at once; end one (DELETE /mcp with its Mcp-Session-Id)" + idle + " and retry"}
	case total > 0 && s.sessions.total >= total:
		s.refuse("mcp_sessions")
		return nil, &mnemo.Error{Code: mnemo.ETOOMANY, RetryAfter: time.Minute,
			Message: "The server has its maximum of " + strconv.Itoa(total) + " MCP sessions open; retry later"}
	}
	s.sessions.total++
	s.sessions.perTenant[id]++
	return sync.OnceFunc(func() {
		s.sessions.mu.Lock()
		defer s.sessions.mu.Unlock()
		s.sessions.total--
		if s.sessions.perTenant[id]--; s.sessions.perTenant[id] <= 0 {
			delete(s.sessions.perTenant, id)
		}
	}), nil
}
