package mnemo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// A memory's fields are checked by one set of rules, in AutoMem's order,
// whichever way they arrive: a store (POST /memory, MCP store_memory), a
// batch (POST /memory/batch), an update (PATCH /memory/{id}, MCP
// update_memory) or an import (an export file). The ways differ only in
// which fields they take, what an absent field becomes, where AutoMem is
// lenient, and how a message names the item:
//
//   - store takes every field but id and archived; confidence is checked
//     always but counts only with a type (without one the classifier
//     decides, as in AutoMem).
//   - batch takes what a store takes, by the same rules: AutoMem ignored an
//     item's t_valid, t_invalid and embedding and turned a bad timestamp
//     into now, which stored something other than what was sent.
//   - update takes what a store takes, each field only when present; like
//     AutoMem it comma-splits a tags string, and null t_invalid clears it.
//   - import takes every field, with the id, archived and embedding_model;
//     numbers may be json.Number, and the embedding may have any length
//     (its model decides whether it is used).
type inputPath int

const (
	pathStore inputPath = iota
	pathBatch
	pathUpdate
	pathImport
)

// fields are the checked fields of one input; nil means absent.
type fields struct {
	id                                      string
	content                                 *string
	tags                                    []string
	hasTags                                 bool
	importance, confidence                  *float64
	typ                                     *string
	metadata                                map[string]any
	hasMetadata                             bool
	timestamp, tValid, updatedAt, lastAccss *time.Time
	tInvalid                                *time.Time
	clearTInvalid                           bool
	embedding                               []float32
	embeddingModel                          string
	archived                                *bool
}

// checker checks fields for one path; item names the item in messages.
type checker struct {
	path inputPath
	lim  Limits
	dim  int
	// prefix goes before every message except content's, which batch and
	// import word in their own way.
	prefix string
	index  int // the batch item
	line   int // the import line
}

func (c *checker) errorf(format string, args ...any) error {
	return Errorf(EINVALID, "%s%s", c.prefix, fmt.Sprintf(format, args...))
}

// check reads obj's fields in AutoMem's order: content, tags, importance,
// metadata, type and confidence, t_valid, t_invalid, embedding,
// timestamp, updated_at, last_accessed.
func (c *checker) check(obj map[string]any) (*fields, error) {
	f := &fields{}
	var err error
	if c.path == pathImport {
		raw, _ := obj["id"].(string)
		if f.id, err = ValidateMemoryID(raw); err != nil {
			return nil, c.errorf("'id' must be a UUID")
		}
	}
	if v, ok := obj["content"]; ok || c.path != pathUpdate {
		s, err := c.content(v)
		if err != nil {
			return nil, err
		}
		f.content = &s
	}
	if v, ok := obj["tags"]; ok {
		f.hasTags = true
		if c.path == pathUpdate {
			f.tags, err = updateTags(v)
		} else {
			f.tags, err = strictTags(v)
		}
		if err == nil {
			err = c.lim.CheckTags(f.tags)
		}
		if err != nil {
			return nil, c.errorf("%s", ErrorMessage(err))
		}
	}
	if v, ok := present(obj, "importance"); ok {
		if f.importance, err = c.unit(v, "importance"); err != nil {
			return nil, err
		}
	}
	if v, ok := present(obj, "metadata"); ok {
		meta, isObject := v.(map[string]any)
		switch {
		case isObject:
			if err := c.lim.CheckObject("'metadata'", meta); err != nil {
				return nil, c.errorf("%s", ErrorMessage(err))
			}
			if err := checkJSONValue("metadata", meta); err != nil {
				return nil, c.errorf("%s", ErrorMessage(err))
			}
			f.metadata, f.hasMetadata = meta, true
		default:
			return nil, c.errorf("'metadata' must be an object")
		}
	}
	if v, ok := present(obj, "type"); ok {
		s, isString := v.(string)
		if !isString || strings.TrimSpace(s) == "" {
			return nil, c.errorf("'type' must be a non-empty string")
		}
		s = strings.TrimSpace(s)
		err := c.lim.CheckType(s)
		if err == nil {
			err = CheckText("'type'", s)
		}
		if err != nil {
			return nil, c.errorf("%s", ErrorMessage(err))
		}
		f.typ = &s
	}
	// A confidence without a type is still checked: AutoMem ignored a
	// garbage one, so a client never learned it was wrong.
	if v, ok := present(obj, "confidence"); ok {
		if f.confidence, err = c.unit(v, "confidence"); err != nil {
			return nil, err
		}
		if f.typ == nil && (c.path == pathStore || c.path == pathBatch) {
			f.confidence = nil // the classifier's confidence goes with its type
		}
	}
	if f.tValid, err = c.time(obj, "t_valid"); err != nil {
		return nil, err
	}
	if v, ok := obj["t_invalid"]; ok && v == nil && c.path == pathUpdate {
		f.clearTInvalid = true
	} else if f.tInvalid, err = c.time(obj, "t_invalid"); err != nil {
		return nil, err
	}
	if v, ok := present(obj, "embedding"); ok {
		if c.path == pathImport {
			if f.embedding, err = c.anyEmbedding(v); err != nil {
				return nil, err
			}
			if m, ok := present(obj, "embedding_model"); ok {
				if f.embeddingModel, ok = m.(string); !ok {
					return nil, c.errorf("'embedding_model' must be a string")
				}
				if err := CheckText("'embedding_model'", f.embeddingModel); err != nil {
					return nil, c.errorf("%s", ErrorMessage(err))
				}
			}
		} else {
			if f.embedding, err = ParseEmbedding(v, c.dim); err != nil {
				return nil, c.errorf("%s", ErrorMessage(err))
			}
		}
	}
	if f.timestamp, err = c.timestampField(obj); err != nil {
		return nil, err
	}
	if f.updatedAt, err = c.time(obj, "updated_at"); err != nil {
		return nil, err
	}
	if f.lastAccss, err = c.time(obj, "last_accessed"); err != nil {
		return nil, err
	}
	if c.path == pathImport {
		if v, ok := present(obj, "archived"); ok {
			b, isBool := v.(bool)
			if !isBool {
				return nil, c.errorf("'archived' must be true or false")
			}
			f.archived = &b
		}
	}
	return f, nil
}

