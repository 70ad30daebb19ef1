package falkortest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mnemohq/mnemo/internal/falkortest"
)

// TestStartRunsFalkorDB: the server answers, has the graph module, and a
// write acknowledged before a SIGKILL is there after the restart
// (appendfsync always).
func TestStartRunsFalkorDB(t *testing.T) {
	s := falkortest.Start(t)
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q, want loopback", s.Addr)
	}
	ctx := context.Background()
	c := s.Client()
	mods, err := c.Do(ctx, "MODULE", "LIST").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(fmtAny(mods)), "graph") {
		t.Fatalf("MODULE LIST = %v, want the graph module", mods)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if err := c.Get(ctx, "k").Err(); err == nil {
		t.Fatal("GET answered after Kill")
	}
	s.Restart()
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after kill and restart GET k = %q, %v; want v", got, err)
	}
}

// TestBinDirRefusesAnIncompleteDirectory: a configured directory without
// the binaries is an error that names the missing file, so Start fails
// the test with it instead of skipping.
func TestBinDirRefusesAnIncompleteDirectory(t *testing.T) {
	t.Setenv(falkortest.EnvDir, t.TempDir())
	_, err := falkortest.BinDir()
	if err == nil || !strings.Contains(err.Error(), "redis-server") {
		t.Fatalf("BinDir() = %v; want an error naming redis-server", err)
	}
}

func fmtAny(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[any]any:
			for k, e := range v {
				walk(k)
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				b.WriteString(k + " ")
				walk(e)
			}
		case string:
			b.WriteString(v + " ")
		}
	}
	walk(v)
	return b.String()
}
