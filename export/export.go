// Package export is mnemo's export format: NDJSON, written from a tenant
// store's snapshot and read back, validated, for an import. The format is
// versioned; docs/operations.md describes it.
//
// Line 1 is the header:
//
//	{"format":"mnemo-export","version":1,"tenant_id":...,"exported_at":...,
//	 "memories":N,"relations":M,"vectors":true,"embedding_model":...}
//
// then one line per memory, in the order they were stored: {"kind":"memory"}
// with every field of a memory as the API shows it, plus "embedding" and
// "embedding_model" when vectors were asked for and the memory has one; then
// one line per relation: {"kind":"relation","memory1_id","memory2_id","type",
// "strength","properties","updated_at"}.
package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/mnemohq/mnemo"
)

// The format this package writes and reads.
const (
	Format  = "mnemo-export"
	Version = 1
)

// Header is the first line of an export.
type Header struct {
	TenantID       string
	ExportedAt     time.Time
	WithVectors    bool
	EmbeddingModel string
}

// Write writes the whole of sn as an export to w.
func Write(w io.Writer, sn mnemo.Snapshot, h Header) error {
	memories, relations := sn.Counts()
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{"format": Format, "version": Version, "tenant_id": h.TenantID,
		"exported_at": mnemo.FormatTime(h.ExportedAt), "memories": memories, "relations": relations,
		"vectors": h.WithVectors, "embedding_model": h.EmbeddingModel}); err != nil {
		return err
	}
	for m, err := range sn.Memories() {
		if err != nil {
			return err
		}
		line, err := memoryLine(m)
		if err != nil {
			return err
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	for rel, err := range sn.Relations() {
		if err != nil {
			return err
		}
		props := rel.Props
		if props == nil {
			props = map[string]any{}
		}
		if err := enc.Encode(map[string]any{"kind": "relation", "memory1_id": rel.From, "memory2_id": rel.To, "type": rel.Type,
			"strength": rel.Strength, "properties": props, "updated_at": mnemo.FormatTime(rel.UpdatedAt)}); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// memoryLine is {"kind":"memory", <the fields of Memory.MarshalJSON>,
// "embedding":[...], "embedding_model":"..."}, the last two only when the
// memory carries a vector.
func memoryLine(m *mnemo.Memory) ([]byte, error) {
	body, err := m.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("export memory %s: %w", m.ID, err)
	}
	line := make([]byte, 0, len(body)+32+len(m.Embedding)*12)
	line = append(line, `{"kind":"memory",`...)
	line = append(line, body[1:len(body)-1]...)
	if m.Embedding != nil {
		vec, err := json.Marshal(m.Embedding)
		if err != nil {
			return nil, fmt.Errorf("export memory %s vector: %w", m.ID, err)
		}
		model, _ := json.Marshal(m.EmbeddingModel)
		line = append(line, `,"embedding":`...)
		line = append(line, vec...)
		line = append(line, `,"embedding_model":`...)
		line = append(line, model...)
	}
	return append(line, '}', '\n'), nil
}

// File is a validated export.
type File struct {
	SourceTenant string
	Memories     []*mnemo.Memory
	Relations    []mnemo.Relation
	// Foreign are relation ends not in the file, each with the first line
	// that names it: they must already be in the tenant.
	Foreign map[string]int
}

// LineError is a 400 naming the line.
func LineError(line int, format string, args ...any) error {
	return mnemo.Errorf(mnemo.EINVALID, "line %d: %s", line, fmt.Sprintf(format, args...))
}

// Read validates a whole export before anything is written: the header,
// then every memory (the rules of mnemo.ImportMemory) and relation
// (mnemo.ImportRelation), a memory id at most once, and the header's
// counts. Any problem is EINVALID naming the line and the field. now fills
// the times a hand-written file leaves out.
func Read(raw []byte, lim mnemo.Limits, now time.Time) (*File, error) {
	f := &File{Foreign: map[string]int{}}
	seen := map[string]int{} // memory id -> line
	var relLines []int
	header := false
	wantMems, wantRels := int64(-1), int64(-1)
	lineNo := 0
	for len(raw) > 0 {
		lineNo++
		var line []byte
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			line, raw = raw, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber() // metadata numbers keep their exact digits
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil || obj == nil {
			msg := "not a JSON object"
			if err != nil {
				msg += ": " + jsonProblem(err)
			}
			return nil, LineError(lineNo, "%s", msg)
		}
		if dec.More() {
			return nil, LineError(lineNo, "unexpected data after the JSON object (one object per line)")
		}
		if err := mnemo.CheckJSONText(line); err != nil {
			return nil, LineError(lineNo, "%s", mnemo.ErrorMessage(err))
		}
		if !header {
			header = true
			var err error
			if f.SourceTenant, wantMems, wantRels, err = readHeader(obj, lineNo); err != nil {
				return nil, err
			}
			continue
		}
		switch kind, _ := obj["kind"].(string); kind {
		case "memory":
			m, err := mnemo.ImportMemory(obj, lineNo, lim, now)
			if err != nil {
				return nil, err
			}
			if first, dup := seen[m.ID]; dup {
				return nil, LineError(lineNo, "'id' %s repeats the memory of line %d", m.ID, first)
			}
			seen[m.ID] = lineNo
			f.Memories = append(f.Memories, m)
		case "relation":
			rel, err := mnemo.ImportRelation(obj, lineNo, lim, now)
			if err != nil {
				return nil, err
			}
			f.Relations = append(f.Relations, rel)
			relLines = append(relLines, lineNo)
		default:
			return nil, LineError(lineNo, `'kind' must be "memory" or "relation"`)
		}
	}
	if !header {
		return nil, mnemo.Errorf(mnemo.EINVALID, "The import body is empty: send a mnemo export (NDJSON) as the body")
	}
	if wantMems >= 0 && int64(len(f.Memories)) != wantMems {
		return nil, LineError(1, "the header counts %d memories but the file has %d (is it truncated?)", wantMems, len(f.Memories))
	}
	if wantRels >= 0 && int64(len(f.Relations)) != wantRels {
		return nil, LineError(1, "the header counts %d relations but the file has %d (is it truncated?)", wantRels, len(f.Relations))
	}
	for i, rel := range f.Relations {
		for _, end := range []string{rel.From, rel.To} {
			if _, inFile := seen[end]; !inFile {
				if _, ok := f.Foreign[end]; !ok {
					f.Foreign[end] = relLines[i]
				}
			}
		}
	}
	return f, nil
}

func readHeader(obj map[string]any, line int) (tenant string, memories, relations int64, err error) {
	if format, _ := obj["format"].(string); format != Format {
		return "", 0, 0, LineError(line, `the first line must be the export header with 'format' "mnemo-export"`)
	}
	v, ok := mnemo.Number(obj["version"])
	if !ok {
		return "", 0, 0, LineError(line, "'version' must be a number")
	}
	if v != Version {
		return "", 0, 0, LineError(line, "'version' %s is not supported (this server reads version %d)", strconv.FormatFloat(v, 'f', -1, 64), Version)
	}
	tenant, _ = obj["tenant_id"].(string)
	memories, relations = -1, -1
	for _, c := range []struct {
		name string
		dst  *int64
	}{{"memories", &memories}, {"relations", &relations}} {
		raw, present := obj[c.name]
		if !present || raw == nil {
			continue
		}
		n, ok := mnemo.Number(raw)
		if !ok || n < 0 || n != math.Trunc(n) {
			return "", 0, 0, LineError(line, "'%s' must be a non-negative integer", c.name)
		}
		*c.dst = int64(n)
	}
	return tenant, memories, relations, nil
}

func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Sprintf("%v at byte %d", syntax, syntax.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return err.Error()
}
