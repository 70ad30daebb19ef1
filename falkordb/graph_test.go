package falkordb_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mnemohq/mnemo/falkordb"
	"github.com/mnemohq/mnemo/internal/falkortest"
	"github.com/redis/go-redis/v9"
)

// newGraph starts a FalkorDB and returns a client and a graph on it.
func newGraph(t *testing.T, name string) (*falkortest.Server, *falkordb.Client, *falkordb.Graph) {
	t.Helper()
	s := falkortest.Start(t)
	c := falkordb.New(s.Client())
	return s, c, c.Graph(name)
}

// hostile are strings that break a naive quoting: quotes of both kinds,
// backslashes (a trailing one escapes the closing quote), what looks like
// an escape FalkorDB does not know (\u00e9 stays six characters), control
// characters, multi-byte and invisible unicode, and attempts to end the
// literal and run Cypher of their own.
var hostile = []string{
	"",
	"plain",
	"it's",
	`say "hi"`,
	`back\slash`,
	`trailing\`,
	`\'`,
	`\\'`,
	`'\`,
	`\u00e9 is not an escape`,
	`\n is two characters`,
	"line\nbreak\r\nand\ttab\x01\x1f\x7f",
	"é ü ß 中文 😀 \u200b\u2028\u2029 \ufeff",
	"' RETURN 1 //",
	"x' }) MATCH (n) DETACH DELETE n //",
	"`; GRAPH.DELETE x",
	"$s {a: 1} [1, 2] /* */",
	strings.Repeat("'\\", 1000),
}

// TestParamsSurviveHostileStrings: every hostile string, bound as a
// parameter, comes back from the server byte for byte, both returned
// directly and stored in a node then found by equality, and none of them
// runs Cypher of its own (the nodes are all still there).
func TestParamsSurviveHostileStrings(t *testing.T) {
	_, _, g := newGraph(t, "params")
	ctx := context.Background()
	for i, s := range hostile {
		res, err := g.Query(ctx, "RETURN $s AS s", falkordb.Params{"s": s})
		if err != nil {
			t.Fatalf("hostile[%d] %q: %v", i, s, err)
		}
		if got := res.Rows[0][0]; got != s {
			t.Fatalf("hostile[%d]: sent %q, got %q", i, s, got)
		}
		if _, err := g.Query(ctx, "CREATE (:T {i: $i, s: $s, l: [$s, $s]})",
			falkordb.Params{"i": i, "s": s}); err != nil {
			t.Fatalf("hostile[%d] create: %v", i, err)
		}
	}
	for i, s := range hostile {
		res, err := g.ROQuery(ctx, "MATCH (n:T) WHERE n.s = $s RETURN n.i, n.l", falkordb.Params{"s": s})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != 1 || res.Rows[0][0] != int64(i) || !reflect.DeepEqual(res.Rows[0][1], []any{s, s}) {
			t.Fatalf("hostile[%d] %q: rows %v", i, s, res.Rows)
		}
	}
	res, err := g.ROQuery(ctx, "MATCH (n:T) RETURN count(n)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows[0][0] != int64(len(hostile)) {
		t.Fatalf("count = %v, want %d", res.Rows[0][0], len(hostile))
	}
}