// validity is the rule between t_valid and t_invalid as the client sends
// them: a memory cannot stop being valid before it starts, and t_valid
// defaults to the timestamp. With neither, t_valid is now and a t_invalid
// in the past stores a fact that is already over (AutoMem's clients store
// those, and state filtering hides them): that is kept. An import is not
// held to it either: it restores what was stored, and a supersede or data
// stored before the rule may hold such a pair, which must import again.
func (c *checker) validity(f *fields) error {
	valid := f.tValid
	if valid == nil {
		valid = f.timestamp
	}
	if f.tInvalid == nil || valid == nil || c.path == pathImport || c.path == pathUpdate || !f.tInvalid.Before(*valid) {
		return nil
	}
	return c.errorf("'t_invalid' (%s) must not be before 't_valid' (%s)", FormatTime(*f.tInvalid), FormatTime(*valid))
}

// content is the rule for content: a string, trimmed, not empty, at most
// ContentHardLimit characters.
func (c *checker) content(v any) (string, error) {
	s, _ := v.(string)
	s = strings.TrimSpace(s)
	if err := CheckText("'content'", s); err != nil {
		return "", c.errorf("%s", ErrorMessage(err))
	}
	n := utf8.RuneCountInString(s)
	switch {
	case s == "" && c.path == pathBatch:
		return "", Errorf(EINVALID, "Memory at index %d missing 'content'", c.index)
	case s == "":
		return "", c.errorf("'content' is required")
	case n <= c.lim.ContentHardLimit:
		return s, nil
	case c.path == pathBatch:
		return "", Errorf(EINVALID, "Memory at index %d exceeds content limit (%d/%d)", c.index, n, c.lim.ContentHardLimit)
	case c.path == pathImport:
		return "", c.errorf("'content' exceeds the maximum length of %d characters (%d)", c.lim.ContentHardLimit, n)
	}
	return "", Errorf(EINVALID, "Content exceeds maximum length of %d characters (%d provided). Please split into smaller memories or summarize.", c.lim.ContentHardLimit, n)
}

// unit is the rule for importance, confidence and strength: a number from
// 0 to 1.
func (c *checker) unit(v any, field string) (*float64, error) {
	f, ok := number(v)
	if str, isString := v.(string); isString && c.path != pathImport {
		f, ok = numericString(str)
	}
	if !ok {
		return nil, c.errorf("'%s' must be a number", field)
	}
	if f < 0 || f > 1 {
		return nil, c.errorf("'%s' must be between 0 and 1", field)
	}
	return &f, nil
}

