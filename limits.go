package mnemo

import (
	"encoding/json"
	"sort"
	"strings"
	"unicode/utf8"
)

// Limits bound every size a client controls, so that no input, through
// any path (store, batch, update, MCP, import, associate, recall), costs
// the service more than these allow. Each is a setting (cmd/mnemo); a zero
// field means its default (OrDefaults).
type Limits struct {
	ContentHardLimit int // characters; AutoMem's MEMORY_CONTENT_HARD_LIMIT
	BatchLimit       int // items per /memory/batch or /associate batch

	// A tag's prefixes are stored per segment, so a memory costs about
	// MaxTags * MaxTagSegments index rows of up to MaxTagBytes each.
	MaxTags        int // tags per memory
	MaxTagBytes    int // bytes per tag
	MaxTagSegments int // ':'- or '/'-separated segments per tag
	// MaxMetadataBytes and MaxMetadataDepth bound a memory's metadata and
	// a relation's properties, as JSON.
	MaxMetadataBytes int
	MaxMetadataDepth int
	MaxTypeLength    int // characters of a memory's type
	// MaxQueryLength and MaxQueryTerms bound each recall query: every term
	// is one more OR in the full-text search.
	MaxQueryLength int // characters
	MaxQueryTerms  int
	// MaxListEntries bounds every list parameter: recall's tags,
	// exclude_tags, context_tags, context_types, priority_ids; by-tag's
	// tags; /related's relationship_types.
	MaxListEntries int
}

// DefaultLimits are AutoMem's content and batch limits, and mnemo's
// bounds for the sizes AutoMem leaves unbounded.
var DefaultLimits = Limits{ContentHardLimit: 2000, BatchLimit: 500, MaxTags: 50, MaxTagBytes: 256, MaxTagSegments: 10,
	MaxMetadataBytes: 64 << 10, MaxMetadataDepth: 32, MaxTypeLength: 64, MaxQueryLength: 2000, MaxQueryTerms: 64,
	MaxListEntries: 100}

