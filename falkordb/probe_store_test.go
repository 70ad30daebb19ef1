package falkordb_test

import (
	"context"
	"slices"
	"testing"

	"github.com/mnemohq/mnemo/falkordb"
)

// Probes of the FalkorDB 4.16.3 behaviours the store works around
// (STATUS.md). Each pins what this version does; when one fails after an
// upgrade, the workaround it names may be dropped.

func probeRows(t *testing.T, g *falkordb.Graph, cypher string, p falkordb.Params) [][]any {
	t.Helper()
	res, err := g.Query(context.Background(), cypher, p)
	if err != nil {
		t.Fatalf("%s: %v", cypher, err)
	}
	return res.Rows
}

// TestProbeVectorSetLost: SET of a vector property is skipped when the
// server deems the new vector equal to the old, and its comparison
// truncates element differences to integers: replacing [0.66, ...] with
// [-0.29, ...] changes nothing, while [2.0, ...] is written. Clearing the
// property in an earlier subquery of the same query makes the SET land
// (the store's apply and SetEmbedding do that).
func TestProbeVectorSetLost(t *testing.T) {
	_, _, g := newGraph(t, "memories_vecset")
	probeRows(t, g, `CREATE (m:Memory {id: 'a'}) SET m.embedding = vecf32([0.66, 0.9, -1.24, -0.57])`, nil)
	read := func() []float32 {
		rows := probeRows(t, g, `MATCH (m:Memory {id: 'a'}) RETURN m.embedding`, nil)
		return rows[0][0].([]float32)
	}
	old := read()
	probeRows(t, g, `MATCH (m:Memory {id: 'a'}) SET m.embedding = vecf32($v)`, falkordb.Params{"v": []float32{-0.29, 0.55, -0.67, -0.83}})
	if got := read(); !slices.Equal(got, old) {
		t.Errorf("a SET of a vector within 1 of the old one per element was written (%v): the bug is fixed, "+
			"the store's clearing subquery can go", got)
	}
	probeRows(t, g, `MATCH (m:Memory {id: 'a'}) SET m.embedding = vecf32($v)`, falkordb.Params{"v": []float32{2, 0.5, -0.6, -0.8}})
	if got := read(); !slices.Equal(got, []float32{2, 0.5, -0.6, -0.8}) {
		t.Errorf("a SET of a vector 1.34 away in its first element = %v, want it written", got)
	}
	want := []float32{1.5, 0.5, -0.6, -0.8}
	probeRows(t, g, `MATCH (c:Memory {id: 'a'}) WITH c
		CALL { MATCH (m:Memory {id: 'a'}) SET m.embedding = null }
		CALL { MATCH (m:Memory {id: 'a'}) SET m.embedding = vecf32($v) } RETURN 1`, falkordb.Params{"v": want})
	if got := read(); !slices.Equal(got, want) {
		t.Errorf("clear, then set in a later subquery = %v, want %v", got, want)
	}
}

// TestProbeStringRangeIndexUpperBound: with a range index on a string
// property, "p <= $x" returns every node, although the expression itself
// compares right; the store filters times on an integer (mnemo_ts), whose
// index answers correctly.
func TestProbeStringRangeIndexUpperBound(t *testing.T) {
	_, _, g := newGraph(t, "memories_strrange")
	probeRows(t, g, `CREATE INDEX FOR (m:Memory) ON (m.timestamp)`, nil)
	probeRows(t, g, `CREATE INDEX FOR (m:Memory) ON (m.mnemo_ts)`, nil)
	probeRows(t, g, `CREATE (:Memory {id: 'a', timestamp: '2024-03-01T12:00:00+00:00', mnemo_ts: 100}),
		(:Memory {id: 'b', timestamp: '2024-03-01T14:00:00+00:00', mnemo_ts: 200})`, nil)
	ids := func(rows [][]any) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r[0].(string))
		}
		slices.Sort(out)
		return out
	}
	got := ids(probeRows(t, g, `MATCH (m:Memory) WHERE m.timestamp <= $e RETURN m.id`, falkordb.Params{"e": "2024-03-01T13:00:00+00:00"}))
	if slices.Equal(got, []string{"a"}) {
		t.Errorf("timestamp <= $e through the string index = [a], right: the bug is fixed")
	} else if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("timestamp <= $e through the string index = %v, want the known wrong [a b]", got)
	}
	if got := ids(probeRows(t, g, `MATCH (m:Memory) RETURN m.id, m.timestamp <= $e`, falkordb.Params{"e": "2024-03-01T13:00:00+00:00"})); len(got) != 2 {
		t.Fatalf("rows = %v", got)
	}
	if got := ids(probeRows(t, g, `MATCH (m:Memory) WHERE m.mnemo_ts <= $e RETURN m.id`, falkordb.Params{"e": 150})); !slices.Equal(got, []string{"a"}) {
		t.Errorf("mnemo_ts <= 150 through the integer index = %v, want [a]", got)
	}
}
