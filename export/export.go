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
	d := NewDecoder(bytes.NewReader(raw), lim, now, 0)
	for {
		m, rel, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if m != nil {
			if first, dup := seen[m.ID]; dup {
				return nil, LineError(d.Line(), "'id' %s repeats the memory of line %d", m.ID, first)
			}
			seen[m.ID] = d.Line()
			f.Memories = append(f.Memories, m)
			continue
		}
		f.Relations = append(f.Relations, *rel)
		relLines = append(relLines, d.Line())
	}
	f.SourceTenant = d.SourceTenant()
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

// Decoder reads an export one line at a time, checking each as Read does,
// so that an export of any size is read in the memory of one line. It
// does not look across lines (a repeated memory id, a relation end that
// is not in the file): that is its caller's.
type Decoder struct {
	r       *bufio.Reader
	lim     mnemo.Limits
	now     time.Time
	maxLine int
	line    int
	header  bool
	source  string
	// The header's counts (-1: not given) and what was read so far.
	wantMems, wantRels int64
	mems, rels         int64
}

// NewDecoder returns a Decoder of r. A line longer than maxLine bytes is
// EINVALID (0: no bound; the caller bounds r).
func NewDecoder(r io.Reader, lim mnemo.Limits, now time.Time, maxLine int) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 64<<10), lim: lim, now: now, maxLine: maxLine, wantMems: -1, wantRels: -1}
}

// Next returns the next memory or relation (the other is nil), after the
// header, which it reads first. At the end it checks the header's counts
// and returns io.EOF.
func (d *Decoder) Next() (*mnemo.Memory, *mnemo.Relation, error) {
	for {
		line, err := d.readLine()
		if errors.Is(err, io.EOF) {
			return nil, nil, d.end()
		}
		if err != nil {
			return nil, nil, err
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
			return nil, nil, LineError(d.line, "%s", msg)
		}
		if dec.More() {
			return nil, nil, LineError(d.line, "unexpected data after the JSON object (one object per line)")
		}
		if err := mnemo.CheckJSONText(line); err != nil {
			return nil, nil, LineError(d.line, "%s", mnemo.ErrorMessage(err))
		}
		if !d.header {
			d.header = true
			if d.source, d.wantMems, d.wantRels, err = readHeader(obj, d.line); err != nil {
				return nil, nil, err
			}
			continue
		}
		switch kind, _ := obj["kind"].(string); kind {
		case "memory":
			m, err := mnemo.ImportMemory(obj, d.line, d.lim, d.now)
			if err != nil {
				return nil, nil, err
			}
			d.mems++
			return m, nil, nil
		case "relation":
			rel, err := mnemo.ImportRelation(obj, d.line, d.lim, d.now)
			if err != nil {
				return nil, nil, err
			}
			d.rels++
			return nil, &rel, nil
		default:
			return nil, nil, LineError(d.line, `'kind' must be "memory" or "relation"`)
		}
	}
}

// Line is the number of the line Next read last.
func (d *Decoder) Line() int { return d.line }

// SourceTenant is the header's tenant_id, once Next has read the header.
func (d *Decoder) SourceTenant() string { return d.source }

// readLine reads the next line, without its end; io.EOF when none is left.
func (d *Decoder) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := d.r.ReadSlice('\n')
		if len(line) == 0 && len(chunk) == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if d.maxLine > 0 && len(line)+len(chunk) > d.maxLine+1 {
			return nil, LineError(d.line+1, "the line is longer than %d bytes", d.maxLine)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			d.line++
			return line[:len(line)-1], nil
		case errors.Is(err, io.EOF):
			d.line++
			return line, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, err
		}
	}
}

// end checks, after the last line, that there was a header and that its
// counts hold.
func (d *Decoder) end() error {
	if !d.header {
		return mnemo.Errorf(mnemo.EINVALID, "The import body is empty: send a mnemo export (NDJSON) as the body")
	}
	if d.wantMems >= 0 && d.mems != d.wantMems {
		return LineError(1, "the header counts %d memories but the file has %d (is it truncated?)", d.wantMems, d.mems)
	}
	if d.wantRels >= 0 && d.rels != d.wantRels {
		return LineError(1, "the header counts %d relations but the file has %d (is it truncated?)", d.wantRels, d.rels)
	}
	return io.EOF
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