// time is the rule for the timestamps: an ISO 8601 string.
func (c *checker) time(obj map[string]any, field string) (*time.Time, error) {
	v, ok := present(obj, field)
	if !ok {
		return nil, nil
	}
	s, isString := v.(string)
	if c.path == pathImport {
		if !isString {
			return nil, c.errorf("'%s' must be an ISO 8601 string", field)
		}
		t, err := ParseTime(s)
		if err != nil {
			return nil, c.errorf("'%s' is not an ISO 8601 timestamp: %q", field, s)
		}
		return &t, nil
	}
	if !isString {
		return nil, c.errorf("Invalid %s: must be an ISO 8601 string", field)
	}
	t, err := ParseTime(s)
	if err != nil {
		return nil, c.errorf("Invalid %s: Invalid ISO timestamp %q", field, s)
	}
	return &t, nil
}

// timestampField is the time rule for timestamp, which AutoMem's store
// words its own way.
func (c *checker) timestampField(obj map[string]any) (*time.Time, error) {
	if c.path != pathStore {
		return c.time(obj, "timestamp")
	}
	v, ok := obj["timestamp"]
	if !ok || v == nil {
		return nil, nil
	}
	s, isString := v.(string)
	if !isString || strings.TrimSpace(s) == "" {
		return nil, Errorf(EINVALID, "Timestamp must be a non-empty ISO formatted string")
	}
	t, err := ParseTime(s)
	if err != nil {
		return nil, Errorf(EINVALID, "Invalid ISO timestamp: 'timestamp' must be ISO 8601, got %q", s)
	}
	return &t, nil
}

// anyEmbedding is an import's embedding: a non-empty list of finite
// float32 numbers, of any length.
func (c *checker) anyEmbedding(v any) ([]float32, error) {
	list, isList := v.([]any)
	if !isList || len(list) == 0 {
		return nil, c.errorf("'embedding' must be a non-empty list of numbers")
	}
	out := make([]float32, len(list))
	for i, it := range list {
		f, ok := number(it)
		if !ok {
			return nil, c.errorf("'embedding' must be a non-empty list of numbers")
		}
		if out[i], ok = toFloat32(f); !ok {
			return nil, c.errorf("'embedding' values must be finite 32-bit floats (at most %g in magnitude); the value at index %d is %g", math.MaxFloat32, i, f)
		}
	}
	return out, nil
}

// newMemory builds a memory from checked fields with the defaults of a
// new memory: now for the times (t_valid and updated_at follow timestamp,
// last_accessed follows updated_at), importance 0.5, and the classifier's
// type when none is given (a given type without confidence has 0.9).
func newMemory(f *fields, now time.Time) *Memory {
	m := &Memory{ID: f.id, Content: *f.content, Tags: f.tags, Importance: 0.5, Metadata: f.metadata}
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	if m.Tags == nil {
		m.Tags = []string{}
	}
	if m.Metadata == nil {
		m.Metadata = map[string]any{}
	}
	if f.importance != nil {
		m.Importance = *f.importance
	}
	if f.typ != nil {
		m.Type, m.Confidence = *f.typ, 0.9
	} else {
		m.Type, m.Confidence = Classify(m.Content)
	}
	if f.confidence != nil {
		m.Confidence = *f.confidence
	}
	m.Timestamp = or(f.timestamp, now)
	m.TValid = or(f.tValid, m.Timestamp)
	m.UpdatedAt = or(f.updatedAt, m.Timestamp)
	m.LastAccessed = or(f.lastAccss, m.UpdatedAt)
	m.TInvalid = f.tInvalid
	m.Embedding, m.EmbeddingModel = f.embedding, f.embeddingModel
	if f.archived != nil {
		m.Archived = *f.archived
	}
	return m
}

// memory checks obj and builds the new memory it describes.
func (c *checker) memory(obj map[string]any, now time.Time) (*Memory, error) {
	f, err := c.check(obj)
	if err != nil {
		return nil, err
	}
	if err := c.validity(f); err != nil {
		return nil, err
	}
	return newMemory(f, now), nil
}

func or(t *time.Time, def time.Time) time.Time {
	if t != nil {
		return *t
	}
	return def
}

// NewMemory validates one POST /memory body (decoded JSON) and returns the
// memory to store. dim is the embedder's dimension, for a client-supplied
// embedding.
func NewMemory(body map[string]any, now time.Time, lim Limits, dim int) (*Memory, error) {
	if body == nil {
		return nil, Errorf(EINVALID, "JSON body is required")
	}
	c := &checker{path: pathStore, lim: lim.OrDefaults(), dim: dim}
	return c.memory(body, now)
}

