package mnemo

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Query-string numbers are read as AutoMem reads them: a value that is not
// a number falls back to the default, and one out of range is clamped. A
// non-finite number (NaN, Inf, or beyond float64's range) is neither: it is
// refused, since it would otherwise reach the scores and the answer.

// nonFinite reports whether s spells a number that is not finite.
func nonFinite(s string) bool {
	f, err := strconv.ParseFloat(s, 64)
	return (err == nil || errors.Is(err, strconv.ErrRange)) && (math.IsNaN(f) || math.IsInf(f, 0))
}

// IntParam reads the integer query parameter name from raw: clamped to
// [lo, hi], def when absent or not an integer, EINVALID when not finite.
func IntParam(name, raw string, def, lo, hi int) (int, error) {
	s := strings.TrimSpace(raw)
	if nonFinite(s) {
		return 0, Errorf(EINVALID, "'%s' must be a finite number", name)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return def, nil
	}
	return min(max(n, lo), hi), nil
}

// UnitParam reads the query parameter name as a number clamped to [0, 1]:
// nil when absent (present false) or not a number, EINVALID when not
// finite.
func UnitParam(name, raw string, present bool) (*float64, error) {
	if !present {
		return nil, nil
	}
	s := strings.TrimSpace(raw)
	if nonFinite(s) {
		return nil, Errorf(EINVALID, "'%s' must be a finite number", name)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, nil
	}
	f = min(max(f, 0), 1)
	return &f, nil
}
