package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The abuse suite (abuse_*_test.go) attacks the real binary and checks
// that each attack gets its 4xx, the server stays up, and its memory and
// disk stay bounded. These are its measuring tools.

// RSS returns the server process's resident memory in bytes, from /proc.
func (s *Server) RSS(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatalf("read the server's RSS: %v", err)
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/<pid>/status")
	return 0
}

// DiskBytes returns the bytes of every file under the data directory.
func (s *Server) DiskBytes(t *testing.T) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(s.DataDir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("measure the data directory: %v", err)
	}
	return n
}

// ExpectUp fails the test unless the server process is alive and answers
// /health.
func (s *Server) ExpectUp(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		t.Fatalf("the server exited:\n%s", s.Logs())
	default:
	}
	s.Do("GET", "/health", nil).Expect(t, 200)
}

// Footprint is the server's memory and disk at one moment.
type Footprint struct{ RSS, Disk int64 }

// Footprint measures the server now.
func (s *Server) Footprint(t *testing.T) Footprint {
	t.Helper()
	return Footprint{RSS: s.RSS(t), Disk: s.DiskBytes(t)}
}

// ExpectBounded fails the test unless the server is up and its RSS and
// disk grew by at most maxRSS and maxDisk bytes since before.
func (s *Server) ExpectBounded(t *testing.T, before Footprint, maxRSS, maxDisk int64) {
	t.Helper()
	s.ExpectUp(t)
	after := s.Footprint(t)
	if grew := after.RSS - before.RSS; grew > maxRSS {
		t.Errorf("RSS grew by %d MiB (from %d to %d MiB), more than %d MiB", grew>>20, before.RSS>>20, after.RSS>>20, maxRSS>>20)
	}
	if grew := after.Disk - before.Disk; grew > maxDisk {
		t.Errorf("the data directory grew by %d KiB (from %d to %d KiB), more than %d KiB", grew>>10, before.Disk>>10, after.Disk>>10, maxDisk>>10)
	}
}

// CPU returns the CPU time the server process has used, from /proc.
func (s *Server) CPU(t *testing.T) time.Duration {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat")
	if err != nil {
		t.Fatalf("read the server's CPU time: %v", err)
	}
	// The fields after the command name, which is in parentheses: utime
	// and stime are the 12th and 13th of them, in clock ticks (100/s).
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("parse /proc/<pid>/stat: %q", raw)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
