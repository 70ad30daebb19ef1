// Package mcp serves mnemo's memory to AI assistants over the Model
// Context Protocol, with the six tools of AutoMem's MCP bridge. The tools
// call the same services as the HTTP API, with the caller the transport
// authenticated: keys, scopes, tenant status, rate limits, quotas, usage
// and audit apply to a tool call exactly as to an HTTP request (a tool call
// is one request), and a refusal reaches the assistant as a tool error with
// the API's status and message.
package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mnemohq/mnemo"
)

// Services are what the tools call.
type Services struct {
	Gate     mnemo.Gate
	Memories mnemo.MemoryService
	Recall   mnemo.RecallService
	Health   mnemo.HealthService
}

// Options shape the server.
type Options struct {
	// Version is reported by initialize.
	Version string
	// ErrorStatus gives an error code's status, which starts a tool
	// error's text ("403: ..."), as clients of AutoMem's bridge saw it.
	ErrorStatus func(code string) int
	Logger      *slog.Logger
}

// callerKey and admittedKey are where TokenInfo keeps the caller and the
// admitted request.
const (
	callerKey   = "mnemo_caller"
	admittedKey = "mnemo_admitted"
)

// TokenInfo is the token info the transport gives the SDK for an
// authenticated caller, whose HTTP request was admitted (mnemo.KindMCP)
// with the context admitted; the tools act for that caller, within that
// request. The SDK hands each message the token info of the HTTP request
// that carried it.
func TokenInfo(c *mnemo.Caller, admitted context.Context) *auth.TokenInfo {
	info := &auth.TokenInfo{UserID: c.Tenant.ID, Scopes: c.Key.Scopes, Extra: map[string]any{callerKey: c, admittedKey: admitted}}
	if c.Key.ExpiresAt != nil {
		info.Expiration = *c.Key.ExpiresAt
	}
	return info
}

// caller returns the caller a tool call acts for.
func caller(req *sdk.CallToolRequest) (*mnemo.Caller, error) {
	if req.Extra != nil && req.Extra.TokenInfo != nil {
		if c, ok := req.Extra.TokenInfo.Extra[callerKey].(*mnemo.Caller); ok && c != nil {
			return c, nil
		}
	}
	return nil, errors.New("unauthorized: no key")
}

// within gives a tool call's context the values of the HTTP request that
// carried it (its admission, its request id) and keeps its own deadline
// and cancellation. The request's values come first: the tool's own
// context descends from the request that opened the session, long ended,
// and carries that one's.
func within(ctx context.Context, req *sdk.CallToolRequest) context.Context {
	if req.Extra != nil && req.Extra.TokenInfo != nil {
		if outer, ok := req.Extra.TokenInfo.Extra[admittedKey].(context.Context); ok && outer != nil {
			return valuesFrom{ctx, outer}
		}
	}
	return ctx
}

// valuesFrom is a context whose values are outer's, then its own.
type valuesFrom struct {
	context.Context
	outer context.Context
}

func (v valuesFrom) Value(key any) any {
	if x := v.outer.Value(key); x != nil {
		return x
	}
	return v.Context.Value(key)
}

// tools carries what every tool needs.
type tools struct {
	svc  Services
	opts Options
}

// NewServer returns an MCP server with AutoMem's six tools.
func NewServer(svc Services, opts Options) *sdk.Server {
	if opts.ErrorStatus == nil {
		opts.ErrorStatus = func(string) int { return 0 }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := sdk.NewServer(&sdk.Implementation{Name: "mnemo", Version: opts.Version}, &sdk.ServerOptions{
		Instructions: "Long-term memory. Store durable facts, decisions and preferences with store_memory; " +
			"find them again with recall_memory; link related memories with associate_memories.",
	})
	t := &tools{svc: svc, opts: opts}
	sdk.AddTool(s, &sdk.Tool{Name: "store_memory", Description: "Store a memory (or a batch in 'memories'). " +
		"With supersedes_memory_id, the new memory replaces an old one: the old one is marked invalid and linked to it."}, t.storeMemory)
	sdk.AddTool(s, &sdk.Tool{Name: "recall_memory", Description: "Recall memories: by memory_id, all memories with given tags " +
		"(exhaustive=true), or ranked by hybrid keyword and vector search with every AutoMem recall parameter."}, t.recallMemory)
	sdk.AddTool(s, &sdk.Tool{Name: "associate_memories", Description: "Create a typed relation between two memories, " +
		"or several at once in 'associations'."}, t.associateMemories)
	sdk.AddTool(s, &sdk.Tool{Name: "update_memory", Description: "Update fields of a memory. Metadata, when given, replaces the old metadata."}, t.updateMemory)
	sdk.AddTool(s, &sdk.Tool{Name: "delete_memory", Description: "Delete a memory by id, or every memory with one of the given tags."}, t.deleteMemory)
	sdk.AddTool(s, &sdk.Tool{Name: "check_database_health", Description: "Report the memory service's health and this tenant's counts."}, t.checkHealth)
	return s
}

// call runs one tool call as one request of kind: admitted for the caller,
// then op, whose result becomes the structured answer (AutoMem's JSON).
//
// A panic is the call's internal error: the SDK runs tool handlers without
// recovering, so a panic here would end the process, every tenant's
// requests with it.
func (t *tools) call(ctx context.Context, req *sdk.CallToolRequest, kind string, op func(ctx context.Context) (any, error)) (out map[string]any, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, t.toolError(ctx, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
		}
	}()
	c, err := caller(req)
	if err != nil {
		return nil, err
	}
	ctx, adm, err := t.svc.Gate.Admit(within(ctx, req), c, kind)
	if err != nil {
		return nil, t.toolError(ctx, err)
	}
	defer adm.End()
	res, err := op(ctx)
	if err != nil {
		return nil, t.toolError(ctx, err)
	}
	return toMap(res)
}

