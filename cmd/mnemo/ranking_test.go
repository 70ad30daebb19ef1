package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo/internal/evalset"
	"github.com/mnemohq/mnemo/recall"
)

// TestBenchRanking runs bench ranking on the assistant set and a toy
// LoCoMo conversation whose answer is the turn after the question, among
// twelve turns of another session that share a word with it: the defaults
// find it in the top 5, and without the neighbour step it is not in the top 10.
func TestBenchRanking(t *testing.T) {
	var turns []string
	for i := 1; i <= 12; i++ {
		turns = append(turns, fmt.Sprintf(`{"speaker":"A","dia_id":"D2:%d","text":"camping gear list, item %d"}`, i, i))
	}
	data := `[{"sample_id":"conv-t","conversation":{"speaker_a":"A","speaker_b":"B",
	 "session_1_date_time":"1:56 pm on 8 May, 2023",
	 "session_1":[{"speaker":"A","dia_id":"D1:1","text":"what was your favourite camping trip?"},
	              {"speaker":"B","dia_id":"D1:2","text":"the lake, we watched the Perseids"}],
	 "session_2_date_time":"10:00 am on 9 May, 2023",
	 "session_2":[` + strings.Join(turns, ",") + `]},
	 "qa":[{"question":"Which was the favourite camping trip?","answer":"the lake","evidence":["D1:2"],"category":4}]}]`
	path := filepath.Join(t.TempDir(), "locomo.json")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"bench", "ranking", "--data", path, "--dim", "64"}, &out, &errs); err != nil {
		t.Fatalf("bench ranking: %v\n%s", err, errs.String())
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		name, rest, ok := strings.Cut(line, "|")
		if ok {
			rows[strings.TrimSpace(name)] = strings.Fields(strings.ReplaceAll(rest, "|", " "))
		}
	}
	for _, v := range append(evalset.Variants, evalset.Variant{Name: "BM25"}) {
		if len(rows[v.Name]) < 7 {
			t.Errorf("no row of seven figures for %q:\n%s", v.Name, out.String())
		}
	}
	// Columns: assistant R@5 R@10 nDCG@10 violations, LoCoMo R@5 R@10 nDCG@10.
	if got := rows["defaults"]; len(got) < 7 || got[4] != "1.000" {
		t.Errorf("defaults: LoCoMo R@5 want 1.000 (the answer after its question), got %v", got)
	}
	if got := rows["- neighbours"]; len(got) < 7 || got[5] != "0.000" {
		t.Errorf("without neighbours: LoCoMo R@10 want 0.000, got %v", got)
	}
	if !strings.Contains(out.String(), "LoCoMo, defaults over BM25:") {
		t.Errorf("no ratio line:\n%s", out.String())
	}
}

// TestServedRankingIsTheMeasuredOne: with no setting given, the server
// ranks with recall.DefaultConfig, the configuration bench ranking and
// internal/evalset measure; a setting's default that drifted from it
// would serve a ranking nobody measured.
func TestServedRankingIsTheMeasuredOne(t *testing.T) {
	c := config{}
	for _, s := range settings {
		c[s.Env] = s.Default
	}
	got, err := recallConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recall.DefaultConfig) {
		t.Errorf("served with the settings' defaults:\n  %+v\nrecall.DefaultConfig:\n  %+v", got, recall.DefaultConfig)
	}
	c["SEARCH_WEIGHT_RECENCY"], c["RECALL_CONTEXT_MAX_GAP"] = "0.1", "30m"
	if got, err = recallConfig(c); err != nil || got.Weights.Recency != 0.1 || got.ContextMaxGap != 30*time.Minute {
		t.Errorf("settings given: recency %v, max gap %v, %v", got.Weights.Recency, got.ContextMaxGap, err)
	}
	c["RECALL_MAX_LIMIT"] = "0"
	if _, err := recallConfig(c); err == nil || !strings.Contains(err.Error(), "RECALL_MAX_LIMIT") {
		t.Errorf("RECALL_MAX_LIMIT=0: %v, want an error naming it", err)
	}
}
