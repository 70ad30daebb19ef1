package recall

import (
	"fmt"
	"net/url"
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

// MaxQueries caps the sub-queries one recall may run: each is a full search.
const MaxQueries = 10

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
	_, s, ok := firstNamed(v, names...)
	return s, ok
}

// firstNamed is first, with the name it found (names[0] when none).
func firstNamed(v url.Values, names ...string) (name, value string, ok bool) {
	for _, n := range names {
		if vals, ok := v[n]; ok && len(vals) > 0 {
			return n, vals[0], true
		}
	}
	return names[0], "", false
}

// clampInt reads an integer parameter, by the first of names present, as
// mnemo.IntParam does.
func (p *params) clampInt(def, lo, hi int, names ...string) int {
	name, s, _ := firstNamed(p.v, names...)
	n, err := mnemo.IntParam(name, s, def, lo, hi)
	p.fail(err)
	return n
}

// unit reads a number parameter as mnemo.UnitParam does.
func (p *params) unit(name string) *float64 {
	s, ok := first(p.v, name)
	f, err := mnemo.UnitParam(name, s, ok)
	p.fail(err)
	return f
}

// list returns the values of a list parameter, comma-split when split,
// without empties, refused past the list bound.
func (p *params) list(name string, split bool) []string {
	var out []string
	if split {
		out = splitAll(p.v[name])
	} else {
		for _, t := range p.v[name] {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	p.fail(p.lim.CheckList(name, len(out)))
	return out
}

// text returns a free-text parameter, by the first of names present,
// trimmed, refused past the length bound.
func (p *params) text(names ...string) string {
	name, s, _ := firstNamed(p.v, names...)
	s = strings.TrimSpace(s)
	p.fail(p.lim.CheckText(name, s))
	return s
}

// params reads /recall's parameters and keeps the first refusal.
type params struct {
	v   url.Values
	lim mnemo.Limits
	err error
}

func (p *params) fail(err error) {
	if p.err == nil {
		p.err = err
	}
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
// defaults, aliases and clamps, within lim's bounds. dim is the embedder's
// dimension.
func ParseQuery(v url.Values, cfg Config, lim mnemo.Limits, dim int, now time.Time) (*Query, error) {
	p := &params{v: v, lim: lim.OrDefaults()}
	q, err := p.parse(cfg, dim, now)
	if p.err != nil {
		return nil, p.err
	}
	return q, err
}

func (p *params) parse(cfg Config, dim int, now time.Time) (*Query, error) {
	v := p.v
	q := &Query{Now: now, StateMode: "current", AdaptiveFloor: cfg.AdaptiveFloor, Sort: "score"}
	// The sizes first: they bound what the rest costs.
	q.Query = strings.TrimSpace(v.Get("query"))
	p.fail(p.lim.CheckQuery("'query'", q.Query, SearchTerms))
	if q.Queries = splitAll(v["queries"]); len(q.Queries) > MaxQueries {
		return nil, mnemo.Errorf(mnemo.EINVALID, "'queries' may hold at most %d queries (got %d)", MaxQueries, len(q.Queries))
	}
	for i, sub := range q.Queries {
		p.fail(p.lim.CheckQuery(fmt.Sprintf("'queries' item at index %d", i), sub, SearchTerms))
	}
	tags, excluded := p.list("tags", false), p.list("exclude_tags", true)
	q.ContextTags, q.ContextTypes = p.list("context_tags", true), p.list("context_types", true)
	priority := p.list("priority_ids", true)
	if p.err != nil {
		return nil, nil
	}
	q.Multi = len(q.Queries) > 0
	q.Limit = p.clampInt(5, 1, cfg.MaxLimit, "limit")
	q.PerQueryLimit = p.clampInt(q.Limit, 1, cfg.MaxLimit, "per_query_limit")
	if s, ok := first(v, "embedding"); ok && strings.TrimSpace(s) != "" {
		vec, err := mnemo.ParseEmbedding(s, dim)
		if err != nil {
			return nil, err
		}
		q.Embedding = vec
	}
	if s := p.text("time_query", "time"); s != "" {
		q.TimeQuery = s
		w, parsed := ParseTimeQuery(q.TimeQuery, now)
		if parsed && !w.InRange() {
			return nil, mnemo.Errorf(mnemo.EINVALID, "'time_query' %q reaches outside years 0001 to 9999: it may go back at most %d hours, %d days, %d weeks, %d months or %d years, and no further than year 1",
				q.TimeQuery, mnemo.MaxBack("hour"), mnemo.MaxBack("day"), mnemo.MaxBack("week"), mnemo.MaxBack("month"), mnemo.MaxBack("year"))
		}
		q.Window, q.TimeQueryUnparsed = w, !parsed
	}
	explicit := 0 // of start and end, how many the client gave
	if s, ok := first(v, "start"); ok && strings.TrimSpace(s) != "" {
		t, err := mnemo.ParseTime(s)
		if err != nil {
			return nil, mnemo.Errorf(mnemo.EINVALID, "Invalid start time: 'start' must be ISO 8601, got %q", s)
		}
		q.Window.Start = &t
		explicit++
	}
	if s, ok := first(v, "end"); ok && strings.TrimSpace(s) != "" {
		t, err := mnemo.ParseTime(s)
		if err != nil {
			return nil, mnemo.Errorf(mnemo.EINVALID, "Invalid end time: 'end' must be ISO 8601, got %q", s)
		}
		q.Window.End = &t
		explicit++
	}
	if start, end := q.Window.Start, q.Window.End; explicit == 2 && start.After(*end) {
		return nil, mnemo.Errorf(mnemo.EINVALID, "'start' (%s) must not be after 'end' (%s)", mnemo.FormatTime(*start), mnemo.FormatTime(*end))
	}
	q.Filter = mnemo.Filter{Start: q.Window.Start, End: q.Window.End, TagMode: "any", TagMatch: "prefix"}
	for _, t := range tags {
		q.Filter.Tags = append(q.Filter.Tags, strings.ToLower(t))
	}
	if strings.ToLower(v.Get("tag_mode")) == "all" {
		q.Filter.TagMode = "all"
	}
	if strings.ToLower(v.Get("tag_match")) == "exact" {
		q.Filter.TagMatch = "exact"
	}
	for _, t := range excluded {
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
	q.RelationLimit = p.clampInt(cfg.RelationLimit, 1, 200, "relation_limit")
	q.ExpansionLimit = p.clampInt(cfg.ExpansionLimit, 1, 500, "expansion_limit", "relation_expansion_limit")
	q.ExpandMinImportance = p.unit("expand_min_importance")
	q.ExpandMinStrength = p.unit("expand_min_strength")
	q.MinScore = p.unit("min_score")
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
	q.Context = strings.ToLower(p.text("context"))
	q.Language = p.text("language", "lang")
	name, path, _ := firstNamed(v, "active_path", "file_path", "focus_path")
	p.fail(p.lim.CheckText(name, path))
	q.ActivePath = path
	for _, id := range priority {
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
	q.ContextWindow = p.clampInt(cfg.ContextWindow, 0, 10, "context_window")
	return q, nil
}
