package mnemo

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		content        string
		wantType       string
		wantConfidence float64
	}{
		// One pattern of the first matching type: 0.6.
		{"We decided to migrate the database", "Decision", 0.6},
		{"I usually write tests first", "Pattern", 0.6},
		{"I prefer dark mode", "Preference", 0.6},
		{"She responded to the email", "Style", 0.6},
		{"I run the backups daily", "Habit", 0.6},
		{"I realized the cache was stale", "Insight", 0.6},
		{"This happened during the outage", "Context", 0.6},
		{"DECIDED TO ship on Friday", "Decision", 0.6},
		{"Whenever it rains", "Context", 0.6}, // patterns are substrings: "when"
		// More than one pattern: min(0.95, 0.6 + 0.1*matches).
		{"We decided to ship and opted for Go", "Decision", 0.8},
		{"my favorite editor", "Preference", 0.8}, // "favorite" and "favor"
		{"I chose vim over emacs, decided to keep it and picked tabs", "Decision", 0.9},
		{"decided to, picked, selected, opted for", "Decision", 0.95},
		{"during the outage, when the database failed, at the time", "Context", 0.9},
		// Types are tried in order; the first with any match wins.
		{"I usually prefer tea", "Pattern", 0.6},
		{"We decided to do it daily during the release", "Decision", 0.6},
		// Habit's \balways\b(?!\s+use\b).
		{"I always run the linter", "Habit", 0.6},
		{"I always use tabs", "Preference", 0.6},  // "always use" is a Preference
		{"I always used tabs", "Preference", 0.6}, // "always use" is a substring of "always used"
		{"I always, use tabs", "Habit", 0.6},      // the lookahead needs whitespace then "use"
		{"I always  use tabs", "Context", 0.3},    // neither Preference's "always use" nor Habit
		{"every time I always  use it, daily", "Habit", 0.8},
		{"every time, always, daily", "Habit", 0.9},
		{"alwaysrun", "Context", 0.3},
		// No rule matches: mnemo's offline fallback.
		{"Postgres 16 is installed", "Context", 0.3},
		{"", "Context", 0.3},
	}
	for _, tt := range tests {
		t.Run(tt.content, func(t *testing.T) {
			typ, conf := Classify(tt.content)
			if typ != tt.wantType || conf != tt.wantConfidence {
				t.Errorf("Classify(%q) = %q, %v; want %q, %v", tt.content, typ, conf, tt.wantType, tt.wantConfidence)
			}
		})
	}
}

func TestClassifyTypesAreCanonical(t *testing.T) {
	canonical := map[string]bool{}
	for _, t := range MemoryTypes {
		canonical[t] = true
	}
	if len(MemoryTypes) != 7 {
		t.Errorf("MemoryTypes = %v, want AutoMem's seven", MemoryTypes)
	}
	for _, c := range []string{"decided to", "usually", "prefer", "communicated", "weekly", "insight", "when", "nothing at all"} {
		if typ, _ := Classify(c); !canonical[typ] {
			t.Errorf("Classify(%q) = %q, not a canonical type", c, typ)
		}
	}
}
