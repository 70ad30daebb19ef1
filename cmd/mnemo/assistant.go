package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mnemohq/mnemo/embed"
	"github.com/mnemohq/mnemo/internal/evalset"
)

// benchAssistant measures recall in process on the assistant-style set
// (internal/evalset: preferences, decisions, project facts, people,
// superseded facts, scoped projects, conversations), next to plain BM25,
// with recall's defaults and, with --compare, with ranking steps changed
// (mnemo bench ranking measures them all on both sets).
func benchAssistant(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench assistant", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dim := fs.Int("dim", 768, "vector dimension of the hash embedder")
	compare := fs.String("compare", "", "comma-separated ranking steps to show changed beside the defaults, as `mnemo bench ranking` names them (e.g. recency,neighbours)")
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
	st, err := set.Open(ctx, filepath.Join(dir, "memories.db"), embed.NewHash(*dim))
	if err != nil {
		return err
	}
	defer st.Close()
	chosen := []evalset.Variant{evalset.Variants[0]}
	for _, name := range strings.Split(*compare, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		i := slices.IndexFunc(evalset.Variants, func(v evalset.Variant) bool { return strings.TrimLeft(v.Name, "-+ ") == name })
		if i < 0 {
			return fmt.Errorf("--compare: no ranking step %q (mnemo bench ranking lists them)", name)
		}
		chosen = append(chosen, evalset.Variants[i])
	}
	names := []string{}
	var reps []evalset.Report
	for _, v := range chosen {
		_, rep, err := st.Ask(ctx, v)
		if err != nil {
			return err
		}
		names, reps = append(names, v.Name), append(reps, rep)
	}
	names, reps = append(names, "BM25"), append(reps, set.Score(set.BM25(10)))
	fmt.Fprintf(stdout, "assistant set: %d memories, %d questions, hash embedder (%d dims), in process on SQLite\n", len(set.Memories), len(set.Questions), *dim)
	fmt.Fprint(stdout, evalset.Table(names, reps...))
	return nil
}
