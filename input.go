package mnemo

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits bound what a client may store.
type Limits struct {
	ContentHardLimit int // characters; AutoMem's MEMORY_CONTENT_HARD_LIMIT
	BatchLimit       int // items per /memory/batch or /associate batch
}

// DefaultLimits are AutoMem's defaults.
var DefaultLimits = Limits{ContentHardLimit: 2000, BatchLimit: 500}

// NewMemory validates one POST /memory body (decoded JSON) with AutoMem's
// checks, in AutoMem's order, and returns the memory to store. dim is the
// embedder's dimension, for a client-supplied embedding.
func NewMemory(body map[string]any, now time.Time, lim Limits, dim int) (*Memory, error) {
	if body == nil {
		return nil, Errorf(EINVALID, "JSON body is required")
	}
	content, err := parseContent(body["content"], lim, "")
	if err != nil {
		return nil, err
	}
	m := &Memory{ID: uuid.NewString(), Content: content, Importance: 0.5, Metadata: map[string]any{}}
	if m.Tags, err = parseTags(body["tags"]); err != nil {
		return nil, err
	}
	if v, ok := present(body, "importance"); ok {
		if m.Importance, err = parseUnit(v, "importance"); err != nil {
			return nil, err
		}
	}
	if v, ok := present(body, "metadata"); ok {
		meta, ok := v.(map[string]any)
		if !ok {
			return nil, Errorf(EINVALID, "'metadata' must be an object")
		}
		m.Metadata = meta
	}
	if err := setType(m, body); err != nil {
		return nil, err
	}
	var tValid *time.Time
	if v, ok := present(body, "t_valid"); ok {
		t, err := parseTimeField(v, "t_valid")
		if err != nil {
			return nil, err
		}
		tValid = &t
	}
	if v, ok := present(body, "t_invalid"); ok {
		t, err := parseTimeField(v, "t_invalid")
		if err != nil {
			return nil, err
		}
		m.TInvalid = &t
	}
	if v, ok := present(body, "embedding"); ok {
		if m.Embedding, err = ParseEmbedding(v, dim); err != nil {
			return nil, err
		}
	}
	m.Timestamp = now
	if v, ok := body["timestamp"]; ok && v != nil {
		s, isString := v.(string)
		if !isString || strings.TrimSpace(s) == "" {
			return nil, Errorf(EINVALID, "Timestamp must be a non-empty ISO formatted string")
		}
		if m.Timestamp, err = ParseTime(s); err != nil {
			return nil, Errorf(EINVALID, "Invalid ISO timestamp: 'timestamp' must be ISO 8601, got %q", s)
		}
	}
	m.UpdatedAt = m.Timestamp
	if v, ok := present(body, "updated_at"); ok {
		if m.UpdatedAt, err = parseTimeField(v, "updated_at"); err != nil {
			return nil, err
		}
	}
	m.LastAccessed = m.UpdatedAt
	if v, ok := present(body, "last_accessed"); ok {
		if m.LastAccessed, err = parseTimeField(v, "last_accessed"); err != nil {
			return nil, err
		}
	}
	m.TValid = m.Timestamp
	if tValid != nil {
		m.TValid = *tValid
	}
	return m, nil
}

// NewBatchMemory validates item i of a POST /memory/batch. Like AutoMem it
// is strict on content, tags and importance and lenient on the rest: a bad
// timestamp becomes now and non-object metadata becomes {}.
func NewBatchMemory(item any, i int, now time.Time, lim Limits) (*Memory, error) {
	body, ok := item.(map[string]any)
	if !ok {
		return nil, Errorf(EINVALID, "Memory at index %d must be an object", i)
	}
	raw, _ := body["content"].(string)
	content := strings.TrimSpace(raw)
	if content == "" {
		return nil, Errorf(EINVALID, "Memory at index %d missing 'content'", i)
	}
	if n := utf8.RuneCountInString(content); n > lim.ContentHardLimit {
		return nil, Errorf(EINVALID, "Memory at index %d exceeds content limit (%d/%d)", i, n, lim.ContentHardLimit)
	}
	m := &Memory{ID: uuid.NewString(), Content: content, Importance: 0.5, Metadata: map[string]any{}}
	var err error
	if m.Tags, err = parseTags(body["tags"]); err != nil {
		return nil, Errorf(EINVALID, "Memory at index %d: %s", i, ErrorMessage(err))
	}
	if v, ok := present(body, "importance"); ok {
		if m.Importance, err = parseUnit(v, "importance"); err != nil {
			return nil, Errorf(EINVALID, "Memory at index %d: %s", i, ErrorMessage(err))
		}
	}
	if meta, ok := body["metadata"].(map[string]any); ok {
		m.Metadata = meta
	}
	if err := setType(m, body); err != nil {
		return nil, Errorf(EINVALID, "Memory at index %d: %s", i, ErrorMessage(err))
	}
	m.Timestamp = now
	if s, ok := body["timestamp"].(string); ok {
		if t, err := ParseTime(s); err == nil {
			m.Timestamp = t
		}
	}
	m.TValid, m.UpdatedAt, m.LastAccessed = m.Timestamp, m.Timestamp, m.Timestamp
	return m, nil
}

