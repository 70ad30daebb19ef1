package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// TokenFunc returns the key a tool call acts with.
type TokenFunc func(req *sdk.CallToolRequest) (string, error)

// FromTokenInfo takes the key from the request's bearer token info, as the
// /mcp endpoint's authentication put it there.
func FromTokenInfo(req *sdk.CallToolRequest) (string, error) {
	if req.Extra == nil || req.Extra.TokenInfo == nil {
		return "", errors.New("unauthorized: no key")
	}
	token, _ := req.Extra.TokenInfo.Extra["key"].(string)
	if token == "" {
		return "", errors.New("unauthorized: no key")
	}
	return token, nil
}

// tools carries what every tool needs.
type tools struct {
	api   API
	token TokenFunc
	now   func() time.Time
}

// NewServer returns an MCP server with AutoMem's six tools.
func NewServer(api API, token TokenFunc, version string) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "mnemo", Version: version}, &sdk.ServerOptions{
		Instructions: "Long-term memory. Store durable facts, decisions and preferences with store_memory; " +
			"find them again with recall_memory; link related memories with associate_memories.",
	})
	t := &tools{api: api, token: token, now: func() time.Time { return time.Now().UTC() }}
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

// call makes one API call and decodes its JSON answer. A 4xx or 5xx answer
// becomes an error with the server's message.
func (t *tools) call(ctx context.Context, req *sdk.CallToolRequest, method, path string, query url.Values, body any) (map[string]any, error) {
	token, err := t.token(req)
	if err != nil {
		return nil, err
	}
	status, payload, err := t.api.Call(ctx, token, method, path, query, body)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if len(payload) > 0 {
		if err := json.Unmarshal(payload, &out); err != nil {
			return nil, fmt.Errorf("unexpected answer from %s %s (%d)", method, path, status)
		}
	}
	if status >= 400 {
		msg, _ := out["message"].(string)
		if msg == "" {
			msg = strings.TrimSpace(string(payload))
		}
		return out, &apiError{status: status, message: msg}
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.status, e.message) }

func isStatus(err error, status int) bool {
	var a *apiError
	return errors.As(err, &a) && a.status == status
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
		out, err := t.call(ctx, req, "POST", "/memory/batch", nil, map[string]any{"memories": a.Memories})
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
		out, err := t.call(ctx, req, "POST", "/memory", nil, b)
		if err != nil {
			return nil, nil, err
		}
		return result(fmt.Sprintf("Stored memory %v (type %v).", out["memory_id"], out["type"]), out)
	}
	// Supersede, as the bridge does: the old memory must exist; store the
	// new one; mark the old one invalid from now, pointing at the new one;
	// link old -> new. If marking fails, the new memory is removed again.
	rel := strings.ToUpper(a.SupersedeRelation)
	if rel == "" {
		rel = "INVALIDATED_BY"
	}
	if rel != "INVALIDATED_BY" && rel != "EVOLVED_INTO" {
		return nil, nil, errors.New("supersede_relation must be INVALIDATED_BY or EVOLVED_INTO")
	}
	old, err := t.call(ctx, req, "GET", "/memory/"+url.PathEscape(a.SupersedesMemoryID), nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("memory to supersede: %w", err)
	}
	out, err := t.call(ctx, req, "POST", "/memory", nil, b)
	if err != nil {
		return nil, nil, err
	}
	newID, _ := out["memory_id"].(string)
	meta := map[string]any{}
	if m, ok := old["memory"].(map[string]any); ok {
		if om, ok := m["metadata"].(map[string]any); ok {
			for k, v := range om {
				meta[k] = v
			}
		}
	}
	meta["deprecated"], meta["superseded_by"], meta["supersede_relation"] = true, newID, rel
	if a.SupersedeReason != "" {
		meta["supersede_reason"] = a.SupersedeReason
	}
	if _, err := t.call(ctx, req, "PATCH", "/memory/"+url.PathEscape(a.SupersedesMemoryID), nil,
		map[string]any{"t_invalid": t.now().Format(time.RFC3339Nano), "metadata": meta}); err != nil {
		t.call(ctx, req, "DELETE", "/memory/"+url.PathEscape(newID), nil, nil)
		return nil, nil, fmt.Errorf("superseding %s failed, nothing stored: %w", a.SupersedesMemoryID, err)
	}
	assoc := map[string]any{"memory1_id": a.SupersedesMemoryID, "memory2_id": newID, "type": rel, "strength": 0.9}
	if a.SupersedeReason != "" {
		assoc["reason"] = a.SupersedeReason
	}
	if _, err := t.call(ctx, req, "POST", "/associate", nil, assoc); err != nil {
		return nil, nil, err
	}
	out["supersedes_memory_id"], out["supersede_relation"] = a.SupersedesMemoryID, rel
	return result(fmt.Sprintf("Stored memory %s, superseding %s (%s).", newID, a.SupersedesMemoryID, rel), out)
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
		out, err := t.call(ctx, req, "GET", "/memory/"+url.PathEscape(a.MemoryID), nil, nil)
		if isStatus(err, 404) {
			return result("No memory with id "+a.MemoryID+".", map[string]any{"count": 0, "results": []any{}})
		}
		if err != nil {
			return nil, nil, err
		}
		m, _ := out["memory"].(map[string]any)
		return result(describe(m), out)
	case a.Exhaustive && len(a.Tags) > 0:
		q := url.Values{"tags": a.Tags}
		if a.Limit > 0 {
			q.Set("limit", strconv.Itoa(min(a.Limit, 200)))
		}
		if a.Offset > 0 {
			q.Set("offset", strconv.Itoa(a.Offset))
		}
		out, err := t.call(ctx, req, "GET", "/memory/by-tag", q, nil)
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
	out, err := t.call(ctx, req, "GET", "/recall", a.query(), nil)
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
	var b map[string]any
	if len(a.Associations) > 0 {
		b = map[string]any{"associations": a.Associations}
	} else {
		b = body(a)
	}
	out, err := t.call(ctx, req, "POST", "/associate", nil, b)
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
	out, err := t.call(ctx, req, "PATCH", "/memory/"+url.PathEscape(a.MemoryID), nil, b)
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
		out, err := t.call(ctx, req, "DELETE", "/memory/by-tag", url.Values{"tags": a.Tags}, nil)
		if err != nil {
			return nil, nil, err
		}
		return result(fmt.Sprintf("Deleted %v memories.", out["deleted_count"]), out)
	}
	out, err := t.call(ctx, req, "DELETE", "/memory/"+url.PathEscape(a.MemoryID), nil, nil)
	if err != nil {
		return nil, nil, err
	}
	return result("Deleted memory "+a.MemoryID+".", out)
}

// HealthArgs has no fields.
type HealthArgs struct{}

func (t *tools) checkHealth(ctx context.Context, req *sdk.CallToolRequest, _ HealthArgs) (*sdk.CallToolResult, map[string]any, error) {
	out, err := t.call(ctx, req, "GET", "/health", nil, nil)
	if err != nil {
		return nil, nil, err
	}
	raw, _ := json.MarshalIndent(out, "", "  ")
	return result(string(raw), out)
}
