package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mnemohq/mnemo/embed"
	"github.com/mnemohq/mnemo/internal/evalset"
	"github.com/mnemohq/mnemo/recall"
	"github.com/mnemohq/mnemo/sqlite"
)

// benchAssistant measures recall in process on the assistant-style set
// (internal/evalset: preferences, decisions, project facts, people,
// superseded facts, scoped projects, conversations), next to plain BM25,
// with recall's default configuration and without each of its optional
// steps, so that a step is kept only where it helps.
func benchAssistant(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench assistant", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dim := fs.Int("dim", 768, "vector dimension of the hash embedder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set, err := evalset.Assistant()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mnemo-bench-assistant-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e := embed.NewHash(*dim)
	st, err := sqlite.OpenStore(ctx, filepath.Join(dir, "memories.db"), e.Model(), e.Dim())
	if err != nil {
		return err
	}
	defer st.Close()
	toUUID, fromUUID := set.UUIDs()
	if err := set.Load(ctx, st, e, func(id string) string { return toUUID[id] }); err != nil {
		return err
	}
	variants := []struct {
		name string
		set  func(*recall.Config)
	}{
		{"default", func(*recall.Config) {}},
		{"no-neighbours", func(c *recall.Config) { c.ContextWindow = 0 }},
		{"no-when-bonus", func(c *recall.Config) { c.Weights.TimeMention = 0 }},
	}
	names := []string{}
	var reps []evalset.Report
	for _, v := range variants {
		cfg := recall.DefaultConfig
		v.set(&cfg)
		got, err := set.Recall(ctx, &recall.Recaller{Config: cfg, Embedder: e}, st, func(u string) string { return fromUUID[u] })
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		names, reps = append(names, v.name), append(reps, set.Score(got))
	}
	names, reps = append(names, "BM25"), append(reps, set.Score(set.BM25(10)))
	fmt.Fprintf(stdout, "assistant set: %d memories, %d questions, hash embedder (%d dims), in process on SQLite\n", len(set.Memories), len(set.Questions), *dim)
	fmt.Fprint(stdout, evalset.Table(names, reps...))
	return nil
}
