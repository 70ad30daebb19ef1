package mnemo

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var (
	inputNow = time.Date(2026, 3, 18, 15, 4, 5, 123456000, time.UTC)
	testLim  = DefaultLimits
)

// wantErr checks that err is a 400 *Error with exactly msg.
func wantErr(t *testing.T, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want %q", msg)
	}
	if got := ErrorCode(err); got != EINVALID {
		t.Errorf("error code = %s, want %s (%v)", got, EINVALID, err)
	}
	if got := ErrorMessage(err); got != msg {
		t.Errorf("error message =\n  %q\nwant\n  %q", got, msg)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

func checkUUIDv4(t *testing.T, id string) {
	t.Helper()
	u, err := uuid.Parse(id)
	if err != nil {
		t.Fatalf("id %q is not a UUID: %v", id, err)
	}
	if u.Version() != 4 {
		t.Errorf("id %q is UUID version %d, want 4", id, u.Version())
	}
	if u.String() != id {
		t.Errorf("id %q is not canonical (%q)", id, u.String())
	}
}

func TestNewMemoryDefaults(t *testing.T) {
	m, err := NewMemory(map[string]any{"content": "  We decided to use Postgres  "}, inputNow, testLim, 3)
	if err != nil {
		t.Fatal(err)
	}
	checkUUIDv4(t, m.ID)
	if m.Content != "We decided to use Postgres" {
		t.Errorf("Content = %q, want trimmed", m.Content)
	}
	if m.Tags == nil || len(m.Tags) != 0 {
		t.Errorf("Tags = %#v, want empty non-nil slice", m.Tags)
	}
	if m.Importance != 0.5 {
		t.Errorf("Importance = %v, want 0.5", m.Importance)
	}
	if m.Metadata == nil || len(m.Metadata) != 0 {
		t.Errorf("Metadata = %#v, want empty non-nil map", m.Metadata)
	}
	// No type: the classifier decides ("decided to" → Decision, one match).
	if m.Type != "Decision" || m.Confidence != 0.6 {
		t.Errorf("Type, Confidence = %q, %v; want Decision, 0.6", m.Type, m.Confidence)
	}
	for name, got := range map[string]time.Time{"Timestamp": m.Timestamp, "TValid": m.TValid, "UpdatedAt": m.UpdatedAt, "LastAccessed": m.LastAccessed} {
		if !got.Equal(inputNow) {
			t.Errorf("%s = %v, want now %v", name, got, inputNow)
		}
	}
	if m.TInvalid != nil {
		t.Errorf("TInvalid = %v, want nil", *m.TInvalid)
	}
	if m.Embedding != nil {
		t.Errorf("Embedding = %v, want nil", m.Embedding)
	}
	if m.Archived {
		t.Error("Archived = true, want false")
	}

	other, err := NewMemory(map[string]any{"content": "We decided to use Postgres"}, inputNow, testLim, 3)
	if err != nil {
		t.Fatal(err)
	}
	if other.ID == m.ID {
		t.Errorf("two memories got the same id %q", m.ID)
	}
}

func TestNewMemoryFields(t *testing.T) {
	body := map[string]any{
		"id":            "11111111-1111-4111-8111-111111111111", // ignored: ids are server-side
		"content":       "Use tabs",
		"tags":          []any{"Project/AutoMem:api", "x"},
		"importance":    0.8,
		"metadata":      map[string]any{"source": "cli", "n": 2.0},
		"type":          "decision", // stored verbatim, not canonicalised
		"confidence":    0.7,
		"t_valid":       "2026-01-01",
		"t_invalid":     "2026-12-31T23:59:59Z",
		"embedding":     []any{0.25, -1.0, 3.0},
		"timestamp":     "2026-02-03T04:05:06.5+02:00",
		"updated_at":    "2026-02-04 00:00:00",
		"last_accessed": "20260205T010203",
	}
	m, err := NewMemory(body, inputNow, testLim, 3)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID == "11111111-1111-4111-8111-111111111111" {
		t.Error("client id was used; AutoMem ignores it")
	}
	checkUUIDv4(t, m.ID)
	if want := []string{"Project/AutoMem:api", "x"}; !reflect.DeepEqual(m.Tags, want) {
		t.Errorf("Tags = %#v, want %#v (case kept)", m.Tags, want)
	}
	if m.Importance != 0.8 {
		t.Errorf("Importance = %v, want 0.8", m.Importance)
	}
	if want := map[string]any{"source": "cli", "n": 2.0}; !reflect.DeepEqual(m.Metadata, want) {
		t.Errorf("Metadata = %#v, want %#v", m.Metadata, want)
	}
	if m.Type != "decision" || m.Confidence != 0.7 {
		t.Errorf("Type, Confidence = %q, %v; want decision, 0.7", m.Type, m.Confidence)
	}
	checks := []struct {
		name string
		got  time.Time
		want string
	}{
		{"Timestamp", m.Timestamp, "2026-02-03T02:05:06.5Z"},
		{"TValid", m.TValid, "2026-01-01T00:00:00Z"},
		{"UpdatedAt", m.UpdatedAt, "2026-02-04T00:00:00Z"},
		{"LastAccessed", m.LastAccessed, "2026-02-05T01:02:03Z"},
	}
	for _, c := range checks {
		if !c.got.Equal(mustTime(t, c.want)) || c.got.Location() != time.UTC {
			t.Errorf("%s = %v, want %s in UTC", c.name, c.got, c.want)
		}
	}
	if m.TInvalid == nil || !m.TInvalid.Equal(mustTime(t, "2026-12-31T23:59:59Z")) {
		t.Errorf("TInvalid = %v, want 2026-12-31T23:59:59Z", m.TInvalid)
	}
	if want := []float32{0.25, -1, 3}; !reflect.DeepEqual(m.Embedding, want) {
		t.Errorf("Embedding = %v, want %v", m.Embedding, want)
	}
}

func TestNewMemoryDerivedDefaults(t *testing.T) {
	tests := []struct {
		name           string
		body           map[string]any
		wantType       string
		wantConfidence float64
		wantTags       []string
		wantTValid     string
		wantUpdated    string
		wantAccessed   string
	}{
		{
			name:     "type without confidence defaults to 0.9",
			body:     map[string]any{"content": "x", "type": "Insight"},
			wantType: "Insight", wantConfidence: 0.9, wantTags: []string{},
			wantTValid: "2026-03-18T15:04:05.123456Z", wantUpdated: "2026-03-18T15:04:05.123456Z", wantAccessed: "2026-03-18T15:04:05.123456Z",
		},
		{
			name:     "a valid confidence without type is ignored",
			body:     map[string]any{"content": "I prefer dark mode", "confidence": 0.2},
			wantType: "Preference", wantConfidence: 0.6, wantTags: []string{},
			wantTValid: "2026-03-18T15:04:05.123456Z", wantUpdated: "2026-03-18T15:04:05.123456Z", wantAccessed: "2026-03-18T15:04:05.123456Z",
		},
		{
			name:     "a single tag string is not comma-split",
			body:     map[string]any{"content": "x", "type": "Context", "tags": "a,b"},
			wantType: "Context", wantConfidence: 0.9, wantTags: []string{"a,b"},
			wantTValid: "2026-03-18T15:04:05.123456Z", wantUpdated: "2026-03-18T15:04:05.123456Z", wantAccessed: "2026-03-18T15:04:05.123456Z",
		},
		{
			name:     "t_valid and updated_at follow timestamp; last_accessed follows updated_at",
			body:     map[string]any{"content": "x", "type": "Context", "timestamp": "2025-01-01T00:00:00Z", "updated_at": "2025-06-01T00:00:00Z"},
			wantType: "Context", wantConfidence: 0.9, wantTags: []string{},
			wantTValid: "2025-01-01T00:00:00Z", wantUpdated: "2025-06-01T00:00:00Z", wantAccessed: "2025-06-01T00:00:00Z",
		},
		{
			name:     "timestamp alone drives the other three",
			body:     map[string]any{"content": "x", "type": "Context", "timestamp": "2025-01-01T00:00:00Z"},
			wantType: "Context", wantConfidence: 0.9, wantTags: []string{},
			wantTValid: "2025-01-01T00:00:00Z", wantUpdated: "2025-01-01T00:00:00Z", wantAccessed: "2025-01-01T00:00:00Z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMemory(tt.body, inputNow, testLim, 3)
			if err != nil {
				t.Fatal(err)
			}
			if m.Type != tt.wantType || m.Confidence != tt.wantConfidence {
				t.Errorf("Type, Confidence = %q, %v; want %q, %v", m.Type, m.Confidence, tt.wantType, tt.wantConfidence)
			}
			if !reflect.DeepEqual(m.Tags, tt.wantTags) {
				t.Errorf("Tags = %#v, want %#v", m.Tags, tt.wantTags)
			}
			if !m.TValid.Equal(mustTime(t, tt.wantTValid)) {
				t.Errorf("TValid = %v, want %s", m.TValid, tt.wantTValid)
			}
			if !m.UpdatedAt.Equal(mustTime(t, tt.wantUpdated)) {
				t.Errorf("UpdatedAt = %v, want %s", m.UpdatedAt, tt.wantUpdated)
			}
			if !m.LastAccessed.Equal(mustTime(t, tt.wantAccessed)) {
				t.Errorf("LastAccessed = %v, want %s", m.LastAccessed, tt.wantAccessed)
			}
		})
	}
}

