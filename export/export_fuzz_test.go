package export

import (
	"bytes"
	"iter"
	"reflect"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// fileSnapshot serves a read File as a snapshot, to write it again.
type fileSnapshot struct{ f *File }

func (s fileSnapshot) Counts() (int64, int64) {
	return int64(len(s.f.Memories)), int64(len(s.f.Relations))
}
func (s fileSnapshot) Memories() iter.Seq2[*mnemo.Memory, error] {
	return func(yield func(*mnemo.Memory, error) bool) {
		for _, m := range s.f.Memories {
			if !yield(m, nil) {
				return
			}
		}
	}
}
func (s fileSnapshot) Relations() iter.Seq2[mnemo.Relation, error] {
	return func(yield func(mnemo.Relation, error) bool) {
		for _, r := range s.f.Relations {
			if !yield(r, nil) {
				return
			}
		}
	}
}
func (s fileSnapshot) Close() error { return nil }

// FuzzRead: any NDJSON an operator might import. A refusal is EINVALID
// naming a line; a file that is read writes out as an export that reads
// back to the same memories and relations (what an import stores is what
// the next export holds).
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"format":"mnemo-export","version":1,"memories":1,"relations":0}
{"kind":"memory","id":"66666666-6666-4666-8666-666666666666","content":"x","timestamp":"0001-01-01T00:00:00+00:00","metadata":{"n":1.50}}
`))
	lim := mnemo.Limits{ContentHardLimit: 200, MaxTags: 8, MaxTagBytes: 32, MaxTagSegments: 4, MaxMetadataBytes: 1024, MaxMetadataDepth: 6, MaxTypeLength: 16}
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw []byte) {
		file, err := Read(raw, lim, now)
		if err != nil {
			if mnemo.ErrorCode(err) != mnemo.EINVALID {
				t.Fatalf("refused with %s: %v", mnemo.ErrorCode(err), err)
			}
			return
		}
		var out bytes.Buffer
		if err := Write(&out, fileSnapshot{file}, Header{TenantID: "t", ExportedAt: now, WithVectors: true}); err != nil {
			t.Fatalf("a file that was read does not write: %v", err)
		}
		again, err := Read(out.Bytes(), lim, now.Add(time.Hour))
		if err != nil {
			t.Fatalf("the export of an imported file does not import: %v\n%s", err, out.Bytes())
		}
		if len(again.Memories) != len(file.Memories) || !reflect.DeepEqual(again.Relations, file.Relations) {
			t.Fatalf("round trip changed the file:\n%s", out.Bytes())
		}
		for i, m := range file.Memories {
			a, _ := m.MarshalJSON()
			b, _ := again.Memories[i].MarshalJSON()
			if !bytes.Equal(a, b) || !reflect.DeepEqual(m.Embedding, again.Memories[i].Embedding) {
				t.Fatalf("memory %d changed on the round trip:\n%s\n%s", i, a, b)
			}
		}
	})
}
