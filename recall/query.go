package recall

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mnemohq/mnemo"
)

// Config holds the server-wide recall settings.
type Config struct {
	Weights        Weights
	MaxLimit       int // AutoMem's RECALL_MAX_LIMIT
	RelationLimit  int // default relation_limit
	ExpansionLimit int // default expansion_limit
	AdaptiveFloor  bool
	MinScore       float64
	// ContextWindow is how many top rows bring their time neighbours in;
	// ContextWeight is the share of the row's score those receive.
	ContextWindow int
	ContextWeight float64
	// ContextMaxGap is how far in time a neighbour may be.
	ContextMaxGap time.Duration
	// RecencyBias is the default of recency_bias: "on", "off" or "auto".
	RecencyBias string
}

// DefaultConfig is AutoMem's defaults.
var DefaultConfig = Config{Weights: DefaultWeights, MaxLimit: 100, RelationLimit: 5, ExpansionLimit: 25, AdaptiveFloor: true,
	ContextWindow: 3, ContextWeight: 0.7, ContextMaxGap: time.Hour, RecencyBias: "off"}

// Query is one parsed /recall request.
type Query struct {
	Query               string
	Queries             []string
	Multi               bool
	Limit               int
	PerQueryLimit       int
	Embedding           []float32
	TimeQuery           string
	Window              Window
	Filter              mnemo.Filter
	Sort                string
	ExpandRelations     bool
	ExpandRespectTags   bool
	RelationLimit       int
	ExpansionLimit      int
	ExpandMinImportance *float64
	ExpandMinStrength   *float64
	MinScore            *float64
	AdaptiveFloor       bool
	StateMode           string // "current" or "history"
	StateDebug          bool
	TimeQueryUnparsed   bool
	ContextWindow       int
	ContextWeight       float64
	ContextMaxGap       time.Duration
	Now                 time.Time

	// Context hints (reference §4.5).
	Context      string
	Language     string
	ActivePath   string
	ContextTags  []string
	ContextTypes []string
	PriorityIDs  []string

	RecencyBias    string // on, off or auto
	AutoDecompose  bool
	ExpandEntities bool
	ScopeFallback  bool

	profile  *Profile
	queryVec []float32 // the first query's embedding, for the scope fallback
}

// searches reports whether the query ranks by relevance, rather than
// listing memories (an empty query or "*" is AutoMem's trending list).
func (q *Query) searches() bool {
	return (q.Query != "" && q.Query != "*") || q.Multi || q.Embedding != nil
}

var (
	trueWords  = map[string]bool{"1": true, "true": true, "yes": true, "y": true, "on": true}
	falseWords = map[string]bool{"0": true, "false": true, "no": true, "off": true, "n": true}
)

// Bool parses a query-string boolean as AutoMem does; anything else is def.
func Bool(v string, def bool) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	if trueWords[v] {
		return true
	}
	if falseWords[v] {
		return false
	}
	return def
}

func first(v url.Values, names ...string) (string, bool) {
	for _, n := range names {
		if vals, ok := v[n]; ok && len(vals) > 0 {
			return vals[0], true
		}
	}
	return "", false
}

func clampInt(s string, def, lo, hi int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	return min(max(n, lo), hi)
}

func unitFloat(s string, ok bool) *float64 {
	if !ok {
		return nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return nil
	}
	f = min(max(f, 0), 1)
	return &f
}