// TestStringLiteralEscapes pins the lexer the parameter writer relies on:
// \\ \' \n \t \r are escapes; \u and \0 are not (falkordb-go's Go-style
// quoting would turn "\u200b" into six characters).
func TestStringLiteralEscapes(t *testing.T) {
	_, _, g := newGraph(t, "lexer")
	res, err := g.Query(context.Background(), `RETURN 'a\\b', 'it\'s', 'x\ny\tz\r', '\u00e9', '\0'`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{`a\b`, "it's", "x\ny\tz\r", `\u00e9`, `\0`}
	if !reflect.DeepEqual(res.Rows[0], want) {
		t.Fatalf("literals %#v, want %#v", res.Rows[0], want)
	}
}

type named string

// TestParamsRoundTripTypes: each Go value comes back from "RETURN $v" as
// the documented Go type and value: integers stay integers, floats stay
// floats (3.0 is not read as the integer 3), lists and maps keep their
// structure, keys that are keywords or hold spaces stay keys.
func TestParamsRoundTripTypes(t *testing.T) {
	_, _, g := newGraph(t, "types")
	cases := []struct {
		in   any
		want any
	}{
		{nil, nil},
		{true, true},
		{false, false},
		{0, int64(0)},
		{-1, int64(-1)},
		{int64(math.MaxInt64), int64(math.MaxInt64)},
		{int64(math.MinInt64), int64(math.MinInt64)},
		{uint8(200), int64(200)},
		{uint64(math.MaxInt64), int64(math.MaxInt64)},
		{0.25, 0.25},
		{3.0, 3.0},
		{-0.5, -0.5},
		{1e6, 1e6},
		{1e-7, 1e-7},
		{1e300, 1e300},
		{float32(0.5), 0.5},
		{named("typed"), "typed"},
		{[]string{"a, b", "c"}, []any{"a, b", "c"}},
		{[]float32{1, 0.5, -2}, []any{1.0, 0.5, -2.0}},
		{[]int{1, 2}, []any{int64(1), int64(2)}},
		{[]any{1, "x", nil, true, []any{2.5}}, []any{int64(1), "x", nil, true, []any{2.5}}},
		{[]string{}, []any{}},
		{map[string]any{"a": 1, "with space": "x", "match": true, "é": []string{"q"}},
			map[string]any{"a": int64(1), "with space": "x", "match": true, "é": []any{"q"}}},
		{map[string]string{}, map[string]any{}},
	}
	for _, c := range cases {
		res, err := g.Query(context.Background(), "RETURN $v", falkordb.Params{"v": c.in})
		if err != nil {
			t.Fatalf("%#v: %v", c.in, err)
		}
		if got := res.Rows[0][0]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%#v: got %#v (%T), want %#v (%T)", c.in, got, got, c.want, c.want)
		}
	}
	// A vector parameter becomes a vecf32 with vecf32($v), and returns as []float32.
	res, err := g.Query(context.Background(), "RETURN vecf32($v)", falkordb.Params{"v": []float32{0.1, -3, 7.25}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0][0]; !reflect.DeepEqual(got, []float32{0.1, -3, 7.25}) {
		t.Fatalf("vecf32 = %#v", got)
	}
}

// TestParamsRefuseWhatCannotBeWritten: values without a faithful Cypher
// literal are errors before anything is sent, never a panic or a changed
// value.
func TestParamsRefuseWhatCannotBeWritten(t *testing.T) {
	for name, p := range map[string]falkordb.Params{
		"NaN":              {"v": math.NaN()},
		"+Inf":             {"v": math.Inf(1)},
		"float32 -Inf":     {"v": []float32{1, float32(math.Inf(-1))}},
		"uint64 overflow":  {"v": uint64(math.MaxUint64)},
		"NUL":              {"v": "a\x00b"},
		"NUL in list":      {"v": []string{"ok", "\x00"}},
		"backquote key":    {"v": map[string]any{"a`b": 1}},
		"empty key":        {"v": map[string]any{"": 1}},
		"int map keys":     {"v": map[int]any{1: 1}},
		"channel":          {"v": make(chan int)},
		"struct":           {"v": struct{ A int }{1}},
		"bad name":         {"a b": 1},
		"name with digit0": {"1a": 1},
		"name with quote":  {"a'": 1},
	} {
		if prefix, err := p.Prefix(); err == nil {
			t.Errorf("%s: Prefix() = %q, want an error", name, prefix)
		}
	}
}

// TestParamsPrefixText pins the literal syntax the server was shown to
// read: single quotes with \\ and \' as the only escapes, floats with a
// decimal point or exponent, maps with backquoted keys, sorted names.
func TestParamsPrefixText(t *testing.T) {
	got, err := falkordb.Params{
		"s": `a'b\c` + "\n",
		"f": 2.0,
		"e": 1e-7,
		"i": 7,
		"l": []any{"x", false, nil},
		"m": map[string]any{"b": 1, "a b": "y"},
	}.Prefix()
	if err != nil {
		t.Fatal(err)
	}
	want := "CYPHER e=1e-07 f=2.0 i=7 l=['x',false,null] m={`a b`:'y',`b`:1} s='a\\'b\\\\c\n' "
	if got != want {
		t.Fatalf("Prefix()\n got %q\nwant %q", got, want)
	}
	if p, _ := falkordb.Params(nil).Prefix(); p != "" {
		t.Fatalf("no params: %q", p)
	}
}

// TestResultStatsAndColumns: columns are the RETURN aliases, and the
// write counters are read from the reply.
func TestResultStatsAndColumns(t *testing.T) {
	_, _, g := newGraph(t, "stats")
	ctx := context.Background()
	res, err := g.Query(ctx, "CREATE (a:A {x: 1})-[:R]->(b:A) RETURN a.x AS x, id(b) AS b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Columns, []string{"x", "b"}) || len(res.Rows) != 1 || res.Rows[0][0] != int64(1) {
		t.Fatalf("columns %v rows %v", res.Columns, res.Rows)
	}
	if res.Stat("Nodes created") != 2 || res.Stat("Relationships created") != 1 || res.Stat("Properties set") != 1 {
		t.Fatalf("stats %v", res.Stats)
	}
	res, err = g.Query(ctx, "MATCH (a:A) DETACH DELETE a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Columns != nil || res.Rows != nil || res.Stat("Nodes deleted") != 2 || res.Stat("Relationships deleted") != 1 {
		t.Fatalf("delete: columns %v rows %v stats %v", res.Columns, res.Rows, res.Stats)
	}
	// A whole node is refused with the advice to project it.
	if _, err := g.Query(ctx, "CREATE (n:A) RETURN n", nil); err == nil || !strings.Contains(err.Error(), "properties(n)") {
		t.Fatalf("returning a node: %v", err)
	}
}

// TestQueryErrorsAreTyped: a bad query and a write sent read-only are
// QueryErrors (the same query fails the same way again), not
// ErrUnavailable.
func TestQueryErrorsAreTyped(t *testing.T) {
	_, _, g := newGraph(t, "errors")
	ctx := context.Background()
	for _, q := range []struct {
		ro     bool
		cypher string
	}{
		{false, "MATCH (n RETURN n"},
		{false, "RETURN $missing"},
		{true, "CREATE (:X)"},
	} {
		var err error
		if q.ro {
			_, err = g.ROQuery(ctx, q.cypher, nil)
		} else {
			_, err = g.Query(ctx, q.cypher, nil)
		}
		var qe *falkordb.QueryError
		if !errors.As(err, &qe) || errors.Is(err, falkordb.ErrUnavailable) || qe.Message == "" {
			t.Errorf("%q: err %v (%T), want a *QueryError", q.cypher, err, err)
		}
	}
}

// TestConnectionFailureIsUnavailable: a server that is not there, or that
// dies, gives ErrUnavailable (the later 503); the client recovers by itself
// when the server is back; an expired context is the context's error, not
// ErrUnavailable.
func TestConnectionFailureIsUnavailable(t *testing.T) {
	ctx := context.Background()

	// Nobody listens: a closed loopback port.
	s0 := falkortest.Start(t)
	addr := s0.Addr
	s0.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	if _, err := falkordb.New(rdb).Graph("g").Query(ctx, "RETURN 1", nil); !errors.Is(err, falkordb.ErrUnavailable) {
		t.Fatalf("no server: err %v, want ErrUnavailable", err)
	}

	s, _, g := newGraph(t, "g")
	if _, err := g.Query(ctx, "CREATE (:N {v: 1})", nil); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if _, err := g.ROQuery(ctx, "MATCH (n:N) RETURN n.v", nil); !errors.Is(err, falkordb.ErrUnavailable) {
		t.Fatalf("server killed: err %v, want ErrUnavailable", err)
	}
	if err := g.Delete(ctx); !errors.Is(err, falkordb.ErrUnavailable) {
		t.Fatalf("delete with server killed: err %v, want ErrUnavailable", err)
	}
	s.Restart()
	res, err := g.ROQuery(ctx, "MATCH (n:N) RETURN n.v", nil)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0] != int64(1) {
		t.Fatalf("after kill and restart: rows %v, want the acknowledged node", res.Rows)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.Query(cctx, "RETURN 1", nil); !errors.Is(err, context.Canceled) || errors.Is(err, falkordb.ErrUnavailable) {
		t.Fatalf("canceled context: err %v, want context.Canceled only", err)
	}
}

// TestVerboseRepliesLoseListStructure pins why the adapter asks for
// compact replies: without --compact, FalkorDB prints a list as one string,
// and a tag holding ", " cannot be told from two tags.
func TestVerboseRepliesLoseListStructure(t *testing.T) {
	s := falkortest.Start(t)
	reply, err := s.Client().Do(context.Background(), "GRAPH.QUERY", "v", "RETURN ['a, b', 'c'], ['a', 'b', 'c'], 1.5, true").Result()
	if err != nil {
		t.Fatal(err)
	}
	row := reply.([]any)[1].([]any)[0].([]any)
	if row[0] != "[a, b, c]" || row[1] != "[a, b, c]" || row[2] != "1.5" || row[3] != "true" {
		t.Fatalf("verbose row %#v: FalkorDB changed its verbose replies; revisit the adapter's choice", row)
	}
}

// TestDeleteGraph: Delete removes the graph and only it, and deleting a
// graph that does not exist is no error.
func TestDeleteGraph(t *testing.T) {
	_, c, g := newGraph(t, "memories_a")
	ctx := context.Background()
	other := c.Graph("memories_b")
	for _, gr := range []*falkordb.Graph{g, other} {
		if _, err := gr.Query(ctx, "CREATE (:Memory {id: 'x'})", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Delete(ctx); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if n, err := c.Redis().Exists(ctx, "memories_a", "memories_b").Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS = %d, %v; want only memories_b", n, err)
	}
	var qe *falkordb.QueryError
	if _, err := g.ROQuery(ctx, "MATCH (n) RETURN count(n)", nil); !errors.As(err, &qe) || !strings.Contains(qe.Message, "empty key") {
		t.Fatalf("read of the deleted graph: %v, want the empty-key QueryError", err)
	}
}