// NewBatchMemory validates item i of a POST /memory/batch by the rules
// of a store; dim is the embedder's dimension, for a supplied embedding.
func NewBatchMemory(item any, i int, now time.Time, lim Limits, dim int) (*Memory, error) {
	body, ok := item.(map[string]any)
	if !ok {
		return nil, Errorf(EINVALID, "Memory at index %d must be an object", i)
	}
	c := &checker{path: pathBatch, lim: lim.OrDefaults(), dim: dim, index: i, prefix: fmt.Sprintf("Memory at index %d: ", i)}
	return c.memory(body, now)
}

// ImportMemory validates one memory line of an export file; line numbers
// the messages. Absent times default to now as a store's do.
func ImportMemory(obj map[string]any, line int, lim Limits, now time.Time) (*Memory, error) {
	c := &checker{path: pathImport, lim: lim.OrDefaults(), line: line, prefix: fmt.Sprintf("line %d: ", line)}
	return c.memory(obj, now)
}

// ApplyPatch applies a PATCH /memory/{id} body to m. Unlike AutoMem, it
// validates content length, importance and confidence as a store does; it
// keeps updated_at unless the body sets it. An embedding (dim values) is
// the memory's new vector, as on a store; AutoMem ignored it. It reports
// whether the content changed, which means the vector must be recomputed
// (unless one was given).
func ApplyPatch(m *Memory, body map[string]any, lim Limits, dim int) (contentChanged bool, err error) {
	if body == nil {
		return false, Errorf(EINVALID, "JSON body is required")
	}
	c := &checker{path: pathUpdate, lim: lim.OrDefaults(), dim: dim}
	f, err := c.check(body)
	if err != nil {
		return false, err
	}
	if f.content != nil {
		contentChanged = *f.content != m.Content
		m.Content = *f.content
	}
	if f.hasTags {
		m.Tags = f.tags
	}
	if f.importance != nil {
		m.Importance = *f.importance
	}
	if f.typ != nil {
		m.Type = *f.typ
	}
	if f.confidence != nil {
		m.Confidence = *f.confidence
	}
	if f.hasMetadata {
		m.Metadata = f.metadata
	}
	if f.embedding != nil {
		m.Embedding = f.embedding
	}
	for _, t := range []struct {
		v   *time.Time
		dst *time.Time
	}{{f.timestamp, &m.Timestamp}, {f.tValid, &m.TValid}, {f.updatedAt, &m.UpdatedAt}, {f.lastAccss, &m.LastAccessed}} {
		if t.v != nil {
			*t.dst = *t.v
		}
	}
	if f.clearTInvalid {
		m.TInvalid = nil
	} else if f.tInvalid != nil {
		m.TInvalid = f.tInvalid
	}
	// Checked only when the update sets both ends, as a store checks only
	// what it was sent: AutoMem's bridge supersedes a memory by a PATCH of
	// t_invalid alone (now), which must work on a memory valid from a
	// future date, as mnemo's own supersede does.
	if f.tValid != nil && f.tInvalid != nil && m.TInvalid.Before(m.TValid) {
		return false, Errorf(EINVALID, "'t_invalid' (%s) must not be before 't_valid' (%s)", FormatTime(*m.TInvalid), FormatTime(m.TValid))
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
		f, ok := number(it)
		if s, isString := it.(string); isString {
			var err error
			f, err = strconv.ParseFloat(s, 64)
			ok = err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
		}
		if !ok {
			return nil, Errorf(EINVALID, "Embedding must contain numeric values")
		}
		// A value beyond float32 would be stored as Inf, and every recall
		// and export of the tenant would then fail.
		if out[i], ok = toFloat32(f); !ok {
			return nil, Errorf(EINVALID, "Embedding values must be finite 32-bit floats (at most %g in magnitude); the value at index %d is %g", math.MaxFloat32, i, f)
		}
	}
	if len(out) != dim {
		return nil, Errorf(EINVALID, "Embedding must contain exactly %d values", dim)
	}
	return out, nil
}

// toFloat32 converts a finite f to float32, unless it is beyond float32's
// range.
func toFloat32(f float64) (float32, bool) {
	v := float32(f)
	return v, !math.IsInf(float64(v), 0) && !math.IsNaN(float64(v))
}