func TestNewMemoryContentLength(t *testing.T) {
	// Length is counted in characters after trimming.
	exact := strings.Repeat("é", 2000)
	m, err := NewMemory(map[string]any{"content": "  " + exact + "\n", "type": "Context"}, inputNow, testLim, 3)
	if err != nil {
		t.Fatalf("2000 characters (4000 bytes) rejected: %v", err)
	}
	if m.Content != exact {
		t.Errorf("content not trimmed to the 2000 characters")
	}
	_, err = NewMemory(map[string]any{"content": exact + "é"}, inputNow, testLim, 3)
	wantErr(t, err, "Content exceeds maximum length of 2000 characters (2001 provided). Please split into smaller memories or summarize.")
}

func TestNewMemoryErrors(t *testing.T) {
	long := strings.Repeat("a", 2001)
	tests := []struct {
		name string
		body map[string]any
		want string
	}{
		{"nil body", nil, "JSON body is required"},
		{"no content", map[string]any{}, "'content' is required"},
		{"blank content", map[string]any{"content": " \n\t "}, "'content' is required"},
		{"non-string content", map[string]any{"content": 5.0}, "'content' is required"},
		{"content too long", map[string]any{"content": long}, "Content exceeds maximum length of 2000 characters (2001 provided). Please split into smaller memories or summarize."},
		{"length before tags", map[string]any{"content": long, "tags": 5.0}, "Content exceeds maximum length of 2000 characters (2001 provided). Please split into smaller memories or summarize."},
		{"tags number", map[string]any{"content": "x", "tags": 5.0}, "'tags' must be a list of strings or a single string"},
		{"tags with a number", map[string]any{"content": "x", "tags": []any{"a", 1.0}}, "'tags' must be a list of strings or a single string"},
		{"tags object", map[string]any{"content": "x", "tags": map[string]any{"a": "b"}}, "'tags' must be a list of strings or a single string"},
		{"tags before importance", map[string]any{"content": "x", "tags": 5.0, "importance": 3.0}, "'tags' must be a list of strings or a single string"},
		{"importance string", map[string]any{"content": "x", "importance": "high"}, "'importance' must be a number"},
		{"importance above 1", map[string]any{"content": "x", "importance": 1.5}, "'importance' must be between 0 and 1"},
		{"importance below 0", map[string]any{"content": "x", "importance": -0.1}, "'importance' must be between 0 and 1"},
		{"importance before metadata", map[string]any{"content": "x", "importance": 1.5, "metadata": "m"}, "'importance' must be between 0 and 1"},
		{"metadata string", map[string]any{"content": "x", "metadata": "m"}, "'metadata' must be an object"},
		{"metadata list", map[string]any{"content": "x", "metadata": []any{}}, "'metadata' must be an object"},
		{"metadata before type", map[string]any{"content": "x", "metadata": "m", "type": 5.0}, "'metadata' must be an object"},
		{"type number", map[string]any{"content": "x", "type": 5.0}, "'type' must be a non-empty string"},
		{"type empty", map[string]any{"content": "x", "type": "  "}, "'type' must be a non-empty string"},
		{"confidence out of range with type", map[string]any{"content": "x", "type": "Decision", "confidence": 2.0}, "'confidence' must be between 0 and 1"},
		{"confidence not a number with type", map[string]any{"content": "x", "type": "Decision", "confidence": "sure"}, "'confidence' must be a number"},
		{"type before t_valid", map[string]any{"content": "x", "type": 5.0, "t_valid": "junk"}, "'type' must be a non-empty string"},
		{"t_valid junk", map[string]any{"content": "x", "t_valid": "junk"}, `Invalid t_valid: Invalid ISO timestamp "junk"`},
		{"t_valid number", map[string]any{"content": "x", "t_valid": 5.0}, "Invalid t_valid: must be an ISO 8601 string"},
		{"t_invalid junk", map[string]any{"content": "x", "t_invalid": "2026-13-01"}, `Invalid t_invalid: Invalid ISO timestamp "2026-13-01"`},
		{"t_valid before embedding", map[string]any{"content": "x", "t_valid": "junk", "embedding": 5.0}, `Invalid t_valid: Invalid ISO timestamp "junk"`},
		{"embedding wrong length", map[string]any{"content": "x", "embedding": []any{1.0, 2.0}}, "Embedding must contain exactly 3 values"},
		{"embedding wrong type", map[string]any{"content": "x", "embedding": 5.0}, "Embedding must be a list of floats or a comma-separated string"},
		{"embedding not numeric", map[string]any{"content": "x", "embedding": "1,b,3"}, "Embedding must contain numeric values"},
		{"embedding before timestamp", map[string]any{"content": "x", "embedding": 5.0, "timestamp": "junk"}, "Embedding must be a list of floats or a comma-separated string"},
		{"timestamp number", map[string]any{"content": "x", "timestamp": 5.0}, "Timestamp must be a non-empty ISO formatted string"},
		{"timestamp empty", map[string]any{"content": "x", "timestamp": ""}, "Timestamp must be a non-empty ISO formatted string"},
		{"timestamp junk", map[string]any{"content": "x", "timestamp": "junk"}, `Invalid ISO timestamp: 'timestamp' must be ISO 8601, got "junk"`},
		{"timestamp before updated_at", map[string]any{"content": "x", "timestamp": "junk", "updated_at": "junk"}, `Invalid ISO timestamp: 'timestamp' must be ISO 8601, got "junk"`},
		{"updated_at junk", map[string]any{"content": "x", "updated_at": "junk"}, `Invalid updated_at: Invalid ISO timestamp "junk"`},
		{"updated_at before last_accessed", map[string]any{"content": "x", "updated_at": "junk", "last_accessed": "junk"}, `Invalid updated_at: Invalid ISO timestamp "junk"`},
		{"last_accessed junk", map[string]any{"content": "x", "last_accessed": "yesterday"}, `Invalid last_accessed: Invalid ISO timestamp "yesterday"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMemory(tt.body, inputNow, testLim, 3)
			if m != nil {
				t.Errorf("memory = %+v, want nil on error", m)
			}
			wantErr(t, err, tt.want)
		})
	}
}

// The messages keep AutoMem's wording at the front (reference §3.1), so a
// client matching on AutoMem's text still matches.
func TestNewMemoryErrorPrefixesMatchAutoMem(t *testing.T) {
	tests := []struct {
		body   map[string]any
		prefix string
	}{
		{map[string]any{"content": "x", "t_valid": "junk"}, "Invalid t_valid: Invalid ISO timestamp"},
		{map[string]any{"content": "x", "timestamp": "junk"}, "Invalid ISO timestamp"},
		{map[string]any{"content": "x", "updated_at": "junk"}, "Invalid updated_at: "},
		{map[string]any{"content": "x", "last_accessed": "junk"}, "Invalid last_accessed: "},
	}
	for _, tt := range tests {
		_, err := NewMemory(tt.body, inputNow, testLim, 3)
		if msg := ErrorMessage(err); !strings.HasPrefix(msg, tt.prefix) {
			t.Errorf("NewMemory(%v) message %q, want prefix %q", tt.body, msg, tt.prefix)
		}
	}
}

func TestNewBatchMemoryErrors(t *testing.T) {
	tests := []struct {
		name string
		item any
		i    int
		want string
	}{
		{"not an object", "content", 3, "Memory at index 3 must be an object"},
		{"list item", []any{"x"}, 0, "Memory at index 0 must be an object"},
		{"no content", map[string]any{}, 0, "Memory at index 0 missing 'content'"},
		{"blank content", map[string]any{"content": "   "}, 4, "Memory at index 4 missing 'content'"},
		{"non-string content", map[string]any{"content": 1.0}, 2, "Memory at index 2 missing 'content'"},
		{"content too long", map[string]any{"content": strings.Repeat("b", 2001)}, 1, "Memory at index 1 exceeds content limit (2001/2000)"},
		{"bad tags", map[string]any{"content": "x", "tags": 5.0}, 2, "Memory at index 2: 'tags' must be a list of strings or a single string"},
		{"bad importance", map[string]any{"content": "x", "importance": 2.0}, 0, "Memory at index 0: 'importance' must be between 0 and 1"},
		{"importance not a number", map[string]any{"content": "x", "importance": "hi"}, 5, "Memory at index 5: 'importance' must be a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewBatchMemory(tt.item, tt.i, inputNow, testLim, 3)
			wantErr(t, err, tt.want)
		})
	}
}

// A batch item takes the fields and rules of a single store: AutoMem
// ignored t_valid, t_invalid and embedding, and turned a bad timestamp or
// metadata into a default, so a client's data was silently not stored.
func TestNewBatchMemoryAsStore(t *testing.T) {
	for _, tt := range []struct {
		name string
		item map[string]any
		want string
	}{
		{"invalid timestamp", map[string]any{"content": "x", "timestamp": "not a time"}, "Memory at index 0: Invalid timestamp: Invalid ISO timestamp \"not a time\""},
		{"non-string timestamp", map[string]any{"content": "x", "timestamp": 12.0}, "Memory at index 0: Invalid timestamp: must be an ISO 8601 string"},
		{"non-object metadata", map[string]any{"content": "x", "metadata": "oops"}, "Memory at index 0: 'metadata' must be an object"},
		{"bad t_valid", map[string]any{"content": "x", "t_valid": "soon"}, "Memory at index 0: Invalid t_valid: Invalid ISO timestamp \"soon\""},
		{"t_invalid before t_valid", map[string]any{"content": "x", "t_valid": "2021-01-01", "t_invalid": "2020-01-01"},
			"Memory at index 0: 't_invalid' (2020-01-01T00:00:00+00:00) must not be before 't_valid' (2021-01-01T00:00:00+00:00)"},
		{"embedding of the wrong size", map[string]any{"content": "x", "embedding": []any{1.0, 2.0}}, "Memory at index 0: Embedding must contain exactly 3 values"},
		{"garbage confidence without a type", map[string]any{"content": "x", "confidence": "sure"}, "Memory at index 0: 'confidence' must be a number"},
		{"empty tag", map[string]any{"content": "x", "tags": []any{"a", ""}}, "Memory at index 0: 'tags' item at index 1 must not be empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewBatchMemory(tt.item, 0, inputNow, testLim, 3)
			wantErr(t, err, tt.want)
		})
	}

	m, err := NewBatchMemory(map[string]any{"content": "x", "timestamp": "2025-05-08T10:00:00-04:00", "t_valid": "2020-01-01",
		"t_invalid": "2026-01-01", "embedding": []any{1.0, 2.0, 3.0}, "id": "11111111-1111-4111-8111-111111111111",
		"updated_at": "2030-01-01", "last_accessed": "2031-01-01", "tags": "a,b", "metadata": map[string]any{"k": "v"}}, 0, inputNow, testLim, 3)
	if err != nil {
		t.Fatal(err)
	}
	checkUUIDv4(t, m.ID)
	day := func(y int) time.Time { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC) }
	if !m.Timestamp.Equal(time.Date(2025, 5, 8, 14, 0, 0, 0, time.UTC)) || !m.TValid.Equal(day(2020)) || m.TInvalid == nil ||
		!m.TInvalid.Equal(day(2026)) || !m.UpdatedAt.Equal(day(2030)) || !m.LastAccessed.Equal(day(2031)) {
		t.Errorf("times = %v %v %v %v %v", m.Timestamp, m.TValid, m.TInvalid, m.UpdatedAt, m.LastAccessed)
	}
	if !reflect.DeepEqual(m.Embedding, []float32{1, 2, 3}) || !reflect.DeepEqual(m.Tags, []string{"a,b"}) ||
		!reflect.DeepEqual(m.Metadata, map[string]any{"k": "v"}) {
		t.Errorf("embedding, tags, metadata = %v %v %v", m.Embedding, m.Tags, m.Metadata)
	}
	// Without times, every one is the timestamp's default, now.
	m, err = NewBatchMemory(map[string]any{"content": "x"}, 0, inputNow, testLim, 3)
	if err != nil || !m.Timestamp.Equal(inputNow) || !m.TValid.Equal(inputNow) || !m.UpdatedAt.Equal(inputNow) || !m.LastAccessed.Equal(inputNow) {
		t.Errorf("defaults: %+v, %v", m, err)
	}
}

func patchBase() *Memory {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	return &Memory{
		ID: "6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f", Content: "old content", Tags: []string{"old"},
		Importance: 0.5, Type: "Context", Confidence: 0.6, Timestamp: t0, TValid: t0, UpdatedAt: t1, LastAccessed: t1,
		Metadata: map[string]any{"keep": "x", "k2": 1.0},
	}
}

func TestApplyPatch(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		body        map[string]any
		wantChanged bool
		check       func(t *testing.T, m *Memory)
	}{
		{
			name: "empty body changes nothing",
			body: map[string]any{},
			check: func(t *testing.T, m *Memory) {
				if !reflect.DeepEqual(m, patchBase()) {
					t.Errorf("memory = %+v, want unchanged", m)
				}
			},
		},
		{
			name: "metadata is replaced, not merged, and updated_at is kept",
			body: map[string]any{"metadata": map[string]any{"new": "y"}},
			check: func(t *testing.T, m *Memory) {
				if want := map[string]any{"new": "y"}; !reflect.DeepEqual(m.Metadata, want) {
					t.Errorf("Metadata = %#v, want %#v", m.Metadata, want)
				}
				if !m.UpdatedAt.Equal(t1) {
					t.Errorf("UpdatedAt = %v, want kept %v", m.UpdatedAt, t1)
				}
			},
		},
		{
			name: "string tags are comma-split and trimmed",
			body: map[string]any{"tags": " a, b,,c ,"},
			check: func(t *testing.T, m *Memory) {
				if want := []string{"a", "b", "c"}; !reflect.DeepEqual(m.Tags, want) {
					t.Errorf("Tags = %#v, want %#v", m.Tags, want)
				}
			},
		},
		{
			name:        "new content is trimmed and reported as changed",
			body:        map[string]any{"content": "  new content "},
			wantChanged: true,
			check: func(t *testing.T, m *Memory) {
				if m.Content != "new content" {
					t.Errorf("Content = %q, want %q", m.Content, "new content")
				}
				if !m.UpdatedAt.Equal(t1) {
					t.Errorf("UpdatedAt = %v, want kept %v", m.UpdatedAt, t1)
				}
			},
		},
		{
			name: "same content after trimming is not a change",
			body: map[string]any{"content": " old content "},
			check: func(t *testing.T, m *Memory) {
				if m.Content != "old content" {
					t.Errorf("Content = %q", m.Content)
				}
			},
		},
		{
			name: "scalar fields replace the old values",
			body: map[string]any{"importance": 0.9, "type": " insight ", "confidence": 0.4},
			check: func(t *testing.T, m *Memory) {
				if m.Importance != 0.9 || m.Type != "insight" || m.Confidence != 0.4 {
					t.Errorf("Importance, Type, Confidence = %v, %q, %v; want 0.9, insight, 0.4", m.Importance, m.Type, m.Confidence)
				}
			},
		},
		{
			name: "timestamps are parsed and converted to UTC",
			body: map[string]any{"timestamp": "2024-06-01T12:00:00+02:00", "t_valid": "2024-06-02", "updated_at": "2024-06-03T00:00:00Z", "last_accessed": "2024-06-04 05:06:07"},
			check: func(t *testing.T, m *Memory) {
				for name, c := range map[string]struct{ got, want time.Time }{
					"Timestamp":    {m.Timestamp, time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)},
					"TValid":       {m.TValid, time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC)},
					"UpdatedAt":    {m.UpdatedAt, time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC)},
					"LastAccessed": {m.LastAccessed, time.Date(2024, 6, 4, 5, 6, 7, 0, time.UTC)},
				} {
					if !c.got.Equal(c.want) {
						t.Errorf("%s = %v, want %v", name, c.got, c.want)
					}
				}
			},
		},
		{
			name: "t_invalid is set",
			body: map[string]any{"t_invalid": "2025-03-01T00:00:00Z"},
			check: func(t *testing.T, m *Memory) {
				if m.TInvalid == nil || !m.TInvalid.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("TInvalid = %v, want 2025-03-01", m.TInvalid)
				}
				if !m.Timestamp.Equal(t0) {
					t.Errorf("Timestamp = %v, want kept", m.Timestamp)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := patchBase()
			changed, err := ApplyPatch(m, tt.body, testLim, 3)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tt.wantChanged {
				t.Errorf("contentChanged = %v, want %v", changed, tt.wantChanged)
			}
			tt.check(t, m)
		})
	}
}

func TestApplyPatchClearsTInvalid(t *testing.T) {
	m := patchBase()
	ti := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	m.TInvalid = &ti
	if _, err := ApplyPatch(m, map[string]any{"t_invalid": nil}, testLim, 3); err != nil {
		t.Fatal(err)
	}
	if m.TInvalid != nil {
		t.Errorf("TInvalid = %v, want nil after t_invalid:null", *m.TInvalid)
	}
}

func TestApplyPatchErrors(t *testing.T) {
	tests := []struct {
		name string
		body map[string]any
		want string
	}{
		{"nil body", nil, "JSON body is required"},
		{"blank content", map[string]any{"content": "  "}, "'content' is required"},
		{"content too long", map[string]any{"content": strings.Repeat("c", 2001)}, "Content exceeds maximum length of 2000 characters (2001 provided). Please split into smaller memories or summarize."},
		{"importance out of range", map[string]any{"importance": 1.5}, "'importance' must be between 0 and 1"},
		{"importance not a number", map[string]any{"importance": "high"}, "'importance' must be a number"},
		{"confidence out of range", map[string]any{"confidence": -0.5}, "'confidence' must be between 0 and 1"},
		{"type empty", map[string]any{"type": ""}, "'type' must be a non-empty string"},
		{"metadata not an object", map[string]any{"metadata": "x"}, "'metadata' must be an object"},
		{"timestamp junk", map[string]any{"timestamp": "junk"}, `Invalid timestamp: Invalid ISO timestamp "junk"`},
		{"t_valid junk", map[string]any{"t_valid": "junk"}, `Invalid t_valid: Invalid ISO timestamp "junk"`},
		{"t_invalid junk", map[string]any{"t_invalid": "junk"}, `Invalid t_invalid: Invalid ISO timestamp "junk"`},
		{"updated_at not a string", map[string]any{"updated_at": 3.0}, "Invalid updated_at: must be an ISO 8601 string"},
		{"last_accessed junk", map[string]any{"last_accessed": "junk"}, `Invalid last_accessed: Invalid ISO timestamp "junk"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ApplyPatch(patchBase(), tt.body, testLim, 3)
			wantErr(t, err, tt.want)
		})
	}
}

