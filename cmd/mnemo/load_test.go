package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mnemohq/mnemo/internal/falkortest"
)

// TestBenchLoadBoth runs bench load on both backends at toy sizes: one
// table each, the ratio line, and no bench graph left on the server.
func TestBenchLoadBoth(t *testing.T) {
	srv := falkortest.Start(t)
	var out, errs bytes.Buffer
	err := benchLoad(context.Background(), []string{"--backend", "both", "--falkordb", srv.Addr,
		"--sizes", "20,300", "--queries", "3", "--dim", "16"}, &out, &errs)
	if err != nil {
		t.Fatalf("bench load: %v\n%s", err, errs.String())
	}
	got := out.String()
	for _, want := range []string{"SQLite synchronous=FULL", "FalkorDB at " + srv.Addr, "appendfsync=always",
		"recall p95 falkordb/sqlite: 220 memories", "500 memories"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "batch store/s"); n != 2 {
		t.Errorf("%d tables, want 2:\n%s", n, got)
	}
	graphs, err := srv.Client().Do(context.Background(), "GRAPH.LIST").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(graphs) != 0 {
		t.Errorf("graphs left after the run: %v", graphs)
	}
}

func TestBenchLoadRejectsUnknownBackend(t *testing.T) {
	var out, errs bytes.Buffer
	err := benchLoad(context.Background(), []string{"--backend", "postgres"}, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "--backend") {
		t.Fatalf("err = %v, want one naming --backend", err)
	}
}
