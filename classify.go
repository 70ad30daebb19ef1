package mnemo

import (
	"math"
	"regexp"
	"strings"
)

// MemoryTypes are AutoMem's canonical memory types.
var MemoryTypes = []string{"Decision", "Pattern", "Preference", "Style", "Habit", "Insight", "Context"}

// classifierRules are AutoMem's regex classifier (reference §2.4), tried in
// order on lower-cased content; the first type with any match wins.
var classifierRules = []struct {
	typ      string
	patterns []*regexp.Regexp
}{
	{"Decision", compileAll(`decided to`, `chose (\w+) over`, `going with`, `picked`, `selected`, `will use`, `choosing`, `opted for`)},
	{"Pattern", compileAll(`usually`, `typically`, `tend to`, `pattern i noticed`, `often`, `frequently`, `regularly`, `consistently`)},
	{"Preference", compileAll(`prefer`, `like.*better`, `favorite`, `always use`, `rather than`, `instead of`, `favor`)},
	{"Style", compileAll(`wrote.*in.*style`, `communicated`, `responded to`, `formatted as`, `using.*tone`, `expressed as`)},
	{"Habit", compileAll(`every time`, `habitually`, `routine`, `daily`, `weekly`, `monthly`)},
	{"Insight", compileAll(`realized`, `discovered`, `learned that`, `understood`, `figured out`, `insight`, `revelation`)},
	{"Context", compileAll(`during`, `while working on`, `in the context of`, `when`, `at the time`, `situation was`)},
}

func compileAll(exprs ...string) []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(exprs))
	for i, e := range exprs {
		out[i] = regexp.MustCompile(e)
	}
	return out
}

var alwaysWord = regexp.MustCompile(`\balways\b`)
var useWord = regexp.MustCompile(`^\s+use\b`)

// alwaysNotUse stands in for AutoMem's `\balways\b(?!\s+use\b)`, which Go's
// regexp (no lookahead) cannot express.
func alwaysNotUse(s string) bool {
	for _, loc := range alwaysWord.FindAllStringIndex(s, -1) {
		if !useWord.MatchString(s[loc[1]:]) {
			return true
		}
	}
	return false
}

// Classify assigns a type and confidence to content with AutoMem's regex
// rules. No model is called on the write path, so content that matches no
// rule gets "Context" at confidence 0.3 (AutoMem's fallback type "Memory" is
// not one of its own canonical types).
func Classify(content string) (string, float64) {
	s := strings.ToLower(content)
	for _, rule := range classifierRules {
		matches := 0
		for _, p := range rule.patterns {
			if p.MatchString(s) {
				matches++
			}
		}
		if rule.typ == "Habit" && alwaysNotUse(s) {
			matches++
		}
		if matches == 0 {
			continue
		}
		if matches == 1 {
			return rule.typ, 0.6
		}
		return rule.typ, math.Min(0.95, math.Round((0.6+0.1*float64(matches))*100)/100)
	}
	return "Context", 0.3
}
