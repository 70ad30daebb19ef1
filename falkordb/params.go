package falkordb

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Params are a query's parameters, read in Cypher as $name. GRAPH.QUERY
// has no separate channel for them: they travel as a "CYPHER name=value
// ..." prefix of the query text, so each value is written here as a Cypher
// literal that FalkorDB's parser reads back as exactly that value.
//
// Supported values: nil, bool, string, every Go integer type (uint64
// above MaxInt64 is refused), float32 and float64 (NaN and infinities are
// refused), slices and arrays of these (a []float32 becomes a list of
// floats: write vecf32($v) in the query for a vector), and maps with
// string keys. Anything else is an error, never a panic.
type Params map[string]any

// Prefix returns the "CYPHER ... " text that binds p, or "" for none.
// Names are sorted, so the same parameters give the same text.
func (p Params) Prefix() (string, error) {
	if len(p) == 0 {
		return "", nil
	}
	names := make([]string, 0, len(p))
	for name := range p {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("CYPHER ")
	for _, name := range names {
		if !isIdentifier(name) {
			return "", fmt.Errorf("falkordb: parameter name %q: want letters, digits and _, not starting with a digit", name)
		}
		b.WriteString(name)
		b.WriteByte('=')
		if err := writeLiteral(&b, p[name], 0); err != nil {
			return "", fmt.Errorf("falkordb: parameter %s: %w", name, err)
		}
		b.WriteByte(' ')
	}
	return b.String(), nil
}

// maxDepth bounds nested lists and maps (and cycles through interfaces).
const maxDepth = 32

var errUnencodable = errors.New("cannot be written as a Cypher literal")

func writeLiteral(b *strings.Builder, v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d: %w", maxDepth, errUnencodable)
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
		return nil
	case string:
		return writeString(b, v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
		return nil
	case float64:
		return writeFloat(b, v, 64)
	case float32:
		return writeFloat(b, float64(v), 32)
	case []float32: // the common vector: no reflection
		b.WriteByte('[')
		for i, f := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeFloat(b, float64(f), 32); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		b.WriteByte(']')
		return nil
	case []string:
		b.WriteByte('[')
		for i, s := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeString(b, s); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		b.WriteByte(']')
		return nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(rv.Int(), 10))
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return fmt.Errorf("%d is above FalkorDB's 64-bit signed integers: %w", u, errUnencodable)
		}
		b.WriteString(strconv.FormatUint(u, 10))
		return nil
	case reflect.String: // named string types
		return writeString(b, rv.String())
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(rv.Bool()))
		return nil
	case reflect.Float32, reflect.Float64:
		return writeFloat(b, rv.Float(), rv.Type().Bits())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			b.WriteString("null")
			return nil
		}
		b.WriteByte('[')
		for i := range rv.Len() {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeLiteral(b, rv.Index(i).Interface(), depth+1); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		b.WriteByte(']')
		return nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("map keys of type %s: want strings: %w", rv.Type().Key(), errUnencodable)
		}
		if rv.IsNil() {
			b.WriteString("null")
			return nil
		}
		keys := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeKey(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			val := rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key()))
			if err := writeLiteral(b, val.Interface(), depth+1); err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
		}
		b.WriteByte('}')
		return nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			b.WriteString("null")
			return nil
		}
		return writeLiteral(b, rv.Elem().Interface(), depth+1)
	}
	return fmt.Errorf("type %T: %w", v, errUnencodable)
}

// writeString writes s single-quoted. FalkorDB's lexer reads \\ and \' as
// escapes and every other byte, newlines and any UTF-8 included, as
// itself; it has no \u escape, so nothing else is escaped. NUL is refused:
// the query travels as a C string and would end there.
func writeString(b *strings.Builder, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("a string holding a NUL byte: %w", errUnencodable)
	}
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return nil
}

// writeKey writes a map key, always backquoted, so a key that is a
// Cypher keyword stays a key. FalkorDB reads no escape of a backquote
// inside backquotes, so a key holding one is refused.
func writeKey(b *strings.Builder, k string) error {
	if k == "" || strings.ContainsAny(k, "`\x00") {
		return fmt.Errorf("map key %q (empty, or with a backquote or NUL): %w", k, errUnencodable)
	}
	b.WriteByte('`')
	b.WriteString(k)
	b.WriteByte('`')
	return nil
}

// writeFloat writes f so that the parser reads a float (never an integer)
// of the same value: the shortest round-trip digits, with ".0" added to a
// whole number.
func writeFloat(b *strings.Builder, f float64, bits int) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%v: %w", f, errUnencodable)
	}
	s := strconv.FormatFloat(f, 'g', -1, bits)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	b.WriteString(s)
	return nil
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