// apiError is a refusal as a tool error: the status an HTTP client would
// see, and the message.
type apiError struct {
	code    string
	status  int
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.status, e.message) }

// toolError turns a service error into a tool error. One a client would
// see as a 5xx is logged at ERROR with its cause; an internal one tells the
// assistant nothing.
func (t *tools) toolError(ctx context.Context, err error) error {
	err = mnemo.Budget(ctx, err)
	code := mnemo.ErrorCode(err)
	status := t.opts.ErrorStatus(code)
	if code == mnemo.EINTERNAL || status >= 500 {
		t.opts.Logger.Error("tool call failed", "request_id", mnemo.RequestIDFromContext(ctx), "code", code, "err", err)
	}
	return &apiError{code: code, status: status, message: mnemo.ErrorMessage(err)}
}

func isCode(err error, code string) bool {
	var a *apiError
	return errors.As(err, &a) && a.code == code
}

// toMap is a result as the JSON object the HTTP API sends.
func toMap(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// result pairs readable text with the structured answer.
func result(text string, out map[string]any) (*sdk.CallToolResult, map[string]any, error) {
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}, out, nil
}

// StoreArgs are store_memory's arguments (AutoMem's bridge schema).
type StoreArgs struct {
	Content            string         `json:"content,omitempty" jsonschema:"the memory text (required unless memories is given)"`
	Type               string         `json:"type,omitempty" jsonschema:"Decision, Pattern, Preference, Style, Habit, Insight or Context"`
	Confidence         *float64       `json:"confidence,omitempty" jsonschema:"0 to 1"`
	Tags               []string       `json:"tags,omitempty"`
	Importance         *float64       `json:"importance,omitempty" jsonschema:"0 to 1, default 0.5"`
	Metadata           map[string]any `json:"metadata,omitempty"`
	Timestamp          string         `json:"timestamp,omitempty" jsonschema:"ISO 8601; default now"`
	TValid             string         `json:"t_valid,omitempty"`
	TInvalid           string         `json:"t_invalid,omitempty"`
	UpdatedAt          string         `json:"updated_at,omitempty"`
	LastAccessed       string         `json:"last_accessed,omitempty"`
	Embedding          []float64      `json:"embedding,omitempty"`
	Memories           []BatchItem    `json:"memories,omitempty" jsonschema:"store several memories at once (at most 500)"`
	SupersedesMemoryID string         `json:"supersedes_memory_id,omitempty" jsonschema:"id of a memory this one replaces"`
	SupersedeRelation  string         `json:"supersede_relation,omitempty" jsonschema:"INVALIDATED_BY (default) or EVOLVED_INTO"`
	SupersedeReason    string         `json:"supersede_reason,omitempty"`
}

