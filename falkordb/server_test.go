package falkordb_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/internal/falkortest"
)

func TestCheckServer(t *testing.T) {
	ctx := context.Background()
	srv := falkortest.Start(t)
	rdb := srv.Client()
	s, err := falkordb.CheckServer(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	want := falkordb.ServerSettings{ModuleVersion: 41603, AppendOnly: "yes", AppendFsync: "always", MaxMemoryPolicy: "noeviction"}
	if s != want {
		t.Fatalf("settings %+v, want %+v", s, want)
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Fatalf("warnings for the settings mnemo asks for: %q", w)
	}

	for _, tc := range []struct{ name, value, warning string }{
		{"appendfsync", "everysec", "up to a second of acknowledged writes"},
		{"appendfsync", "no", "appendfsync is no"},
		{"maxmemory-policy", "allkeys-lru", "maxmemory-policy is allkeys-lru"},
		{"appendonly", "no", "appendonly is no"},
	} {
		if err := rdb.ConfigSet(ctx, tc.name, tc.value).Err(); err != nil {
			t.Fatal(err)
		}
		s, err := falkordb.CheckServer(ctx, rdb)
		if err != nil {
			t.Fatal(err)
		}
		w := s.Warnings()
		if len(w) != 1 || !strings.Contains(w[0], tc.warning) {
			t.Errorf("%s %s: warnings %q, want one containing %q", tc.name, tc.value, w, tc.warning)
		}
		if err := rdb.ConfigSet(ctx, tc.name, map[string]string{"appendfsync": "always", "maxmemory-policy": "noeviction", "appendonly": "yes"}[tc.name]).Err(); err != nil {
			t.Fatal(err)
		}
	}

	if w := (falkordb.ServerSettings{AppendOnly: "yes", AppendFsync: "always", MaxMemoryPolicy: "noeviction"}).Warnings(); len(w) != 1 || !strings.Contains(w[0], "graph module is not loaded") {
		t.Errorf("no module: warnings %q", w)
	}

	c := falkordb.New(rdb)
	if err := falkordb.Ping(ctx, c, rdb); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	srv.Kill()
	if err := falkordb.Ping(ctx, c, rdb); !errors.Is(err, falkordb.ErrUnavailable) {
		t.Fatalf("Ping of a killed server: %v, want ErrUnavailable", err)
	}
	if _, err := falkordb.CheckServer(ctx, rdb); !errors.Is(err, falkordb.ErrUnavailable) {
		t.Fatalf("CheckServer of a killed server: %v, want ErrUnavailable", err)
	}
	srv.Restart()
	if err := falkordb.Ping(ctx, c, rdb); err != nil {
		t.Fatalf("Ping after restart, same client: %v", err)
	}
}
