package falkordb

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Result is a query's answer. Values are nil, string, int64, float64,
// bool, []any, map[string]any or []float32 (a vecf32).
type Result struct {
	Columns []string
	Rows    [][]any
	// Stats are the server's counters by name ("Nodes created",
	// "Relationships deleted", "Query internal execution time", ...), as
	// the server wrote them.
	Stats map[string]string
}

// Stat returns a counter of Stats as an integer, 0 when absent.
func (r *Result) Stat(name string) int {
	n, _ := strconv.Atoi(r.Stats[name])
	return n
}

// The compact reply's value types (FalkorDB's ValueType in resultset).
const (
	typeUnknown = iota
	typeNull
	typeString
	typeInteger
	typeBoolean
	typeDouble
	typeArray
	typeEdge
	typeNode
	typePath
	typeMap
	typePoint
	typeVectorF32
)

// decodeResult reads a compact reply: [header, rows, stats] for a query
// that returns, [stats] for one that does not.
func decodeResult(reply any) (*Result, error) {
	parts, ok := reply.([]any)
	if !ok || len(parts) == 0 {
		return nil, fmt.Errorf("reply %T: want an array", reply)
	}
	res := &Result{}
	if err := decodeStats(res, parts[len(parts)-1]); err != nil {
		return nil, err
	}
	if len(parts) == 1 {
		return res, nil
	}
	if len(parts) != 3 {
		return nil, fmt.Errorf("reply has %d parts: want 1 or 3", len(parts))
	}
	header, ok := parts[0].([]any)
	if !ok {
		return nil, fmt.Errorf("header %T: want an array", parts[0])
	}
	for _, h := range header {
		col, ok := h.([]any)
		if !ok || len(col) != 2 {
			return nil, fmt.Errorf("header column %v: want [type, name]", h)
		}
		name, ok := col[1].(string)
		if !ok {
			return nil, fmt.Errorf("header column name %T: want a string", col[1])
		}
		res.Columns = append(res.Columns, name)
	}
	rows, ok := parts[1].([]any)
	if !ok {
		return nil, fmt.Errorf("rows %T: want an array", parts[1])
	}
	res.Rows = make([][]any, 0, len(rows))
	for i, r := range rows {
		cells, ok := r.([]any)
		if !ok || len(cells) != len(res.Columns) {
			return nil, fmt.Errorf("row %d: want %d values", i, len(res.Columns))
		}
		row := make([]any, len(cells))
		for j, c := range cells {
			v, err := decodeValue(c)
			if err != nil {
				return nil, fmt.Errorf("row %d column %s: %w", i, res.Columns[j], err)
			}
			row[j] = v
		}
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}

func decodeStats(res *Result, v any) error {
	lines, ok := v.([]any)
	if !ok {
		return fmt.Errorf("stats %T: want an array", v)
	}
	res.Stats = make(map[string]string, len(lines))
	for _, l := range lines {
		s, ok := l.(string)
		if !ok {
			return fmt.Errorf("stats line %T: want a string", l)
		}
		name, val, _ := strings.Cut(s, ": ")
		res.Stats[name] = strings.TrimSuffix(val, " milliseconds")
	}
	return nil
}

// decodeValue reads one compact [type, value] pair.
func decodeValue(v any) (any, error) {
	pair, ok := v.([]any)
	if !ok || len(pair) != 2 {
		return nil, fmt.Errorf("value %v: want [type, value]", v)
	}
	t, ok := pair[0].(int64)
	if !ok {
		return nil, fmt.Errorf("value type %T: want an integer", pair[0])
	}
	x := pair[1]
	switch t {
	case typeNull:
		return nil, nil
	case typeString:
		if s, ok := x.(string); ok {
			return s, nil
		}
	case typeInteger:
		if n, ok := x.(int64); ok {
			return n, nil
		}
	case typeBoolean:
		switch x {
		case "true", true:
			return true, nil
		case "false", false:
			return false, nil
		}
	case typeDouble:
		return toFloat(x)
	case typeArray:
		if list, ok := x.([]any); ok {
			out := make([]any, len(list))
			for i, e := range list {
				d, err := decodeValue(e)
				if err != nil {
					return nil, fmt.Errorf("element %d: %w", i, err)
				}
				out[i] = d
			}
			return out, nil
		}
	case typeMap:
		if kv, ok := x.([]any); ok && len(kv)%2 == 0 {
			out := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("map key %T: want a string", kv[i])
				}
				d, err := decodeValue(kv[i+1])
				if err != nil {
					return nil, fmt.Errorf("map key %q: %w", k, err)
				}
				out[k] = d
			}
			return out, nil
		}
	case typeVectorF32:
		if list, ok := x.([]any); ok {
			out := make([]float32, len(list))
			for i, e := range list {
				f, err := toFloat(e)
				if err != nil {
					return nil, fmt.Errorf("vector element %d: %w", i, err)
				}
				out[i] = float32(f)
			}
			return out, nil
		}
	case typeNode, typeEdge, typePath:
		return nil, fmt.Errorf("a node, edge or path is returned by label and property numbers; " +
			"return properties(n), labels(n), type(r) or id(n) instead")
	default:
		return nil, fmt.Errorf("value type %d is not decoded by this adapter", t)
	}
	return nil, fmt.Errorf("value of type %d is %T", t, x)
}

// toFloat reads a double: a string in RESP2 and in FalkorDB's compact
// scalars ("0.25", "1e-07", "inf"), a RESP3 double inside vectors.
func toFloat(x any) (float64, error) {
	switch x := x.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	case string:
		switch x {
		case "nan", "-nan":
			return math.NaN(), nil
		}
		return strconv.ParseFloat(x, 64)
	}
	return 0, fmt.Errorf("double %T", x)
}