func TestValidateMemoryID(t *testing.T) {
	const canonical = "6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f"
	valid := []struct{ name, in string }{
		{"hyphenated", "6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f"},
		{"upper case", "6F1C3F0E-8D2A-4B7E-9C1D-2A3B4C5D6E7F"},
		{"hyphenless", "6f1c3f0e8d2a4b7e9c1d2a3b4c5d6e7f"},
		{"braced", "{6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f}"},
		{"urn", "urn:uuid:6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f"},
		{"surrounding space", " 6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f "},
		// Python's uuid.UUID strips the braces and then every hyphen, so it
		// also accepts a braced hyphenless id (reference §3.3).
		{"braced hyphenless", "{6f1c3f0e8d2a4b7e9c1d2a3b4c5d6e7f}"},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateMemoryID(tt.in)
			if err != nil {
				t.Fatalf("ValidateMemoryID(%q) error: %v", tt.in, err)
			}
			if got != canonical {
				t.Errorf("ValidateMemoryID(%q) = %q, want %q", tt.in, got, canonical)
			}
		})
	}
	invalid := []string{
		"", "abc", "6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7", "6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f0",
		"gf1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f", "../etc/passwd", "6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f/x",
	}
	for _, in := range invalid {
		got, err := ValidateMemoryID(in)
		if got != "" {
			t.Errorf("ValidateMemoryID(%q) = %q, want empty", in, got)
		}
		wantErr(t, err, "memory_id must be a valid UUID")
	}
}

