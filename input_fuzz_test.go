package mnemo

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets of the memory rules. Each checks what must hold for
// any input, beyond not panicking: whatever is accepted obeys the rules,
// and a memory accepted by a store exports and imports as the same memory.
// Seeds: testdata/fuzz/FuzzXxx. CI runs each briefly (scripts/test).

// fuzzLim keeps the fuzzer's inputs cheap.
var fuzzLim = Limits{ContentHardLimit: 200, MaxTags: 8, MaxTagBytes: 32, MaxTagSegments: 4, MaxMetadataBytes: 1024, MaxMetadataDepth: 6, MaxTypeLength: 16}

// FuzzNewMemory: a JSON body through store, batch and update. An accepted
// memory's text is what the rules allow, its times are within years 1 to
// 9999, and its export line imports as the same memory.
func FuzzNewMemory(f *testing.F) {
	f.Add([]byte(`{"content":"I prefer tabs","tags":["a","b:c"],"importance":"0.8","t_valid":"0001-01-01","t_invalid":"9999-12-31T23:59:59.999999Z"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var body map[string]any
		if json.Unmarshal(raw, &body) != nil || CheckJSONText(raw) != nil {
			return
		}
		now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
		if m, err := NewBatchMemory(body, 0, now, fuzzLim, 3); err == nil {
			checkAccepted(t, m)
			checkValidity(t, body, m)
		}
		old := &Memory{ID: "6f1c3f0e-8d2a-4b7e-9c1d-2a3b4c5d6e7f", Content: "old", Tags: []string{"old"}, Timestamp: now, TValid: now, UpdatedAt: now, LastAccessed: now}
		if _, err := ApplyPatch(old, body, fuzzLim, 3); err == nil {
			checkAccepted(t, old)
			if body["t_valid"] != nil && body["t_invalid"] != nil && old.TInvalid != nil && old.TInvalid.Before(old.TValid) {
				t.Fatalf("an update set t_invalid %v before t_valid %v", old.TInvalid, old.TValid)
			}
		}
		m, err := NewMemory(body, now, fuzzLim, 3)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("refused with %s, not EINVALID: %v", ErrorCode(err), err)
			}
			return
		}
		checkAccepted(t, m)
		checkValidity(t, body, m)
		line, err := m.MarshalJSON()
		if err != nil {
			t.Fatalf("an accepted memory does not marshal: %v", err)
		}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber() // as the import reads
		if err := dec.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		back, err := ImportMemory(obj, 2, fuzzLim, now.Add(time.Hour))
		if err != nil {
			t.Fatalf("an accepted memory does not import again: %v\n%s", err, line)
		}
		again, _ := back.MarshalJSON()
		if !bytes.Equal(line, again) {
			t.Fatalf("the memory changed on its way through an export:\n%s\n%s", line, again)
		}
	})
}

// checkAccepted is what holds for every memory the rules accept.
func checkAccepted(t *testing.T, m *Memory) {
	t.Helper()
	texts := append([]string{m.Content, m.Type}, m.Tags...)
	for _, s := range texts {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			t.Fatalf("accepted text %q", s)
		}
	}
	for _, tag := range m.Tags {
		if strings.TrimSpace(tag) == "" {
			t.Fatalf("accepted an empty tag: %q", m.Tags)
		}
	}
	if m.Content == "" || m.Importance < 0 || m.Importance > 1 || m.Confidence < 0 || m.Confidence > 1 {
		t.Fatalf("accepted %+v", m)
	}
	for _, tm := range []time.Time{m.Timestamp, m.TValid, m.UpdatedAt, m.LastAccessed} {
		if !InTimeRange(tm) {
			t.Fatalf("accepted a time outside years 1 to 9999: %v", tm)
		}
	}
	if m.TInvalid != nil && !InTimeRange(*m.TInvalid) {
		t.Fatalf("accepted t_invalid %v", m.TInvalid)
	}
}

// checkValidity: t_invalid is not before a t_valid the client gave, or
// before the timestamp t_valid follows. (With neither, t_valid is now and
// a past t_invalid is an already expired memory, kept as AutoMem keeps it:
// the first crasher this target found, FuzzNewMemory/67a6061d2e0c5b4d.)
func checkValidity(t *testing.T, body map[string]any, m *Memory) {
	t.Helper()
	if m.TInvalid != nil && (body["t_valid"] != nil || body["timestamp"] != nil) && m.TInvalid.Before(m.TValid) {
		t.Fatalf("accepted t_invalid %v before t_valid %v", m.TInvalid, m.TValid)
	}
}

// FuzzParseTime: an accepted time is within years 1 to 9999, and formats
// to a string that parses to the same instant.
func FuzzParseTime(f *testing.F) {
	f.Add("2026-01-02T03:04:05.123456+02:00")
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err != nil {
			return
		}
		if !InTimeRange(tm) || tm.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) = %v", s, tm)
		}
		again, err := ParseTime(FormatTime(tm))
		if err != nil || !again.Equal(tm) {
			t.Fatalf("ParseTime(%q) = %v, formats as %q, which parses as %v, %v", s, tm, FormatTime(tm), again, err)
		}
	})
}

// FuzzTags: the tags of a store (a list, or one string taken whole) and of
// an update (a string comma-split). Accepted tags are non-empty text
// within the limits; an update's pieces hold no comma and no outer space.
func FuzzTags(f *testing.F) {
	f.Add([]byte(`["a","Project/AutoMem:api"]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return
		}
		m, err := NewMemory(map[string]any{"content": "x", "tags": v}, time.Now(), fuzzLim, 3)
		if err == nil {
			checkAccepted(t, m)
			if fuzzLim.CheckTags(m.Tags) != nil {
				t.Fatalf("accepted tags beyond the limits: %q", m.Tags)
			}
		}
		p := &Memory{Tags: []string{"old"}}
		if _, err := ApplyPatch(p, map[string]any{"tags": v}, fuzzLim, 3); err != nil {
			if !reflect.DeepEqual(p.Tags, []string{"old"}) {
				t.Fatalf("a refused update changed the tags to %q", p.Tags)
			}
			return
		}
		if s, isString := v.(string); isString {
			for _, tag := range p.Tags {
				if strings.Contains(tag, ",") || tag != strings.TrimSpace(tag) || tag == "" {
					t.Fatalf("tags %q split into %q", s, p.Tags)
				}
			}
		}
	})
}