// OrDefaults returns l with every zero field set to its default, so that a
// Limits built before a bound existed still enforces it.
func (l Limits) OrDefaults() Limits {
	d := DefaultLimits
	for _, f := range []struct{ v, def *int }{
		{&l.ContentHardLimit, &d.ContentHardLimit}, {&l.BatchLimit, &d.BatchLimit}, {&l.MaxTags, &d.MaxTags},
		{&l.MaxTagBytes, &d.MaxTagBytes}, {&l.MaxTagSegments, &d.MaxTagSegments}, {&l.MaxMetadataBytes, &d.MaxMetadataBytes},
		{&l.MaxMetadataDepth, &d.MaxMetadataDepth}, {&l.MaxTypeLength, &d.MaxTypeLength}, {&l.MaxQueryLength, &d.MaxQueryLength},
		{&l.MaxQueryTerms, &d.MaxQueryTerms}, {&l.MaxListEntries, &d.MaxListEntries},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return l
}

// CheckTags is the bound of a memory's tags: at most MaxTags, each at most
// MaxTagBytes and MaxTagSegments segments.
func (l Limits) CheckTags(tags []string) error {
	if len(tags) > l.MaxTags {
		return Errorf(EINVALID, "'tags' may hold at most %d tags per memory (got %d)", l.MaxTags, len(tags))
	}
	for i, t := range tags {
		if len(t) > l.MaxTagBytes {
			return Errorf(EINVALID, "'tags' item at index %d must be at most %d bytes (got %d)", i, l.MaxTagBytes, len(t))
		}
		if n := tagSegments(t); n > l.MaxTagSegments {
			return Errorf(EINVALID, "'tags' item at index %d must have at most %d segments separated by ':' or '/' (got %d)", i, l.MaxTagSegments, n)
		}
	}
	return nil
}

// tagSegments counts a tag's segments as TagPrefixes splits it: on ':' or
// '/', without empty ones. Each is one stored prefix.
func tagSegments(tag string) int {
	n, in := 0, false
	for i := 0; i < len(tag); i++ {
		if tag[i] == ':' || tag[i] == '/' {
			in = false
		} else if !in {
			n, in = n+1, true
		}
	}
	return n
}

// CheckType is the bound of a memory's type: at most MaxTypeLength
// characters.
func (l Limits) CheckType(typ string) error {
	if n := utf8.RuneCountInString(typ); n > l.MaxTypeLength {
		return Errorf(EINVALID, "'type' must be at most %d characters (got %d)", l.MaxTypeLength, n)
	}
	return nil
}

// CheckObject is the bound of a JSON object a client stores whole (a
// memory's metadata, a relation's properties), named by field: at most
// MaxMetadataDepth levels deep and MaxMetadataBytes as JSON.
func (l Limits) CheckObject(field string, obj map[string]any) error {
	if jsonDeeper(obj, l.MaxMetadataDepth) {
		return Errorf(EINVALID, "%s must nest at most %d levels deep", field, l.MaxMetadataDepth)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return Errorf(EINVALID, "%s cannot be stored as JSON: %v", field, err)
	}
	if len(raw) > l.MaxMetadataBytes {
		return Errorf(EINVALID, "%s must be at most %d bytes as JSON (got %d)", field, l.MaxMetadataBytes, len(raw))
	}
	return nil
}

// jsonDeeper reports whether v nests more than room levels: an object or
// a list is one level, and so is each one inside it.
func jsonDeeper(v any, room int) bool {
	switch x := v.(type) {
	case map[string]any:
		if room == 0 {
			return true
		}
		for _, it := range x {
			if jsonDeeper(it, room-1) {
				return true
			}
		}
	case []any:
		if room == 0 {
			return true
		}
		for _, it := range x {
			if jsonDeeper(it, room-1) {
				return true
			}
		}
	}
	return false
}

// CheckList is the bound of a list parameter.
func (l Limits) CheckList(field string, n int) error {
	if n > l.MaxListEntries {
		return Errorf(EINVALID, "'%s' may hold at most %d entries (got %d)", field, l.MaxListEntries, n)
	}
	return nil
}

// CheckQuery is the bound of a recall query: its length, then the number
// of its search terms, as terms splits it (only when the length passed,
// so that a huge query is not split). field names it: "'query'", or
// "'queries' item at index 2".
func (l Limits) CheckQuery(field, q string, terms func(string) []string) error {
	if n := utf8.RuneCountInString(q); n > l.MaxQueryLength {
		return Errorf(EINVALID, "%s must be at most %d characters (got %d)", field, l.MaxQueryLength, n)
	}
	if terms == nil {
		return nil
	}
	if n := len(terms(q)); n > l.MaxQueryTerms {
		return Errorf(EINVALID, "%s may hold at most %d search terms (got %d)", field, l.MaxQueryTerms, n)
	}
	return nil
}

// CheckText is the bound of a free-text parameter: at most MaxQueryLength
// characters.
func (l Limits) CheckText(field, s string) error {
	return l.CheckQuery("'"+field+"'", s, nil)
}

// Trimming puts what was stored before these limits existed within them,
// when a database migrates; it keeps as much as fits.

// TrimMemory cuts m's tags, type and metadata to l, and reports whether it
// changed anything. Tags past MaxTags go; a tag keeps its first
// MaxTagSegments segments and MaxTagBytes bytes; the type keeps its first
// MaxTypeLength characters; the metadata keeps what TrimObject keeps.
func (l Limits) TrimMemory(m *Memory) bool {
	changed := false
	if len(m.Tags) > l.MaxTags {
		m.Tags, changed = m.Tags[:l.MaxTags], true
	}
	for i, t := range m.Tags {
		if cut := l.trimTag(t); cut != t {
			m.Tags[i], changed = cut, true
		}
	}
	if utf8.RuneCountInString(m.Type) > l.MaxTypeLength {
		m.Type, changed = string([]rune(m.Type)[:l.MaxTypeLength]), true
	}
	if meta, cut := l.TrimObject(m.Metadata); cut {
		m.Metadata, changed = meta, true
	}
	return changed
}

// trimTag keeps the first MaxTagSegments segments of tag, without the
// separator after the last, then at most MaxTagBytes bytes, cut at a
// character boundary.
func (l Limits) trimTag(tag string) string {
	n, in := 0, false
	for i := 0; i < len(tag); i++ {
		if tag[i] == ':' || tag[i] == '/' {
			in = false
			continue
		}
		if !in {
			if n == l.MaxTagSegments {
				tag = strings.TrimRight(tag[:i], ":/")
				break
			}
			n, in = n+1, true
		}
	}
	return cutBytes(tag, l.MaxTagBytes)
}

// cutBytes returns the longest prefix of s of at most n bytes that ends at
// a character boundary.
func cutBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// TrimObject returns obj within MaxMetadataDepth and MaxMetadataBytes, and
// whether it had to cut: an object or list nested too deep becomes null;
// then, while the JSON is too large, the largest top-level entry goes
// (the first by name among equals).
func (l Limits) TrimObject(obj map[string]any) (map[string]any, bool) {
	changed := false
	if jsonDeeper(obj, l.MaxMetadataDepth) {
		obj, changed = cutDepth(obj, l.MaxMetadataDepth).(map[string]any), true
	}
	raw, err := json.Marshal(obj)
	if err != nil || len(raw) <= l.MaxMetadataBytes {
		return obj, changed
	}
	type entry struct {
		key  string
		size int
	}
	entries := make([]entry, 0, len(obj))
	for k, v := range obj {
		kv, _ := json.Marshal(map[string]any{k: v})
		entries = append(entries, entry{k, len(kv) - 1}) // {"k":v} less the braces, plus a comma
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].size != entries[j].size {
			return entries[i].size > entries[j].size
		}
		return entries[i].key < entries[j].key
	})
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		out[k] = v
	}
	// The sizes are estimates (a comma more or less): check the outcome.
	size := len(raw)
	for _, e := range entries {
		if size <= l.MaxMetadataBytes {
			if raw, _ := json.Marshal(out); len(raw) <= l.MaxMetadataBytes {
				break
			}
		}
		delete(out, e.key)
		size -= e.size
	}
	return out, true
}

// cutDepth returns v with every object or list below room levels replaced
// by null.
func cutDepth(v any, room int) any {
	switch x := v.(type) {
	case map[string]any:
		if room == 0 {
			return nil
		}
		out := make(map[string]any, len(x))
		for k, it := range x {
			out[k] = cutDepth(it, room-1)
		}
		return out
	case []any:
		if room == 0 {
			return nil
		}
		out := make([]any, len(x))
		for i, it := range x {
			out[i] = cutDepth(it, room-1)
		}
		return out
	}
	return v
}
