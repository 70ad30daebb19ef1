package sqlite

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/mnemohq/mnemo"
)

// filterSQL turns f into a WHERE clause over the alias m, with its
// arguments. Tag values are lower-cased here, once for every caller.
func filterSQL(f mnemo.Filter) (string, []any) { return buildFilter(f, false) }

// probeFilterSQL is filterSQL for queries that walk an index in order and
// stop at the first match: tags are checked row by row (EXISTS) instead of
// collecting the scope first.
func probeFilterSQL(f mnemo.Filter) (string, []any) { return buildFilter(f, true) }

func buildFilter(f mnemo.Filter, probe bool) (string, []any) {
	clauses := []string{"1"}
	var args []any
	if tags := distinctLower(f.Tags); len(tags) > 0 {
		table, col := "memory_tag_prefixes", "prefix"
		if f.TagMatch == "exact" {
			table, col = "memory_tags", "tag"
		}
		// Driven from the tag index, so a scope over a large store reads the
		// scope's rows, not every row.
		list, _ := json.Marshal(tags)
		if probe {
			if f.TagMode == "all" {
				clauses = append(clauses, `(SELECT COUNT(DISTINCT t.`+col+`) FROM `+table+` t WHERE t.rid = m.rid AND t.`+col+` IN (SELECT value FROM json_each(?))) = ?`)
				args = append(args, string(list), len(tags))
			} else {
				clauses = append(clauses, `EXISTS (SELECT 1 FROM `+table+` t WHERE t.rid = m.rid AND t.`+col+` IN (SELECT value FROM json_each(?)))`)
				args = append(args, string(list))
			}
		} else if f.TagMode == "all" {
			clauses = append(clauses, `m.rid IN (SELECT t.rid FROM `+table+` t WHERE t.`+col+` IN (SELECT value FROM json_each(?)) GROUP BY t.rid HAVING COUNT(DISTINCT t.`+col+`) = ?)`)
			args = append(args, string(list), len(tags))
		} else {
			clauses = append(clauses, `m.rid IN (SELECT t.rid FROM `+table+` t WHERE t.`+col+` IN (SELECT value FROM json_each(?)))`)
			args = append(args, string(list))
		}
	}
	// exclude_tags drops a memory with any tag that starts with an excluded
	// value (AutoMem: exact membership or raw startswith).
	for _, ex := range distinctLower(f.ExcludeTags) {
		clauses = append(clauses, `NOT EXISTS (SELECT 1 FROM memory_tags t WHERE t.rid = m.rid AND substr(t.tag, 1, ?) = ?)`)
		args = append(args, utf8.RuneCountInString(ex), ex)
	}
	if f.Start != nil {
		clauses = append(clauses, `m.ts >= ?`)
		args = append(args, micros(*f.Start))
	}
	if f.End != nil {
		clauses = append(clauses, `m.ts <= ?`)
		args = append(args, micros(*f.End))
	}
	if f.IDs != nil {
		list, _ := json.Marshal(f.IDs)
		clauses = append(clauses, `m.id IN (SELECT value FROM json_each(?))`)
		args = append(args, string(list))
	}
	return strings.Join(clauses, " AND "), args
}

func distinctLower(tags []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}