// ApplyPatch applies a PATCH /memory/{id} body to m. Unlike AutoMem, it
// validates content length, importance and confidence as a store does; it
// keeps updated_at unless the body sets it. It reports whether the content
// changed, which means the vector must be recomputed.
func ApplyPatch(m *Memory, body map[string]any, lim Limits) (contentChanged bool, err error) {
	if body == nil {
		return false, Errorf(EINVALID, "JSON body is required")
	}
	if v, ok := body["content"]; ok {
		content, err := parseContent(v, lim, "")
		if err != nil {
			return false, err
		}
		contentChanged = content != m.Content
		m.Content = content
	}
	if v, ok := body["tags"]; ok {
		m.Tags = lenientTags(v)
	}
	if v, ok := present(body, "importance"); ok {
		if m.Importance, err = parseUnit(v, "importance"); err != nil {
			return false, err
		}
	}
	if v, ok := present(body, "type"); ok {
		s, isString := v.(string)
		if !isString || strings.TrimSpace(s) == "" {
			return false, Errorf(EINVALID, "'type' must be a non-empty string")
		}
		m.Type = strings.TrimSpace(s)
	}
	if v, ok := present(body, "confidence"); ok {
		if m.Confidence, err = parseUnit(v, "confidence"); err != nil {
			return false, err
		}
	}
	if v, ok := present(body, "metadata"); ok {
		meta, isObject := v.(map[string]any)
		if !isObject {
			return false, Errorf(EINVALID, "'metadata' must be an object")
		}
		m.Metadata = meta
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"timestamp", &m.Timestamp}, {"t_valid", &m.TValid}, {"updated_at", &m.UpdatedAt}, {"last_accessed", &m.LastAccessed}} {
		if v, ok := present(body, f.name); ok {
			if *f.dst, err = parseTimeField(v, f.name); err != nil {
				return false, err
			}
		}
	}
	if v, ok := body["t_invalid"]; ok {
		if v == nil {
			m.TInvalid = nil
		} else {
			t, err := parseTimeField(v, "t_invalid")
			if err != nil {
				return false, err
			}
			m.TInvalid = &t
		}
	}
	return contentChanged, nil
}

// ValidateMemoryID accepts the UUID forms Python's uuid.UUID accepts
// (hyphenated, hyphenless, braced, urn:uuid:) and returns the canonical form.
func ValidateMemoryID(id string) (string, error) {
	s := strings.TrimSpace(id)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "urn:uuid:"), "URN:UUID:")
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		s = s[1 : len(s)-1]
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", Errorf(EINVALID, "memory_id must be a valid UUID")
	}
	return u.String(), nil
}

// ParseEmbedding reads a list of numbers or a comma-separated string and
// checks its length against dim.
func ParseEmbedding(v any, dim int) ([]float32, error) {
	var items []any
	switch x := v.(type) {
	case []any:
		items = x
	case string:
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
	default:
		return nil, Errorf(EINVALID, "Embedding must be a list of floats or a comma-separated string")
	}
	out := make([]float32, len(items))
	for i, it := range items {
		var f float64
		switch n := it.(type) {
		case float64:
			f = n
		case string:
			var err error
			if f, err = strconv.ParseFloat(n, 64); err != nil {
				return nil, Errorf(EINVALID, "Embedding must contain numeric values")
			}
		default:
			return nil, Errorf(EINVALID, "Embedding must contain numeric values")
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, Errorf(EINVALID, "Embedding must contain numeric values")
		}
		out[i] = float32(f)
	}
	if len(out) != dim {
		return nil, Errorf(EINVALID, "Embedding must contain exactly %d values", dim)
	}
	return out, nil
}

func present(body map[string]any, key string) (any, bool) {
	v, ok := body[key]
	return v, ok && v != nil
}

func parseContent(v any, lim Limits, prefix string) (string, error) {
	s, _ := v.(string)
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Errorf(EINVALID, "%s'content' is required", prefix)
	}
	if n := utf8.RuneCountInString(s); n > lim.ContentHardLimit {
		return "", Errorf(EINVALID, "Content exceeds maximum length of %d characters (%d provided). Please split into smaller memories or summarize.", lim.ContentHardLimit, n)
	}
	return s, nil
}

// parseTags is the store-path normalizer: a list of strings, or one string
// taken whole (not comma-split).
func parseTags(v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return []string{}, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, it := range x {
			s, ok := it.(string)
			if !ok {
				return nil, Errorf(EINVALID, "'tags' must be a list of strings or a single string")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, Errorf(EINVALID, "'tags' must be a list of strings or a single string")
}

// lenientTags is the PATCH-path normalizer: a string is comma-split and
// non-strings in a list are dropped.
func lenientTags(v any) []string {
	out := []string{}
	switch x := v.(type) {
	case string:
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	case []any:
		for _, it := range x {
			if s, ok := it.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func parseUnit(v any, field string) (float64, error) {
	f, ok := v.(float64)
	if !ok {
		return 0, Errorf(EINVALID, "'%s' must be a number", field)
	}
	if f < 0 || f > 1 || math.IsNaN(f) {
		return 0, Errorf(EINVALID, "'%s' must be between 0 and 1", field)
	}
	return f, nil
}

func setType(m *Memory, body map[string]any) error {
	v, ok := present(body, "type")
	if !ok {
		m.Type, m.Confidence = Classify(m.Content)
		return nil
	}
	s, isString := v.(string)
	if !isString || strings.TrimSpace(s) == "" {
		return Errorf(EINVALID, "'type' must be a non-empty string")
	}
	m.Type, m.Confidence = strings.TrimSpace(s), 0.9
	if c, ok := present(body, "confidence"); ok {
		var err error
		if m.Confidence, err = parseUnit(c, "confidence"); err != nil {
			return err
		}
	}
	return nil
}

func parseTimeField(v any, field string) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, Errorf(EINVALID, "Invalid %s: must be an ISO 8601 string", field)
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, Errorf(EINVALID, "Invalid %s: Invalid ISO timestamp %q", field, s)
	}
	return t, nil
}
