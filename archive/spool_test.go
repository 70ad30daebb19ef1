package archive

import (
	"bytes"
	"os"
	"testing"
)

// TestSpoolMovesToAnUnlinkedFile: a member past spoolMemory is staged in
// a file of the temporary directory that no name points to, and reads
// back whole.
func TestSpoolMovesToAnUnlinkedFile(t *testing.T) {
	dir := t.TempDir()
	s := newSpool(dir)
	defer s.Close()
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	var want bytes.Buffer
	for range 17 {
		if _, err := s.Write(chunk); err != nil {
			t.Fatal(err)
		}
		want.Write(chunk)
	}
	if s.f == nil || s.buf.Len() != 0 || s.n != int64(want.Len()) {
		t.Fatalf("spool of %d bytes: file %v, %d in memory", s.n, s.f != nil, s.buf.Len())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the staging file has a name: %v", entries)
	}
	var got bytes.Buffer
	if err := s.copyTo(&got); err != nil || !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("read back %d bytes, %v; want %d", got.Len(), err, want.Len())
	}
}