func TestParseEmbedding(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		dim     int
		want    []float32
		wantErr string
	}{
		{"list of numbers", []any{1.0, 2.5, -3.0}, 3, []float32{1, 2.5, -3}, ""},
		{"list with numeric strings", []any{"1", 2.5, "-3"}, 3, []float32{1, 2.5, -3}, ""},
		{"comma string", "1, 2.5,-3", 3, []float32{1, 2.5, -3}, ""},
		{"comma string with empty parts", "1,,2.5,-3,", 3, []float32{1, 2.5, -3}, ""},
		{"list too short", []any{1.0, 2.0}, 3, nil, "Embedding must contain exactly 3 values"},
		{"string too long", "1,2,3,4", 3, nil, "Embedding must contain exactly 3 values"},
		{"empty list", []any{}, 4, nil, "Embedding must contain exactly 4 values"},
		{"empty string", "", 2, nil, "Embedding must contain exactly 2 values"},
		{"number", 5.0, 3, nil, "Embedding must be a list of floats or a comma-separated string"},
		{"object", map[string]any{"a": 1.0}, 3, nil, "Embedding must be a list of floats or a comma-separated string"},
		{"nil", nil, 3, nil, "Embedding must be a list of floats or a comma-separated string"},
		{"word in string", "1,two,3", 3, nil, "Embedding must contain numeric values"},
		{"bool in list", []any{1.0, true, 3.0}, 3, nil, "Embedding must contain numeric values"},
		{"nested list", []any{1.0, []any{2.0}, 3.0}, 3, nil, "Embedding must contain numeric values"},
		{"NaN", "1,NaN,3", 3, nil, "Embedding must contain numeric values"},
		{"infinity", []any{"inf", 1.0, 2.0}, 3, nil, "Embedding must contain numeric values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEmbedding(tt.in, tt.dim)
			if tt.wantErr != "" {
				wantErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseEmbedding(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