// number reads a finite JSON number, decoded as float64 or as json.Number.
func number(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// Number reads a finite JSON number, decoded as float64 or as json.Number.
func Number(v any) (float64, bool) { return number(v) }

// CheckUnit is the rule for a number from 0 to 1, such as a relation's
// strength: EINVALID naming field when v is not one.
func CheckUnit(v any, field string) (float64, error) {
	f, err := (&checker{}).unit(v, field)
	if err != nil {
		return 0, err
	}
	return *f, nil
}

func present(body map[string]any, key string) (any, bool) {
	v, ok := body[key]
	return v, ok && v != nil
}

// strictTags is the tags rule of a store: a list of strings, or one string
// taken whole (not comma-split). null is no tags.
func strictTags(v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return []string{}, nil
	case string:
		return checkTags([]string{x})
	case []any:
		out := make([]string, 0, len(x))
		for _, it := range x {
			s, ok := it.(string)
			if !ok {
				return nil, Errorf(EINVALID, "'tags' must be a list of strings or a single string")
			}
			out = append(out, s)
		}
		return checkTags(out)
	}
	return nil, Errorf(EINVALID, "'tags' must be a list of strings or a single string")
}

// updateTags is the tags rule of an update: as a store's, except that a
// string is comma-split as AutoMem does (and its empty pieces dropped).
// AutoMem also dropped non-strings, so {"tags": 5} wiped the tags: here
// that is refused as on a store.
func updateTags(v any) ([]string, error) {
	x, isString := v.(string)
	if !isString {
		return strictTags(v)
	}
	out := []string{}
	for _, p := range strings.Split(x, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return checkTags(out)
}

// checkTags is the rule for each tag: text (CheckText) that is not blank.
// An empty tag matches nothing and cannot be asked for by /memory/by-tag.
func checkTags(tags []string) ([]string, error) {
	for i, t := range tags {
		field := fmt.Sprintf("'tags' item at index %d", i)
		if strings.TrimSpace(t) == "" {
			return nil, Errorf(EINVALID, "%s must not be empty", field)
		}
		if err := CheckText(field, t); err != nil {
			return nil, err
		}
	}
	return tags, nil
}

// numericString reads a number sent as a string ("0.8"), which AutoMem's
// float() accepts and its clients send; only a finite one.
func numericString(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

// CheckText is the rule for every string a client stores or searches by,
// named by field: valid UTF-8 and no NUL character. Invalid UTF-8 would be
// stored as something other than what was sent (JSON and SQLite replace
// it), and a NUL cuts the text short in C-string tools and in FTS5.
func CheckText(field, s string) error {
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s must be valid UTF-8", field)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Errorf(EINVALID, "%s must not contain NUL characters (\\u0000)", field)
	}
	return nil
}

// checkJSONValue applies CheckText to every key and string in v, naming
// the path (metadata.a.b, metadata.list[2]), and refuses a number beyond
// float64 (an import keeps numbers' digits as json.Number; such a number
// would be stored, and every later read of it would fail).
func checkJSONValue(path string, v any) error {
	name := path
	if name == "" {
		name = "the body"
	}
	switch x := v.(type) {
	case string:
		return CheckText("'"+name+"'", x)
	case json.Number:
		if _, ok := number(x); !ok {
			return Errorf(EINVALID, "'%s' must be a finite number within the range of a 64-bit float (got %s)", name, x)
		}
	case map[string]any:
		for k, e := range x {
			if err := CheckText(fmt.Sprintf("a key in '%s'", name), k); err != nil {
				return err
			}
			child := k
			if path != "" {
				child = path + "." + k
			}
			if err := checkJSONValue(child, e); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkJSONValue(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckQuery applies CheckText to every name and value of a query string:
// percent-decoding yields any bytes at all.
func CheckQuery(v url.Values) error {
	for name, vals := range v {
		if err := CheckText("a query parameter name", name); err != nil {
			return err
		}
		for _, s := range vals {
			if err := CheckText("'"+name+"'", s); err != nil {
				return err
			}
		}
	}
	return nil
}

// NumberOutOfRange names the first number in a JSON text beyond
// float64's range (1e999), which Go's decoder refuses without saying where:
// EINVALID naming its path, or nil when there is none (or the text is not
// JSON).
//
// It reads tokens, not a decoded value: an object whose key repeats keeps
// only its last value when decoded, and the decoder refuses the text for
// an earlier one all the same.
func NumberOutOfRange(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var at jsonPath
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or not JSON: the decoder says so
		}
		if n, ok := tok.(json.Number); ok {
			if _, ok := number(n); !ok {
				return Errorf(EINVALID, "'%s' must be a finite number within the range of a 64-bit float (got %s)", at, n)
			}
		}
		at.step(tok)
	}
}

// jsonPath is where a token of a JSON text stands: the key or index of
// each object and array it is in, read token by token (json.Decoder's
// Token), so that a message can name the field.
type jsonPath []*jsonLevel

type jsonLevel struct {
	object  bool
	key     string
	index   int
	wantKey bool
}

// atKey reports whether the next string token is an object's key.
func (p jsonPath) atKey() bool { return len(p) > 0 && p[len(p)-1].object && p[len(p)-1].wantKey }

// step moves past tok.
func (p *jsonPath) step(tok json.Token) {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' || t == '[' {
			*p = append(*p, &jsonLevel{object: t == '{', wantKey: t == '{'})
			return
		}
		*p = (*p)[:len(*p)-1]
	case string:
		if p.atKey() {
			top := (*p)[len(*p)-1]
			top.key, top.wantKey = t, false
			return
		}
	}
	// A value ended: its parent moves on.
	if n := len(*p); n > 0 {
		if top := (*p)[n-1]; top.object {
			top.wantKey = true
		} else {
			top.index++
		}
	}
}

// String is the path as messages name fields: metadata.note,
// memories[2].tags[0]; "" at the top.
func (p jsonPath) String() string {
	var b strings.Builder
	for i, l := range p {
		if l.object {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(l.key)
		} else {
			fmt.Fprintf(&b, "[%d]", l.index)
		}
	}
	return b.String()
}

// CheckJSONText refuses a JSON text (a request body, an import line) whose
// strings Go's decoder would silently change or that hold a NUL: invalid
// UTF-8 and a lone UTF-16 surrogate escape (\ud800) both decode to U+FFFD,
// so what is stored would not be what was sent, and only the raw text
// tells them from a U+FFFD the client meant. The message names the field
// by its path (content, metadata.note, memories[2].tags[0]). A text that
// is not valid JSON passes: the decoder reports it.
func CheckJSONText(raw []byte) error {
	if utf8.Valid(raw) && !bytes.Contains(raw, []byte(`\u`)) {
		return nil // nothing to find: the common case costs one scan
	}
	name := func(p jsonPath) string {
		if len(p) == 0 {
			return "the body"
		}
		return "'" + p.String() + "'"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var at jsonPath
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or not JSON: the decoder's to report
		}
		end := dec.InputOffset()
		lit := raw[prev:end]
		prev = end
		if _, ok := tok.(string); ok {
			field := name(at)
			if at.atKey() {
				field = "a key in " + name(at[:len(at)-1])
				if len(at) == 1 {
					field = "a key of the body"
				}
			}
			if q := bytes.IndexByte(lit, '"'); q >= 0 {
				if problem := stringProblem(lit[q:]); problem != "" {
					return Errorf(EINVALID, "%s %s", field, problem)
				}
			}
		}
		at.step(tok)
	}
}

// stringProblem says what is wrong with a JSON string literal's raw text,
// or "" when nothing is.
func stringProblem(lit []byte) string {
	if !utf8.Valid(lit) {
		return "must be valid UTF-8"
	}
	for i := 0; i < len(lit); i++ {
		if lit[i] != '\\' || i+1 >= len(lit) {
			continue
		}
		if lit[i+1] != 'u' {
			i++ // an escaped character: \\ must not start another escape
			continue
		}
		r, ok := hex4(lit, i+2)
		if !ok {
			continue
		}
		switch {
		case r == 0:
			return "must not contain NUL characters (\\u0000)"
		case r >= 0xD800 && r <= 0xDBFF:
			if lo, ok := hex4(lit, i+8); ok && i+7 < len(lit) && lit[i+6] == '\\' && lit[i+7] == 'u' && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 11 // a valid pair
				continue
			}
			return fmt.Sprintf("must not contain a lone UTF-16 surrogate (\\u%04x)", r)
		case r >= 0xDC00 && r <= 0xDFFF:
			return fmt.Sprintf("must not contain a lone UTF-16 surrogate (\\u%04x)", r)
		}
		i += 5
	}
	return ""
}

// hex4 reads four hex digits at lit[i:].
func hex4(lit []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(lit) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(lit[i:i+4]), 16, 32)
	return rune(n), err == nil
}