// FuzzCheckJSONText: a text CheckJSONText passes decodes to strings that
// are valid UTF-8 without NUL, and holds U+FFFD only where the client
// wrote it; a number NumberOutOfRange passes decodes.
func FuzzCheckJSONText(f *testing.F) {
	f.Add([]byte(`{"content":"a \ud83d\ude00 \\ud800","metadata":{"k":[1,"\u00e9"]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v any
		decodeErr := json.Unmarshal(raw, &v)
		if err := NumberOutOfRange(raw); err != nil && ErrorCode(err) != EINVALID {
			t.Fatal(err)
		} else if err == nil && decodeErr != nil && strings.Contains(decodeErr.Error(), "cannot unmarshal number") {
			t.Fatalf("NumberOutOfRange missed what the decoder refused: %v", decodeErr)
		}
		err := CheckJSONText(raw)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatal(err)
			}
			return
		}
		if decodeErr != nil {
			return
		}
		meant := bytes.Contains(raw, []byte("\ufffd")) || bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case string:
				if !utf8.ValidString(x) || strings.IndexByte(x, 0) >= 0 || (!meant && strings.ContainsRune(x, utf8.RuneError)) {
					t.Fatalf("passed %q, which decodes to %q", raw, x)
				}
			case map[string]any:
				for k, e := range x {
					walk(k)
					walk(e)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			}
		}
		walk(v)
	})
}