// BatchItem is one memory of a batch store.
type BatchItem struct {
	Content    string         `json:"content"`
	Tags       []string       `json:"tags,omitempty"`
	Importance *float64       `json:"importance,omitempty"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	Timestamp  string         `json:"timestamp,omitempty"`
	Type       string         `json:"type,omitempty"`
	Confidence *float64       `json:"confidence,omitempty"`
}

// body turns arguments into a JSON object without the empty fields.
func body(v any) map[string]any {
	raw, _ := json.Marshal(v)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m
}

func (t *tools) storeMemory(ctx context.Context, req *sdk.CallToolRequest, a StoreArgs) (*sdk.CallToolResult, map[string]any, error) {
	if len(a.Memories) > 0 {
		items := make([]any, len(a.Memories))
		for i, m := range a.Memories {
			items[i] = body(m)
		}
		out, err := t.call(ctx, req, mnemo.KindStore, func(ctx context.Context) (any, error) {
			return t.svc.Memories.StoreMemories(ctx, items)
		})
		if err != nil {
			return nil, nil, err
		}
		return result(fmt.Sprintf("Stored %v memories.", out["stored"]), out)
	}
	b := body(a)
	for _, k := range []string{"memories", "supersedes_memory_id", "supersede_relation", "supersede_reason"} {
		delete(b, k)
	}
	if a.SupersedesMemoryID == "" {
		out, err := t.call(ctx, req, mnemo.KindStore, func(ctx context.Context) (any, error) {
			return t.svc.Memories.StoreMemory(ctx, b)
		})
		if err != nil {
			return nil, nil, err
		}
		return result(fmt.Sprintf("Stored memory %v (type %v).", out["memory_id"], out["type"]), out)
	}
	// Supersede, in one write: the new memory, the old one marked invalid
	// from now and pointing at the new one, and the link old -> new.
	rel := mnemo.RelationType(strings.ToUpper(a.SupersedeRelation))
	out, err := t.call(ctx, req, mnemo.KindStore, func(ctx context.Context) (any, error) {
		return t.svc.Memories.Supersede(ctx, b, a.SupersedesMemoryID, rel, a.SupersedeReason)
	})
	if err != nil {
		return nil, nil, err
	}
	return result(fmt.Sprintf("Stored memory %v, superseding %s (%v).", out["memory_id"], a.SupersedesMemoryID, out["supersede_relation"]), out)
}

// RecallArgs are recall_memory's arguments: AutoMem's /recall parameters,
// plus memory_id and exhaustive tag listing.
type RecallArgs struct {
	MemoryID            string    `json:"memory_id,omitempty" jsonschema:"fetch one memory by id"`
	Exhaustive          bool      `json:"exhaustive,omitempty" jsonschema:"with tags: list every memory with any of the tags"`
	Offset              int       `json:"offset,omitempty"`
	Query               string    `json:"query,omitempty"`
	Queries             []string  `json:"queries,omitempty"`
	Limit               int       `json:"limit,omitempty" jsonschema:"1 to 200; the server clamps to 100"`
	Embedding           []float64 `json:"embedding,omitempty"`
	TimeQuery           string    `json:"time_query,omitempty" jsonschema:"e.g. 'last week', 'past 3 days', 'in March 2024'"`
	Start               string    `json:"start,omitempty"`
	End                 string    `json:"end,omitempty"`
	Tags                []string  `json:"tags,omitempty"`
	ExcludeTags         []string  `json:"exclude_tags,omitempty"`
	TagMode             string    `json:"tag_mode,omitempty" jsonschema:"any (default) or all"`
	TagMatch            string    `json:"tag_match,omitempty" jsonschema:"prefix (default) or exact"`
	ExpandRelations     *bool     `json:"expand_relations,omitempty"`
	ExpandRespectTags   *bool     `json:"expand_respect_tags,omitempty"`
	ExpandEntities      *bool     `json:"expand_entities,omitempty"`
	AutoDecompose       *bool     `json:"auto_decompose,omitempty"`
	ExpansionLimit      int       `json:"expansion_limit,omitempty"`
	RelationLimit       int       `json:"relation_limit,omitempty"`
	ExpandMinImportance *float64  `json:"expand_min_importance,omitempty"`
	ExpandMinStrength   *float64  `json:"expand_min_strength,omitempty"`
	CurrentOnly         *bool     `json:"current_only,omitempty"`
	StateDebug          *bool     `json:"state_debug,omitempty"`
	StateMode           string    `json:"state_mode,omitempty"`
	RecencyBias         string    `json:"recency_bias,omitempty"`
	ScopeFallback       *bool     `json:"scope_fallback,omitempty"`
	MinScore            *float64  `json:"min_score,omitempty"`
	AdaptiveFloor       *bool     `json:"adaptive_floor,omitempty"`
	Context             string    `json:"context,omitempty"`
	Language            string    `json:"language,omitempty"`
	ActivePath          string    `json:"active_path,omitempty"`
	ContextTags         []string  `json:"context_tags,omitempty"`
	ContextTypes        []string  `json:"context_types,omitempty"`
	PriorityIDs         []string  `json:"priority_ids,omitempty"`
	PerQueryLimit       int       `json:"per_query_limit,omitempty"`
	Sort                string    `json:"sort,omitempty"`
	Format              string    `json:"format,omitempty" jsonschema:"text, items, detailed or json (how the answer text is laid out)"`
}

// query turns the recall arguments into /recall's query string: repeated
// parameters for lists, as the bridge sends them.
func (a RecallArgs) query() url.Values {
	v := url.Values{}
	for k, val := range body(a) {
		switch k {
		case "memory_id", "exhaustive", "format", "offset":
			continue
		}
		switch x := val.(type) {
		case []any:
			if k == "embedding" {
				parts := make([]string, len(x))
				for i, f := range x {
					parts[i] = fmt.Sprint(f)
				}
				v.Set(k, strings.Join(parts, ","))
				continue
			}
			for _, it := range x {
				v.Add(k, fmt.Sprint(it))
			}
		case float64:
			v.Set(k, strconv.FormatFloat(x, 'f', -1, 64))
		default:
			v.Set(k, fmt.Sprint(x))
		}
	}
	return v
}

func (t *tools) recallMemory(ctx context.Context, req *sdk.CallToolRequest, a RecallArgs) (*sdk.CallToolResult, map[string]any, error) {
	switch {
	case a.MemoryID != "":
		out, err := t.call(ctx, req, mnemo.KindRecall, func(ctx context.Context) (any, error) {
			return t.svc.Memories.Memory(ctx, a.MemoryID)
		})
		if isCode(err, mnemo.ENOTFOUND) {
			return result("No memory with id "+a.MemoryID+".", map[string]any{"count": 0, "results": []any{}})
		}
		if err != nil {
			return nil, nil, err
		}
		m, _ := out["memory"].(map[string]any)
		return result(describe(m), out)
	case a.Exhaustive && len(a.Tags) > 0:
		limit := 20
		if a.Limit > 0 {
			limit = min(a.Limit, 200)
		}
		out, err := t.call(ctx, req, mnemo.KindRecall, func(ctx context.Context) (any, error) {
			return t.svc.Memories.MemoriesByTag(ctx, a.Tags, limit, max(a.Offset, 0))
		})
		if err != nil {
			return nil, nil, err
		}
		mems, _ := out["memories"].([]any)
		lines := []string{fmt.Sprintf("%d memories with tags %s (has_more: %v):", len(mems), strings.Join(a.Tags, ", "), out["has_more"])}
		for i, m := range mems {
			mm, _ := m.(map[string]any)
			lines = append(lines, fmt.Sprintf("%d. %s", i+1, describe(mm)))
		}
		return result(strings.Join(lines, "\n"), out)
	}
	out, err := t.call(ctx, req, mnemo.KindRecall, func(ctx context.Context) (any, error) {
		return t.svc.Recall.Recall(ctx, a.query())
	})
	if err != nil {
		return nil, nil, err
	}
	rows, _ := out["results"].([]any)
	lines := []string{fmt.Sprintf("%d memories:", len(rows))}
	for i, row := range rows {
		r, _ := row.(map[string]any)
		m, _ := r["memory"].(map[string]any)
		lines = append(lines, fmt.Sprintf("%d. [score %.3f] %s", i+1, num(r["final_score"]), describe(m)))
	}
	return result(strings.Join(lines, "\n"), out)
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// describe is one line for a memory: id, type, date, tags and content.
func describe(m map[string]any) string {
	if m == nil {
		return ""
	}
	var tags []string
	if list, ok := m["tags"].([]any); ok {
		for _, t := range list {
			tags = append(tags, fmt.Sprint(t))
		}
	}
	sort.Strings(tags)
	ts, _ := m["timestamp"].(string)
	if len(ts) >= 10 {
		ts = ts[:10]
	}
	s := fmt.Sprintf("%v (%v, %s)", m["id"], m["type"], ts)
	if len(tags) > 0 {
		s += " [" + strings.Join(tags, ", ") + "]"
	}
	return s + ": " + fmt.Sprint(m["content"])
}

// AssociateArgs are associate_memories' arguments.
type AssociateArgs struct {
	Memory1ID      string           `json:"memory1_id,omitempty"`
	Memory2ID      string           `json:"memory2_id,omitempty"`
	Type           string           `json:"type,omitempty" jsonschema:"RELATES_TO, LEADS_TO, OCCURRED_BEFORE, PREFERS_OVER, EXEMPLIFIES, CONTRADICTS, REINFORCES, INVALIDATED_BY, EVOLVED_INTO, DERIVED_FROM or PART_OF"`
	Strength       *float64         `json:"strength,omitempty" jsonschema:"0 to 1"`
	Context        string           `json:"context,omitempty"`
	Reason         string           `json:"reason,omitempty"`
	PatternType    string           `json:"pattern_type,omitempty"`
	Confidence     *float64         `json:"confidence,omitempty"`
	Resolution     string           `json:"resolution,omitempty"`
	Observations   *float64         `json:"observations,omitempty"`
	Timestamp      string           `json:"timestamp,omitempty"`
	Transformation string           `json:"transformation,omitempty"`
	Role           string           `json:"role,omitempty"`
	Associations   []map[string]any `json:"associations,omitempty" jsonschema:"several associations, each with these fields"`
}

func (t *tools) associateMemories(ctx context.Context, req *sdk.CallToolRequest, a AssociateArgs) (*sdk.CallToolResult, map[string]any, error) {
	out, err := t.call(ctx, req, mnemo.KindAssociate, func(ctx context.Context) (any, error) {
		if len(a.Associations) > 0 {
			items := make([]any, len(a.Associations))
			for i, it := range a.Associations {
				items[i] = it
			}
			return t.svc.Memories.AssociateMany(ctx, items)
		}
		return t.svc.Memories.Associate(ctx, body(a))
	})
	if err != nil {
		return nil, nil, err
	}
	text, _ := out["summary"].(string)
	if text == "" {
		text, _ = out["message"].(string)
	}
	return result(text, out)
}

// UpdateArgs are update_memory's arguments.
type UpdateArgs struct {
	MemoryID     string         `json:"memory_id" jsonschema:"the memory to update"`
	Content      string         `json:"content,omitempty"`
	Tags         []string       `json:"tags,omitempty"`
	Importance   *float64       `json:"importance,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty" jsonschema:"replaces the memory's metadata"`
	Timestamp    string         `json:"timestamp,omitempty"`
	TValid       string         `json:"t_valid,omitempty"`
	TInvalid     string         `json:"t_invalid,omitempty"`
	UpdatedAt    string         `json:"updated_at,omitempty"`
	LastAccessed string         `json:"last_accessed,omitempty"`
	Type         string         `json:"type,omitempty"`
	Confidence   *float64       `json:"confidence,omitempty"`
}

func (t *tools) updateMemory(ctx context.Context, req *sdk.CallToolRequest, a UpdateArgs) (*sdk.CallToolResult, map[string]any, error) {
	b := body(a)
	delete(b, "memory_id")
	out, err := t.call(ctx, req, mnemo.KindUpdate, func(ctx context.Context) (any, error) {
		return t.svc.Memories.UpdateMemory(ctx, a.MemoryID, b)
	})
	if err != nil {
		return nil, nil, err
	}
	return result("Updated memory "+a.MemoryID+".", out)
}

// DeleteArgs are delete_memory's arguments.
type DeleteArgs struct {
	MemoryID string   `json:"memory_id,omitempty" jsonschema:"the memory to delete"`
	Tags     []string `json:"tags,omitempty" jsonschema:"delete every memory with any of these tags"`
}

func (t *tools) deleteMemory(ctx context.Context, req *sdk.CallToolRequest, a DeleteArgs) (*sdk.CallToolResult, map[string]any, error) {
	if a.MemoryID == "" && len(a.Tags) == 0 {
		return nil, nil, errors.New("give memory_id or tags")
	}
	if a.MemoryID == "" {
		out, err := t.call(ctx, req, mnemo.KindDelete, func(ctx context.Context) (any, error) {
			return t.svc.Memories.DeleteByTag(ctx, a.Tags)
		})
		if err != nil {
			return nil, nil, err
		}
		return result(fmt.Sprintf("Deleted %v memories.", out["deleted_count"]), out)
	}
	out, err := t.call(ctx, req, mnemo.KindDelete, func(ctx context.Context) (any, error) {
		return t.svc.Memories.DeleteMemory(ctx, a.MemoryID)
	})
	if err != nil {
		return nil, nil, err
	}
	return result("Deleted memory "+a.MemoryID+".", out)
}

// HealthArgs has no fields.
type HealthArgs struct{}

func (t *tools) checkHealth(ctx context.Context, req *sdk.CallToolRequest, _ HealthArgs) (*sdk.CallToolResult, map[string]any, error) {
	c, err := caller(req)
	if err != nil {
		return nil, nil, err
	}
	// Health is not a tenant request: it counts no usage. The HTTP request
	// that carries it was admitted (status, rate limit, concurrency).
	out, err := toMap(t.svc.Health.Health(ctx, c))
	if err != nil {
		return nil, nil, err
	}
	raw, _ := json.MarshalIndent(out, "", "  ")
	return result(string(raw), out)
}