// splitAll returns repeated values, each also comma-split, without empties.
func splitAll(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// ParseQuery reads /recall's parameters (reference §4.1) with AutoMem's
// defaults, aliases and clamps. dim is the embedder's dimension.
func ParseQuery(v url.Values, cfg Config, dim int, now time.Time) (*Query, error) {
	q := &Query{Now: now, StateMode: "current", AdaptiveFloor: cfg.AdaptiveFloor, Sort: "score"}
	q.Query = strings.TrimSpace(v.Get("query"))
	q.Queries = splitAll(v["queries"])
	q.Multi = len(q.Queries) > 0
	q.Limit = clampInt(v.Get("limit"), 5, 1, cfg.MaxLimit)
	q.PerQueryLimit = q.Limit
	if s, ok := first(v, "per_query_limit"); ok {
		q.PerQueryLimit = clampInt(s, q.Limit, 1, cfg.MaxLimit)
	}
	if s, ok := first(v, "embedding"); ok && strings.TrimSpace(s) != "" {
		vec, err := mnemo.ParseEmbedding(s, dim)
		if err != nil {
			return nil, err
		}
		q.Embedding = vec
	}
	if s, ok := first(v, "time_query", "time"); ok && strings.TrimSpace(s) != "" {
		q.TimeQuery = strings.TrimSpace(s)
		w, parsed := ParseTimeQuery(q.TimeQuery, now)
		q.Window, q.TimeQueryUnparsed = w, !parsed
	}
	if s, ok := first(v, "start"); ok && strings.TrimSpace(s) != "" {
		t, err := mnemo.ParseTime(s)
		if err != nil {
			return nil, mnemo.Errorf(mnemo.EINVALID, "Invalid start time: 'start' must be ISO 8601, got %q", s)
		}
		q.Window.Start = &t
	}
	if s, ok := first(v, "end"); ok && strings.TrimSpace(s) != "" {
		t, err := mnemo.ParseTime(s)
		if err != nil {
			return nil, mnemo.Errorf(mnemo.EINVALID, "Invalid end time: 'end' must be ISO 8601, got %q", s)
		}
		q.Window.End = &t
	}
	q.Filter = mnemo.Filter{Start: q.Window.Start, End: q.Window.End, TagMode: "any", TagMatch: "prefix"}
	for _, t := range v["tags"] {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			q.Filter.Tags = append(q.Filter.Tags, t)
		}
	}
	if strings.ToLower(v.Get("tag_mode")) == "all" {
		q.Filter.TagMode = "all"
	}
	if strings.ToLower(v.Get("tag_match")) == "exact" {
		q.Filter.TagMatch = "exact"
	}
	for _, t := range splitAll(v["exclude_tags"]) {
		q.Filter.ExcludeTags = append(q.Filter.ExcludeTags, strings.ToLower(t))
	}
	if s, ok := first(v, "sort", "order_by"); ok {
		switch s = strings.ToLower(strings.TrimSpace(s)); s {
		case "score", mnemo.OrderTimeDesc, mnemo.OrderTimeAsc, mnemo.OrderUpdatedDesc, mnemo.OrderUpdatedAsc:
			q.Sort = s
		}
	}
	if q.Sort == "score" && q.Query == "" && !q.Multi && q.Embedding == nil && (q.Window.Start != nil || q.Window.End != nil) {
		q.Sort = mnemo.OrderTimeDesc
	}
	if s, ok := first(v, "expand_relations", "expand_associations", "expand"); ok {
		q.ExpandRelations = Bool(s, false)
	}
	q.ExpandRespectTags = Bool(v.Get("expand_respect_tags"), false)
	q.RelationLimit = cfg.RelationLimit
	if s, ok := first(v, "relation_limit"); ok {
		q.RelationLimit = clampInt(s, cfg.RelationLimit, 1, 200)
	}
	q.ExpansionLimit = cfg.ExpansionLimit
	if s, ok := first(v, "expansion_limit", "relation_expansion_limit"); ok {
		q.ExpansionLimit = clampInt(s, cfg.ExpansionLimit, 1, 500)
	}
	q.ExpandMinImportance = unitFloat(first(v, "expand_min_importance"))
	q.ExpandMinStrength = unitFloat(first(v, "expand_min_strength"))
	q.MinScore = unitFloat(first(v, "min_score"))
	if q.MinScore == nil && cfg.MinScore > 0 {
		ms := cfg.MinScore
		q.MinScore = &ms
	}
	if s, ok := first(v, "adaptive_floor"); ok {
		q.AdaptiveFloor = Bool(s, cfg.AdaptiveFloor)
	}
	if s, ok := first(v, "state_mode"); ok {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "current", "":
			q.StateMode = "current"
		case "history":
			q.StateMode = "history"
		default:
			return nil, mnemo.Errorf(mnemo.EINVALID, "'state_mode' must be 'current' or 'history'")
		}
	}
	if s, ok := first(v, "current_only"); ok {
		if Bool(s, true) {
			q.StateMode = "current"
		} else {
			q.StateMode = "history"
		}
	}
	q.StateDebug = Bool(v.Get("state_debug"), false)
	q.ContextWindow, q.ContextWeight, q.ContextMaxGap = cfg.ContextWindow, cfg.ContextWeight, cfg.ContextMaxGap
	q.Context = strings.ToLower(strings.TrimSpace(v.Get("context")))
	q.Language, _ = first(v, "language", "lang")
	q.Language = strings.TrimSpace(q.Language)
	q.ActivePath, _ = first(v, "active_path", "file_path", "focus_path")
	q.ContextTags, q.ContextTypes = splitAll(v["context_tags"]), splitAll(v["context_types"])
	for _, id := range splitAll(v["priority_ids"]) {
		if canonical, err := mnemo.ValidateMemoryID(id); err == nil {
			q.PriorityIDs = append(q.PriorityIDs, canonical)
		}
	}
	q.RecencyBias = cfg.RecencyBias
	switch s := strings.ToLower(strings.TrimSpace(v.Get("recency_bias"))); s {
	case "on", "off", "auto":
		q.RecencyBias = s
	}
	if s, ok := first(v, "expand_entities", "entity_expansion"); ok {
		q.ExpandEntities = Bool(s, false)
	}
	q.AutoDecompose = Bool(v.Get("auto_decompose"), false)
	q.ScopeFallback = Bool(v.Get("scope_fallback"), false)
	if s, ok := first(v, "context_window"); ok {
		q.ContextWindow = clampInt(s, cfg.ContextWindow, 0, 10)
	}
	return q, nil
}
