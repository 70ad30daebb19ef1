package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/redis/go-redis/v9"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The isolation suite builds two tenants with deliberately overlapping data
// (the same tags, identical and near-identical content, the same relation
// shapes, importance 0.95 "critical" memories in both) and then points every
// tenant route of one tenant's key at the other tenant's ids, tags and
// relations. Nothing of the victim may be read, changed or counted.

// isoMemSpec is one fixture memory.
type isoMemSpec struct {
	key        string
	content    string
	tags       []string
	importance float64
	metadata   map[string]any
}

// isoRelSpec is one fixture relation, between memory keys.
type isoRelSpec struct {
	from, to, typ string
	strength      float64
	props         map[string]any
}

// isoTenant is one seeded tenant: its credential, its memories by key
// and its relations.
type isoTenant struct {
	ID, Token string
	// Unique is a string that appears in this tenant's content only.
	Unique string
	specs  []isoMemSpec
	rels   []isoRelSpec
	ids    map[string]string // memory key -> memory id
	keyOf  map[string]string // memory id -> memory key
}

// isoFixtureSpecs is the data every tenant gets. Some content is identical in
// every tenant, some differs only by the team name, and extras (with a
// different count per tenant) make each tenant's counts unique.
func isoFixtureSpecs(label, unique string, extras int) ([]isoMemSpec, []isoRelSpec) {
	specs := []isoMemSpec{
		{key: "lesson", content: "Deploy checklist for project x: run the database migrations before every release.",
			tags: []string{"project:x", "critical", "lesson"}, importance: 0.95},
		{key: "pg", content: "Project x storage decision: use PostgreSQL, said the " + label + " team.",
			tags: []string{"project:x", "preference"}, importance: 0.7, metadata: map[string]any{"keywords": []any{"postgresql"}}},
		{key: "mysql", content: "Project x storage: MySQL was tried first by the " + label + " team.",
			tags: []string{"project:x"}, importance: 0.5},
		{key: "system", content: "System rule: always answer questions about project x in English.",
			tags: []string{"system"}, importance: 0.8},
		{key: "old", content: "Project x release day is Monday.",
			tags: []string{"project:x", "lesson"}, importance: 0.6},
		{key: "new", content: "Project x release day moved to Friday, decided by the " + label + " team.",
			tags: []string{"project:x", "lesson"}, importance: 0.6},
		{key: "unique", content: "Project x secret codename is " + unique + ".",
			tags: []string{"project:x", "critical"}, importance: 0.95, metadata: map[string]any{"keywords": []any{"kw-" + label + "-only"}}},
	}
	rels := []isoRelSpec{
		{from: "lesson", to: "pg", typ: "RELATES_TO", strength: 0.8},
		{from: "pg", to: "mysql", typ: "PREFERS_OVER", strength: 0.9, props: map[string]any{"context": "storage", "reason": label + " benchmarks"}},
		{from: "old", to: "new", typ: "INVALIDATED_BY", strength: 1, props: map[string]any{"reason": "moved"}},
		{from: "unique", to: "lesson", typ: "RELATES_TO", strength: 0.6},
	}
	for i := 1; i <= extras; i++ {
		key := fmt.Sprintf("extra%d", i)
		specs = append(specs, isoMemSpec{key: key, content: fmt.Sprintf("Critical on-call note %d for project x.", i),
			tags: []string{"project:x", "critical"}, importance: 0.95})
		rels = append(rels, isoRelSpec{from: key, to: "unique", typ: "RELATES_TO", strength: 0.5})
	}
	return specs, rels
}

// isoSeedTenant creates tenant id and stores its fixture through the API.
func isoSeedTenant(t *testing.T, s *Server, id string, extras int) *isoTenant {
	t.Helper()
	f := &isoTenant{ID: id, Token: id + "-token-0123456789", Unique: "UNIQUE_" + strings.ToUpper(id) + "_7F3A9C",
		ids: map[string]string{}, keyOf: map[string]string{}}
	f.specs, f.rels = isoFixtureSpecs(id, f.Unique, extras)
	s.CreateTenant(id, f.Token)
	for _, m := range f.specs {
		body := map[string]any{"content": m.content, "tags": m.tags, "importance": m.importance}
		if m.metadata != nil {
			body["metadata"] = m.metadata
		}
		mid := s.Store(f.Token, body)
		f.ids[m.key], f.keyOf[mid] = mid, m.key
	}
	for _, r := range f.rels {
		body := map[string]any{"memory1_id": f.ids[r.from], "memory2_id": f.ids[r.to], "type": r.typ, "strength": r.strength}
		for k, v := range r.props {
			body[k] = v
		}
		s.As(f.Token, "POST", "/associate", body).Expect(t, 201)
	}
	return f
}

func (f *isoTenant) has(id string) bool { _, ok := f.keyOf[strings.ToLower(id)]; return ok }

func (f *isoTenant) spec(key string) isoMemSpec {
	for _, m := range f.specs {
		if m.key == key {
			return m
		}
	}
	panic("no fixture memory " + key)
}

// keys returns every memory key, in store order.
func (f *isoTenant) keys() []string {
	out := make([]string, len(f.specs))
	for i, m := range f.specs {
		out[i] = m.key
	}
	return out
}

// tagged returns the keys of memories with any of tags (exact, case-insensitive).
func (f *isoTenant) tagged(tags ...string) []string {
	var out []string
	for _, m := range f.specs {
	match:
		for _, have := range m.tags {
			for _, want := range tags {
				if strings.EqualFold(have, want) {
					out = append(out, m.key)
					break match
				}
			}
		}
	}
	return out
}

// idSet maps keys to the set of their memory ids.
func (f *isoTenant) idSet(keys ...string) map[string]bool {
	out := map[string]bool{}
	for _, k := range keys {
		id, ok := f.ids[k]
		if !ok {
			panic("no fixture memory " + k)
		}
		out[id] = true
	}
	return out
}

func (f *isoTenant) allIDs() []string {
	var out []string
	for _, k := range f.keys() {
		out = append(out, f.ids[k])
	}
	return out
}

func isoWithout(keys []string, drop ...string) []string {
	var out []string
	for _, k := range keys {
		if !isoContains(drop, k) {
			out = append(out, k)
		}
	}
	return out
}

func isoContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var isoUUIDPattern = regexp.MustCompile(`(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}`)

// isoCollectUUIDs gathers every UUID that occurs anywhere in v: in any string
// value or object key, at any depth, in the canonical hyphenated form.
func isoCollectUUIDs(v any, out map[string]bool) {
	switch x := v.(type) {
	case string:
		for _, m := range isoUUIDPattern.FindAllString(x, -1) {
			m = strings.ToLower(strings.ReplaceAll(m, "-", ""))
			out[m[0:8]+"-"+m[8:12]+"-"+m[12:16]+"-"+m[16:20]+"-"+m[20:32]] = true
		}
	case []any:
		for _, e := range x {
			isoCollectUUIDs(e, out)
		}
	case map[string]any:
		for k, e := range x {
			isoCollectUUIDs(k, out)
			isoCollectUUIDs(e, out)
		}
	}
}

// isoProbe is what one attacker request is checked against.
type isoProbe struct {
	desc     string
	attacker *isoTenant
	victim   *isoTenant
	// allowed are ids the body may contain besides the attacker's own.
	allowed map[string]bool
	// echo are top-level keys that only repeat the request (the query
	// text, the requested id); they are left out of the checks.
	echo []string
}

// noLeak fails unless every id in the body belongs to the attacker and the
// body carries no trace of the victim: none of its ids, its unique content,
// its metadata keywords or its team/tenant name.
func (p isoProbe) noLeak(t *testing.T, r *Response) {
	t.Helper()
	body := map[string]any{}
	for k, v := range r.Body {
		if !isoContains(p.echo, k) {
			body[k] = v
		}
	}
	found := map[string]bool{}
	isoCollectUUIDs(body, found)
	for id := range found {
		switch {
		case p.victim.has(id):
			t.Errorf("LEAK %s: response holds %s's memory %s (%q): %s", p.desc, p.victim.ID, id, p.victim.keyOf[id], r.Raw)
		case !p.attacker.has(id) && !p.allowed[id]:
			t.Errorf("%s: response holds id %s that is not %s's: %s", p.desc, id, p.attacker.ID, r.Raw)
		}
	}
	filtered, _ := json.Marshal(body)
	if r.Body == nil {
		filtered = r.Raw
	}
	for _, marker := range []string{p.victim.Unique, "kw-" + p.victim.ID + "-only", p.victim.ID} {
		if bytes.Contains(filtered, []byte(marker)) {
			t.Errorf("LEAK %s: response contains %s's marker %q: %s", p.desc, p.victim.ID, marker, r.Raw)
		}
	}
}

// isoWantStatus reports a wrong status without stopping the test, so that one
// run lists every failing probe.
func isoWantStatus(t *testing.T, r *Response, status int, desc string) bool {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %d, want %d: %s", desc, r.Status, status, r.Raw)
		return false
	}
	return true
}

// isoWantError checks status and AutoMem's error envelope with an exact message.
func isoWantError(t *testing.T, r *Response, status int, message, desc string) {
	t.Helper()
	if !isoWantStatus(t, r, status, desc) {
		return
	}
	if r.Body["status"] != "error" || r.Body["code"] != float64(status) || r.Body["message"] != message {
		t.Errorf("%s: want error envelope %d %q, got %s", desc, status, message, r.Raw)
	}
}

// isoSameIDs compares a list of ids with a set exactly (no duplicates allowed).
func isoSameIDs(t *testing.T, desc string, got []string, want map[string]bool, owner *isoTenant) {
	t.Helper()
	gotSet := map[string]bool{}
	for _, id := range got {
		if gotSet[id] {
			t.Errorf("%s: id %s listed twice: %v", desc, id, got)
		}
		gotSet[id] = true
	}
	if !reflect.DeepEqual(gotSet, want) {
		t.Errorf("%s: got %v, want %v", desc, owner.names(got), owner.names(isoSetList(want)))
	}
}

func isoSetList(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// names turns ids into fixture keys for readable failure messages.
func (f *isoTenant) names(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if k, ok := f.keyOf[id]; ok {
			out[i] = k
		} else {
			out[i] = "?" + id
		}
	}
	return out
}

func isoListIDs(t *testing.T, v any, field string) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Errorf("not a list: %v", v)
		return nil
	}
	out := []string{}
	for _, it := range list {
		obj, _ := it.(map[string]any)
		id, _ := obj[field].(string)
		out = append(out, id)
	}
	return out
}

func isoResultIDs(t *testing.T, r *Response) []string {
	t.Helper()
	if _, ok := r.Body["results"].([]any); !ok {
		t.Errorf("\"results\" is not a JSON list (AutoMem always sends a list, [] when empty): %s", r.Raw)
		return nil
	}
	return ids(r)
}

// isoWithQueryKey appends ?api_key= (or &api_key=) to path.
func isoWithQueryKey(path, token string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "api_key=" + url.QueryEscape(token)
}

// isoCredentialForms sends the same request with the token in each of the
// three places AutoMem reads it from.
func isoCredentialForms(s *Server, token, method, path string, body any) map[string]*Response {
	return map[string]*Response{
		"Authorization: Bearer": s.Do(method, path, body, "Authorization", "Bearer "+token),
		"X-API-Key":             s.Do(method, path, body, "X-API-Key", token),
		"?api_key=":             s.Do(method, isoWithQueryKey(path, token), body),
	}
}

// isoStatsOf reads /admin/tenants/{id}/stats.
func isoStatsOf(t *testing.T, s *Server, id string) map[string]any {
	t.Helper()
	r := s.Admin("GET", "/admin/tenants/"+id+"/stats", nil)
	if !isoWantStatus(t, r, 200, "stats of "+id) {
		return nil
	}
	return r.Body
}

// isoCheckStats asserts a tenant's counters exactly.
func isoCheckStats(t *testing.T, s *Server, id string, memories, relations int, desc string) map[string]any {
	t.Helper()
	st := isoStatsOf(t, s, id)
	if st == nil {
		return nil
	}
	want := map[string]float64{"memory_count": float64(memories), "graph_nodes": float64(memories),
		"graph_relationships": float64(relations), "vector_points": float64(memories)}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("%s: stats of %s: %s = %v, want %v (%v)", desc, id, k, st[k], v, st)
		}
	}
	if st["tenant_id"] != id {
		t.Errorf("%s: stats tenant_id %v, want %s", desc, st["tenant_id"], id)
	}
	// FalkorDB's figure for an empty graph is 0; a file never is.
	if b, _ := st["storage_bytes"].(float64); b <= 0 && (!onFalkorDB() || memories > 0) {
		t.Errorf("%s: stats of %s: storage_bytes %v", desc, id, st["storage_bytes"])
	}
	return st
}

// snapshot is everything a tenant can see of itself; it must not move when
// another tenant acts.
type isoSnapshot struct {
	stats    map[string]any
	memories map[string]map[string]any // without last_accessed, which reads bump
	related  map[string][]string
	recall   map[string][]string
	byTag    map[string][]string
	startup  map[string]any
	analyze  map[string]any // without elapsed_ms
}

var isoSnapshotRecalls = [][]string{
	{"sort", "time_desc", "state_mode", "history", "limit", "100"},
	{"sort", "time_desc", "limit", "100"},
	{"query", "project x storage PostgreSQL", "limit", "100"},
	{"query", "release day", "limit", "100", "expand_relations", "true"},
	{"tags", "critical", "tag_match", "exact", "sort", "time_asc", "limit", "100"},
}

var isoSharedTags = []string{"project:x", "critical", "lesson", "system", "preference"}

func isoTakeSnapshot(t *testing.T, s *Server, f *isoTenant) *isoSnapshot {
	t.Helper()
	sn := &isoSnapshot{stats: isoStatsOf(t, s, f.ID), memories: map[string]map[string]any{}, related: map[string][]string{},
		recall: map[string][]string{}, byTag: map[string][]string{}}
	for _, id := range f.allIDs() {
		r := s.As(f.Token, "GET", "/memory/"+id, nil)
		if !isoWantStatus(t, r, 200, fmt.Sprintf("%s reads its own memory %s", f.ID, f.keyOf[id])) {
			continue
		}
		m := r.Body["memory"].(map[string]any)
		delete(m, "last_accessed")
		sn.memories[id] = m
		r = s.As(f.Token, "GET", "/memories/"+id+"/related"+Q("max_depth", "3", "limit", "200"), nil)
		if isoWantStatus(t, r, 200, f.ID+" related") {
			rel := isoListIDs(t, r.Body["related_memories"], "id")
			sort.Strings(rel)
			sn.related[id] = rel
		}
	}
	for _, params := range isoSnapshotRecalls {
		r := s.As(f.Token, "GET", "/recall"+Q(params...), nil)
		if isoWantStatus(t, r, 200, f.ID+" recall") {
			sn.recall[Q(params...)] = isoResultIDs(t, r)
		}
	}
	for _, tag := range isoSharedTags {
		r := s.As(f.Token, "GET", "/memory/by-tag"+Q("tags", tag, "limit", "200"), nil)
		if isoWantStatus(t, r, 200, f.ID+" by-tag") {
			sn.byTag[tag] = isoListIDs(t, r.Body["memories"], "id")
		}
	}
	if r := s.As(f.Token, "GET", "/startup-recall", nil); isoWantStatus(t, r, 200, f.ID+" startup-recall") {
		sn.startup = r.Body
	}
	if r := s.As(f.Token, "GET", "/analyze", nil); isoWantStatus(t, r, 200, f.ID+" analyze") {
		delete(r.Body, "elapsed_ms")
		sn.analyze = r.Body
	}
	return sn
}

// same fails for every part of the tenant's view that changed.
func (sn *isoSnapshot) same(t *testing.T, now *isoSnapshot, f *isoTenant, desc string) {
	t.Helper()
	if !reflect.DeepEqual(sn.stats, now.stats) {
		t.Errorf("%s: stats of %s changed:\nbefore %v\nafter  %v", desc, f.ID, sn.stats, now.stats)
	}
	for id, m := range sn.memories {
		if !reflect.DeepEqual(m, now.memories[id]) {
			t.Errorf("%s: memory %s (%s) of %s changed:\nbefore %v\nafter  %v", desc, id, f.keyOf[id], f.ID, m, now.memories[id])
		}
	}
	for id, rel := range sn.related {
		if !reflect.DeepEqual(rel, now.related[id]) {
			t.Errorf("%s: related of %s (%s) in %s changed: before %v after %v", desc, id, f.keyOf[id], f.ID, f.names(rel), f.names(now.related[id]))
		}
	}
	for q, list := range sn.recall {
		if !reflect.DeepEqual(list, now.recall[q]) {
			t.Errorf("%s: %s's /recall%s changed: before %v after %v", desc, f.ID, q, f.names(list), f.names(now.recall[q]))
		}
	}
	for tag, list := range sn.byTag {
		if !reflect.DeepEqual(list, now.byTag[tag]) {
			t.Errorf("%s: %s's by-tag %s changed: before %v after %v", desc, f.ID, tag, f.names(list), f.names(now.byTag[tag]))
		}
	}
	if !reflect.DeepEqual(sn.startup, now.startup) {
		t.Errorf("%s: %s's /startup-recall changed:\nbefore %v\nafter  %v", desc, f.ID, sn.startup, now.startup)
	}
	if !reflect.DeepEqual(sn.analyze, now.analyze) {
		t.Errorf("%s: %s's /analyze changed:\nbefore %v\nafter  %v", desc, f.ID, sn.analyze, now.analyze)
	}
}

// isoCheckOwnView asserts what a tenant sees of itself against its fixture:
// exact counts everywhere, so that anything of another tenant that is read
// or counted shows.
func isoCheckOwnView(t *testing.T, s *Server, f, other *isoTenant, desc string) {
	t.Helper()
	p := isoProbe{desc: desc, attacker: f, victim: other}
	n := len(f.specs)

	// /health with the key: this tenant's counts only.
	r := s.As(f.Token, "GET", "/health", nil)
	if isoWantStatus(t, r, 200, desc+": /health") {
		if r.Body["tenant_id"] != f.ID || r.Body["memory_count"] != float64(n) || r.Body["vector_count"] != float64(n) ||
			r.Body["graph"] != "memories_"+f.ID {
			t.Errorf("%s: /health with %s's key: tenant_id %v memory_count %v vector_count %v graph %v, want %s %d %d memories_%s",
				desc, f.ID, r.Body["tenant_id"], r.Body["memory_count"], r.Body["vector_count"], r.Body["graph"], f.ID, n, n, f.ID)
		}
		p.noLeak(t, r)
	}

	// by-tag: each shared tag, and several at once.
	for _, tags := range [][]string{{"project:x"}, {"critical"}, {"lesson"}, {"system"}, {"preference"}, {"CRITICAL"}, {"critical", "system"}} {
		params := []string{"limit", "200"}
		for _, tg := range tags {
			params = append(params, "tags", tg)
		}
		r := s.As(f.Token, "GET", "/memory/by-tag"+Q(params...), nil)
		d := fmt.Sprintf("%s: GET /memory/by-tag%s", desc, Q(params...))
		if !isoWantStatus(t, r, 200, d) {
			continue
		}
		want := f.idSet(f.tagged(tags...)...)
		isoSameIDs(t, d, isoListIDs(t, r.Body["memories"], "id"), want, f)
		if r.Body["count"] != float64(len(want)) || r.Body["has_more"] != false {
			t.Errorf("%s: count %v has_more %v, want %d false", d, r.Body["count"], r.Body["has_more"], len(want))
		}
		p.noLeak(t, r)
	}

	// startup-recall: lessons and rules of this tenant only.
	r = s.As(f.Token, "GET", "/startup-recall", nil)
	if isoWantStatus(t, r, 200, desc+": /startup-recall") {
		lessons := f.tagged("critical", "lesson", "ai-assistant")
		isoSameIDs(t, desc+": startup-recall critical_lessons", isoListIDs(t, r.Body["critical_lessons"], "id"), f.idSet(lessons...), f)
		isoSameIDs(t, desc+": startup-recall system_rules", isoListIDs(t, r.Body["system_rules"], "id"), f.idSet(f.tagged("system", "memory-recall")...), f)
		if r.Body["lesson_count"] != float64(len(lessons)) || r.Body["has_critical"] != true {
			t.Errorf("%s: startup-recall lesson_count %v has_critical %v, want %d true", desc, r.Body["lesson_count"], r.Body["has_critical"], len(lessons))
		}
		want := fmt.Sprintf("Recalled %d lesson(s) and %d system rule(s)", len(lessons), len(f.tagged("system", "memory-recall")))
		if r.Body["summary"] != want {
			t.Errorf("%s: startup-recall summary %v, want %q", desc, r.Body["summary"], want)
		}
		p.noLeak(t, r)
	}

	// analyze: sample, distributions, preferences and entities of this tenant only.
	r = s.As(f.Token, "GET", "/analyze", nil)
	if isoWantStatus(t, r, 200, desc+": /analyze") {
		an, _ := r.Body["analytics"].(map[string]any)
		if an["sample_size"] != float64(n) {
			t.Errorf("%s: analyze sample_size %v, want %d", desc, an["sample_size"], n)
		}
		sum := func(v any, field string) float64 {
			total := 0.0
			m, _ := v.(map[string]any)
			for _, x := range m {
				if field == "" {
					total += x.(float64)
				} else {
					total += x.(map[string]any)[field].(float64)
				}
			}
			return total
		}
		if got := sum(an["memory_types"], "count"); got != float64(n) {
			t.Errorf("%s: analyze memory_types count %v, want %d: %v", desc, got, n, an["memory_types"])
		}
		if got := sum(an["temporal_insights"], "count"); got != float64(n) {
			t.Errorf("%s: analyze temporal_insights count %v, want %d: %v", desc, got, n, an["temporal_insights"])
		}
		if got := sum(an["confidence_distribution"], ""); got != float64(n) {
			t.Errorf("%s: analyze confidence_distribution total %v, want %d: %v", desc, got, n, an["confidence_distribution"])
		}
		wantEntities := map[string]any{}
		for _, m := range f.specs {
			if kws, ok := m.metadata["keywords"].([]any); ok {
				for _, kw := range kws {
					k := strings.ToLower(kw.(string))
					c, _ := wantEntities[k].(float64)
					wantEntities[k] = c + 1
				}
			}
		}
		if !reflect.DeepEqual(an["entity_frequency"], wantEntities) {
			t.Errorf("%s: analyze entity_frequency %v, want %v", desc, an["entity_frequency"], wantEntities)
		}
		var wantPrefs []any
		for _, rel := range f.rels {
			if rel.typ == "PREFERS_OVER" {
				wantPrefs = append(wantPrefs, map[string]any{"prefers": f.spec(rel.from).content, "over": f.spec(rel.to).content,
					"context": rel.props["context"], "strength": rel.strength})
			}
		}
		if !reflect.DeepEqual(an["preferences"], wantPrefs) {
			t.Errorf("%s: analyze preferences %v, want %v", desc, an["preferences"], wantPrefs)
		}
		p.noLeak(t, r)
	}

	// related from this tenant's own memories: its own neighbours only.
	wantRelated := map[string][]string{"lesson": {"pg", "unique"}, "old": {"new"}, "pg": {"lesson", "mysql"}}
	for key, want := range wantRelated {
		r := s.As(f.Token, "GET", "/memories/"+f.ids[key]+"/related", nil)
		d := fmt.Sprintf("%s: %s's related of its %s", desc, f.ID, key)
		if isoWantStatus(t, r, 200, d) {
			isoSameIDs(t, d, isoListIDs(t, r.Body["related_memories"], "id"), f.idSet(want...), f)
			p.noLeak(t, r)
		}
	}
	r = s.As(f.Token, "GET", "/memories/"+f.ids["lesson"]+"/related"+Q("max_depth", "3", "limit", "200"), nil)
	if isoWantStatus(t, r, 200, desc+": related depth 3") {
		isoSameIDs(t, desc+": related of lesson at depth 3", isoListIDs(t, r.Body["related_memories"], "id"),
			f.idSet(isoWithout(f.keys(), "lesson", "system", "old", "new")...), f)
		p.noLeak(t, r)
	}
}

// isoRecallProbe is one /recall request and, when the result is
// deterministic, the exact set of keys it must return.
type isoRecallProbe struct {
	params   []string
	want     []string // exact keys; nil: only "attacker's, not empty"
	nonEmpty bool
}

// isoRecallMatrix is every /recall variant run with the attacker's key.
func isoRecallMatrix(attacker, victim *isoTenant) []isoRecallProbe {
	a := attacker
	victimIDs := strings.Join(victim.allIDs(), ",")
	critical := a.tagged("critical")
	project := a.tagged("project:x")
	return []isoRecallProbe{
		// Shared query words, identical and similar content.
		{params: []string{"query", "project x storage PostgreSQL"}, nonEmpty: true},
		{params: []string{"query", "Deploy checklist for project x: run the database migrations before every release."}, nonEmpty: true},
		{params: []string{"query", "release day"}, nonEmpty: true},
		{params: []string{"query", "critical on-call note"}, nonEmpty: true},
		{params: []string{"query", "System rule: always answer questions about project x in English."}, nonEmpty: true},
		{params: []string{"query", "secret codename " + victim.Unique}},
		{params: []string{"query", victim.ids["lesson"]}},
		{params: []string{"queries", "storage,release day,checklist"}, nonEmpty: true},
		{params: []string{"query", "project x", "exclude_tags", "system"}, nonEmpty: true},
		{params: []string{"query", "project x", "time_query", "today"}},
		// Tag scopes: the shared tags, modes and match kinds.
		{params: []string{"query", "project", "tags", "project:x"}, nonEmpty: true},
		{params: []string{"query", "release", "tags", "lesson", "tag_match", "exact"}, nonEmpty: true},
		{params: []string{"tags", "critical", "tag_match", "exact", "sort", "time_desc"}, want: critical},
		{params: []string{"tags", "critical", "tags", "lesson", "tag_mode", "all", "tag_match", "exact", "sort", "time_desc"}, want: []string{"lesson"}},
		{params: []string{"tags", "project", "sort", "time_desc", "state_mode", "history"}, want: project},
		{params: []string{"tags", "PROJECT:X", "tag_match", "exact", "sort", "time_desc", "state_mode", "history"}, want: project},
		{params: []string{"tags", "critical", "tags", "system", "tag_mode", "any", "tag_match", "prefix", "sort", "time_desc"},
			want: append(append([]string{}, critical...), "system")},
		{params: []string{"query", "critical", "tags", "critical", "tag_mode", "all"}, nonEmpty: true},
		// Relation expansion: seeds are the critical memories, the only new
		// neighbour is pg; a leak through the graph would add the victim's.
		{params: []string{"tags", "critical", "tag_match", "exact", "sort", "time_desc", "state_mode", "history", "expand_relations", "true",
			"relation_limit", "200", "expansion_limit", "500"}, want: append(append([]string{}, critical...), "pg")},
		{params: []string{"query", "release day Monday", "expand_relations", "true"}, nonEmpty: true},
		{params: []string{"query", "project x", "expand_relations", "true", "relation_limit", "200", "expansion_limit", "500", "state_mode", "history"}, nonEmpty: true},
		// State: history shows the superseded memory, current hides it.
		{params: []string{"query", "release day", "state_mode", "history"}, nonEmpty: true},
		{params: []string{"sort", "time_desc", "state_mode", "history"}, want: a.keys()},
		{params: []string{"sort", "time_desc"}, want: isoWithout(a.keys(), "old")},
		{params: []string{"tags", "lesson", "tag_match", "exact", "sort", "time_desc", "state_debug", "true"}, want: []string{"lesson", "new"}},
		// Oldest two lesson memories are lesson and old: old is replaced by
		// new through INVALIDATED_BY (a state_replacement row).
		{params: []string{"tags", "lesson", "tag_match", "exact", "sort", "time_asc", "limit", "2", "state_debug", "true"}, want: []string{"lesson", "new"}},
		{params: []string{"order_by", "updated_desc"}, want: isoWithout(a.keys(), "old")},
		// Empty query: trending.
		{params: []string{}, nonEmpty: true},
		{params: []string{"query", ""}, nonEmpty: true},
		// A caller-supplied query vector (the hash embedder's 768 dimensions).
		{params: []string{"embedding", strings.TrimSuffix(strings.Repeat("0.01,", 768), ",")}, nonEmpty: true},
		{params: []string{"embedding", strings.TrimSuffix(strings.Repeat("0.01,", 768), ","), "tags", "critical", "expand_relations", "true"}, nonEmpty: true},
		// The victim's ids as priority ids.
		{params: []string{"query", "project x", "priority_ids", victimIDs, "context_tags", "critical"}, nonEmpty: true},
		{params: []string{"priority_ids", victim.ids["unique"]}, nonEmpty: true},
	}
}

// attack runs the whole matrix: attacker's key against victim's data.
func isoAttack(t *testing.T, s *Server, attacker, victim *isoTenant) {
	a, v := attacker, victim
	p := func(desc string) isoProbe { return isoProbe{desc: desc, attacker: a, victim: v} }
	aRels := len(a.rels)

	// Both tenants count exactly their own data before anything happens.
	isoCheckStats(t, s, a.ID, len(a.specs), len(a.rels), "before")
	isoCheckStats(t, s, v.ID, len(v.specs), len(v.rels), "before")
	r := s.Admin("GET", "/admin/tenants?include_stats=true", nil).Expect(t, 200)
	for _, it := range r.Body["tenants"].([]any) {
		ten := it.(map[string]any)
		st := ten["stats"].(map[string]any)
		for _, f := range []*isoTenant{a, v} {
			if ten["tenant_id"] == f.ID && (st["memory_count"] != float64(len(f.specs)) || st["graph_relationships"] != float64(len(f.rels))) {
				t.Errorf("tenant list: %s stats %v, want %d memories %d relations", f.ID, st, len(f.specs), len(f.rels))
			}
		}
	}
	isoCheckOwnView(t, s, a, v, a.ID+" own view before")
	before := isoTakeSnapshot(t, s, v)

	// GET /memory/{victim id}: 404 with every credential form and id spelling.
	for _, id := range v.allIDs() {
		spellings := []string{id, strings.ToUpper(id), strings.ReplaceAll(id, "-", ""), "{" + id + "}", "urn:uuid:" + id}
		for _, sp := range spellings {
			for form, r := range isoCredentialForms(s, a.Token, "GET", "/memory/"+url.PathEscape(sp), nil) {
				d := fmt.Sprintf("%s GET /memory/%s (%s's %s) via %s", a.ID, sp, v.ID, v.keyOf[id], form)
				isoWantError(t, r, 404, "Memory not found", d)
				p(d).noLeak(t, r)
			}
		}
	}

	// GET /memories/{victim id}/related: empty, whatever the depth and types.
	for _, id := range v.allIDs() {
		for _, params := range [][]string{nil, {"max_depth", "3", "limit", "200"},
			{"relationship_types", "RELATES_TO,PREFERS_OVER,INVALIDATED_BY", "max_depth", "3", "limit", "200"},
			{"relationship_types", "SIMILAR_TO,PRECEDED_BY,DISCOVERED"}} {
			path := "/memories/" + id + "/related"
			if params != nil {
				path += Q(params...)
			}
			r := s.As(a.Token, "GET", path, nil)
			d := fmt.Sprintf("%s GET %s (%s's %s)", a.ID, path, v.ID, v.keyOf[id])
			if !isoWantStatus(t, r, 200, d) {
				continue
			}
			if r.Body["count"] != float64(0) || len(isoListIDs(t, r.Body["related_memories"], "id")) != 0 {
				t.Errorf("LEAK %s: want no related memories, got %s", d, r.Raw)
			}
			pr := p(d)
			pr.echo = []string{"memory_id"}
			pr.noLeak(t, r)
		}
	}

	// GET /recall: every variant; only the attacker's ids, anywhere in the body.
	for _, rp := range isoRecallMatrix(a, v) {
		params := append([]string{"limit", "100"}, rp.params...)
		if isoContains(rp.params, "limit") {
			params = rp.params
		}
		path := "/recall" + Q(params...)
		r := s.As(a.Token, "GET", path, nil)
		d := fmt.Sprintf("%s GET %s", a.ID, path)
		if !isoWantStatus(t, r, 200, d) {
			continue
		}
		got := isoResultIDs(t, r)
		if r.Body["count"] != float64(len(got)) {
			t.Errorf("%s: count %v but %d results", d, r.Body["count"], len(got))
		}
		if rp.want != nil {
			isoSameIDs(t, d, got, a.idSet(rp.want...), a)
		} else if rp.nonEmpty && len(got) == 0 {
			t.Errorf("%s: no results; %s's own memories should match: %s", d, a.ID, r.Raw)
		}
		pr := p(d)
		pr.echo = []string{"query", "queries", "keywords", "tags", "exclude_tags", "time_query", "context_priority"}
		pr.noLeak(t, r)
	}
	// The state_replacement row replaces the attacker's own old memory.
	r = s.As(a.Token, "GET", "/recall"+Q("tags", "lesson", "tag_match", "exact", "sort", "time_asc", "limit", "2"), nil)
	if isoWantStatus(t, r, 200, "state replacement") {
		var replaces []string
		for _, row := range r.Body["results"].([]any) {
			if sr, ok := row.(map[string]any)["state_replaces"].(string); ok {
				replaces = append(replaces, sr)
			}
		}
		if !reflect.DeepEqual(replaces, []string{a.ids["old"]}) {
			t.Errorf("%s: state_replaces %v, want [%s's old %s]: %s", a.ID, replaces, a.ID, a.ids["old"], r.Raw)
		}
	}
	// Recall with each credential form resolves to the attacker.
	for form, r := range isoCredentialForms(s, a.Token, "GET", "/recall"+Q("sort", "time_desc", "state_mode", "history", "limit", "100"), nil) {
		d := fmt.Sprintf("%s recall via %s", a.ID, form)
		if isoWantStatus(t, r, 200, d) {
			isoSameIDs(t, d, isoResultIDs(t, r), a.idSet(a.keys()...), a)
			p(d).noLeak(t, r)
		}
	}

	// PATCH /memory/{victim id}: 404, nothing changes.
	patches := []map[string]any{
		{"content": "pwned by " + a.ID, "tags": []string{"critical"}, "importance": 0.01},
		{"metadata": map[string]any{"owner": a.ID}},
		{"t_invalid": "2000-01-01T00:00:00Z"},
		{"tags": "project:x,critical,lesson,system", "type": "Decision"},
	}
	for _, id := range v.allIDs() {
		for _, body := range patches {
			r := s.As(a.Token, "PATCH", "/memory/"+id, body)
			d := fmt.Sprintf("%s PATCH /memory/%s (%s's %s) %v", a.ID, id, v.ID, v.keyOf[id], body)
			isoWantError(t, r, 404, "Memory not found", d)
			p(d).noLeak(t, r)
		}
	}

	// DELETE /memory/{victim id}: 404, the memory stays.
	for _, id := range v.allIDs() {
		for _, sp := range []string{id, strings.ToUpper(id)} {
			r := s.As(a.Token, "DELETE", "/memory/"+sp, nil)
			d := fmt.Sprintf("%s DELETE /memory/%s (%s's %s)", a.ID, sp, v.ID, v.keyOf[id])
			isoWantError(t, r, 404, "Memory not found", d)
			p(d).noLeak(t, r)
		}
	}

	// POST /associate with one or both ends in the victim: 404, no relation.
	pairs := [][2]string{
		{a.ids["lesson"], v.ids["pg"]},
		{v.ids["pg"], a.ids["lesson"]},
		{v.ids["lesson"], v.ids["pg"]}, // an existing victim relation
		{v.ids["old"], v.ids["unique"]},
		{v.ids["new"], v.ids["old"]},
		{a.ids["old"], v.ids["new"]},
	}
	types := []string{"RELATES_TO", "PREFERS_OVER", "INVALIDATED_BY"}
	for _, pair := range pairs {
		for _, typ := range types {
			body := map[string]any{"memory1_id": pair[0], "memory2_id": pair[1], "type": typ, "strength": 0.99, "context": "attack", "reason": "attack"}
			r := s.As(a.Token, "POST", "/associate", body)
			d := fmt.Sprintf("%s POST /associate %s(%s)-[%s]->%s(%s)", a.ID, pair[0], a.keyOf[pair[0]]+v.keyOf[pair[0]], typ, pair[1], a.keyOf[pair[1]]+v.keyOf[pair[1]])
			isoWantError(t, r, 404, "One or both memories do not exist", d)
			p(d).noLeak(t, r)
		}
	}
	// Batch: every victim pair fails by index, the one own pair succeeds.
	var items []any
	var failedIdx []any
	for _, pair := range pairs {
		for _, typ := range types {
			failedIdx = append(failedIdx, map[string]any{"index": float64(len(items)), "reason": "One or both memories do not exist"})
			items = append(items, map[string]any{"memory1_id": pair[0], "memory2_id": pair[1], "type": typ, "strength": 0.99})
		}
	}
	own := len(items)
	items = append(items, map[string]any{"memory1_id": a.ids["system"], "memory2_id": a.ids["mysql"], "type": "RELATES_TO", "strength": 0.4})
	r = s.As(a.Token, "POST", "/associate", map[string]any{"associations": items})
	d := a.ID + " POST /associate batch with " + v.ID + "'s ids"
	if isoWantStatus(t, r, 207, d) {
		wantSucceeded := []any{map[string]any{"index": float64(own), "memory1_id": a.ids["system"], "memory2_id": a.ids["mysql"],
			"relation_type": "RELATES_TO", "strength": 0.4}}
		if r.Body["status"] != "partial_success" || r.Body["created_count"] != float64(1) || r.Body["failed_count"] != float64(own) ||
			!reflect.DeepEqual(r.Body["failed"], failedIdx) || !reflect.DeepEqual(r.Body["succeeded"], wantSucceeded) {
			t.Errorf("%s: want 1 created (index %d) and %d failed: %s", d, own, own, r.Raw)
		}
		p(d).noLeak(t, r)
	}
	aRels++ // system -> mysql
	r = s.As(a.Token, "POST", "/associate", map[string]any{"associations": items[:own]})
	d = a.ID + " POST /associate batch with only " + v.ID + "'s ids"
	if isoWantStatus(t, r, 207, d) {
		if r.Body["created_count"] != float64(0) || r.Body["failed_count"] != float64(own) || !reflect.DeepEqual(r.Body["failed"], failedIdx) {
			t.Errorf("%s: want 0 created and %d failed: %s", d, own, r.Raw)
		}
		p(d).noLeak(t, r)
	}

	// POST /memory and /memory/batch with the victim's id in the body: the
	// id is ignored, a new memory of the attacker is made.
	var injected []string
	for _, vid := range []string{v.ids["lesson"], v.ids["unique"]} {
		r := s.As(a.Token, "POST", "/memory", map[string]any{"id": vid, "content": "overwrite attempt by " + a.ID, "tags": []string{"injected"}})
		d := fmt.Sprintf("%s POST /memory with id %s (%s's %s)", a.ID, vid, v.ID, v.keyOf[vid])
		if isoWantStatus(t, r, 201, d) {
			mid, _ := r.Body["memory_id"].(string)
			if mid == vid || v.has(mid) {
				t.Errorf("LEAK %s: stored under the victim's id %s", d, mid)
			}
			injected = append(injected, mid)
		}
	}
	r = s.As(a.Token, "POST", "/memory/batch", map[string]any{"memories": []any{
		map[string]any{"id": v.ids["pg"], "content": "batch overwrite attempt by " + a.ID, "tags": []string{"injected"}}}})
	if isoWantStatus(t, r, 201, a.ID+" POST /memory/batch with a victim id") {
		for _, mid := range isoListStrings(r.Body["memory_ids"]) {
			if v.has(mid) {
				t.Errorf("LEAK batch store reused %s's id %s", v.ID, mid)
			}
			injected = append(injected, mid)
		}
	}
	isoCheckStats(t, s, a.ID, len(a.specs)+len(injected), aRels, "after injected stores")
	for _, mid := range injected {
		isoWantStatus(t, s.As(a.Token, "DELETE", "/memory/"+mid, nil), 200, "delete injected memory")
	}

	// Nothing of the victim changed, and the attacker counts only its own.
	isoCheckStats(t, s, a.ID, len(a.specs), aRels, "after non-destructive attack")
	before.same(t, isoTakeSnapshot(t, s, v), v, v.ID+" after "+a.ID+"'s reads, patches, deletes and associations")

	// DELETE /memory/by-tag with the shared tags: only the attacker's go.
	alive := map[string]bool{}
	for _, k := range a.keys() {
		alive[k] = true
	}
	for _, tags := range [][]string{{"critical"}, {"project:x", "lesson", "system", "preference"}} {
		params := []string{}
		wantDeleted := 0
		for _, tg := range tags {
			params = append(params, "tags", tg)
		}
		for _, k := range a.tagged(tags...) {
			if alive[k] {
				wantDeleted++
				alive[k] = false
			}
		}
		r := s.As(a.Token, "DELETE", "/memory/by-tag"+Q(params...), nil)
		d := fmt.Sprintf("%s DELETE /memory/by-tag%s", a.ID, Q(params...))
		if isoWantStatus(t, r, 200, d) {
			if r.Body["deleted_count"] != float64(wantDeleted) {
				t.Errorf("%s: deleted_count %v, want %d (the attacker's own): %s", d, r.Body["deleted_count"], wantDeleted, r.Raw)
			}
			p(d).noLeak(t, r)
		}
		// Relations survive only between surviving memories.
		survivingRels := 0
		for _, rel := range append(append([]isoRelSpec{}, a.rels...), isoRelSpec{from: "system", to: "mysql"}) {
			if alive[rel.from] && alive[rel.to] {
				survivingRels++
			}
		}
		liveCount := 0
		for _, ok := range alive {
			if ok {
				liveCount++
			}
		}
		isoCheckStats(t, s, a.ID, liveCount, survivingRels, d)
		isoCheckStats(t, s, v.ID, len(v.specs), len(v.rels), d)
		for _, id := range v.allIDs() {
			isoWantStatus(t, s.As(v.Token, "GET", "/memory/"+id, nil), 200, fmt.Sprintf("after %s: %s's %s still exists", d, v.ID, v.keyOf[id]))
		}
	}
	before.same(t, isoTakeSnapshot(t, s, v), v, v.ID+" after "+a.ID+"'s DELETE /memory/by-tag")

	// The attacker now has nothing: every view of it must be empty even
	// though the victim still holds the same tags and words.
	isoCheckStats(t, s, a.ID, 0, 0, "attacker emptied")
	r = s.As(a.Token, "GET", "/health", nil)
	if r.Body["memory_count"] != float64(0) || r.Body["vector_count"] != float64(0) || r.Body["tenant_id"] != a.ID {
		t.Errorf("empty %s /health: %s", a.ID, r.Raw)
	}
	for _, params := range [][]string{{}, {"query", "project x storage PostgreSQL"}, {"tags", "critical"}, {"query", "release day", "expand_relations", "true", "state_mode", "history"},
		{"priority_ids", strings.Join(v.allIDs(), ",")}} {
		path := "/recall" + Q(params...)
		r := s.As(a.Token, "GET", path, nil)
		if !isoWantStatus(t, r, 200, a.ID+" empty recall") {
			continue
		}
		results, isList := r.Body["results"].([]any)
		if r.Body["count"] != float64(0) || len(results) != 0 {
			t.Errorf("LEAK empty %s GET %s: want no results, got %s", a.ID, path, r.Raw)
		} else if !isList {
			t.Errorf("empty %s GET %s: \"results\" is %v, want [] (a JSON list, as AutoMem sends): %s", a.ID, path, r.Body["results"], r.Raw)
		}
		isoProbe{desc: "empty recall " + path, attacker: a, victim: v}.noLeak(t, r)
	}
	for _, tag := range isoSharedTags {
		r := s.As(a.Token, "GET", "/memory/by-tag"+Q("tags", tag), nil)
		if isoWantStatus(t, r, 200, "empty by-tag") && r.Body["count"] != float64(0) {
			t.Errorf("LEAK empty %s GET /memory/by-tag?tags=%s: %s", a.ID, tag, r.Raw)
		}
	}
	r = s.As(a.Token, "GET", "/startup-recall", nil)
	if isoWantStatus(t, r, 200, "empty startup-recall") && (r.Body["lesson_count"] != float64(0) || len(isoListIDs(t, r.Body["system_rules"], "id")) != 0 || r.Body["has_critical"] != false) {
		t.Errorf("LEAK empty %s GET /startup-recall: %s", a.ID, r.Raw)
	}
	r = s.As(a.Token, "GET", "/analyze", nil)
	if isoWantStatus(t, r, 200, "empty analyze") {
		an, _ := r.Body["analytics"].(map[string]any)
		prefs, _ := an["preferences"].([]any)
		ents, _ := an["entity_frequency"].(map[string]any)
		types, _ := an["memory_types"].(map[string]any)
		if an["sample_size"] != float64(0) || prefs == nil || len(prefs) != 0 || ents == nil || len(ents) != 0 || types == nil || len(types) != 0 {
			t.Errorf("LEAK empty %s GET /analyze: %s", a.ID, r.Raw)
		}
	}
	// And the victim still sees all of its own, exactly.
	isoCheckOwnView(t, s, v, a, v.ID+" own view after "+a.ID+"'s attack")
}

func isoListStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, it := range list {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestIsolationMatrix runs every tenant route with one tenant's key against
// the other tenant's ids, tags and relations, in both directions.
func TestIsolationMatrix(t *testing.T) {
	t.Parallel()
	for _, dir := range []struct{ attacker, victim string }{{"bravo", "alpha"}, {"alpha", "bravo"}} {
		t.Run(dir.attacker+"_attacks_"+dir.victim, func(t *testing.T) {
			t.Parallel() // each direction has its own server
			s := Start(t, nil)
			fixtures := map[string]*isoTenant{
				"alpha": isoSeedTenant(t, s, "alpha", 2),
				"bravo": isoSeedTenant(t, s, "bravo", 1),
			}
			isoAttack(t, s, fixtures[dir.attacker], fixtures[dir.victim])
		})
	}
}

// isoWhoAmI asks /health which tenant the request's credentials resolve to.
func isoWhoAmI(s *Server, path string, headers ...string) (any, *Response) {
	r := s.Do("GET", path, nil, headers...)
	return r.Body["tenant_id"], r
}

// TestIsolationCredentials checks that a key resolves to its own tenant in
// every place it may be sent, that the first credential wins, and that a
// tenant key never opens the operator routes.
func TestIsolationCredentials(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	a := isoSeedTenant(t, s, "alpha", 2)
	b := isoSeedTenant(t, s, "bravo", 1)

	cases := []struct {
		desc    string
		path    string
		headers []string
		want    any
	}{
		{"Bearer B", "/health", []string{"Authorization", "Bearer " + b.Token}, "bravo"},
		{"lower-case bearer B", "/health", []string{"Authorization", "bearer " + b.Token}, "bravo"},
		{"X-API-Key B", "/health", []string{"X-API-Key", b.Token}, "bravo"},
		{"?api_key=B", isoWithQueryKey("/health", b.Token), nil, "bravo"},
		{"Bearer B + X-API-Key A", "/health", []string{"Authorization", "Bearer " + b.Token, "X-API-Key", a.Token}, "bravo"},
		{"Bearer B + ?api_key=A", isoWithQueryKey("/health", a.Token), []string{"Authorization", "Bearer " + b.Token}, "bravo"},
		{"X-API-Key B + ?api_key=A", isoWithQueryKey("/health", a.Token), []string{"X-API-Key", b.Token}, "bravo"},
		{"Bearer B + X-API-Key A + ?api_key=A", isoWithQueryKey("/health", a.Token), []string{"Authorization", "Bearer " + b.Token, "X-API-Key", a.Token}, "bravo"},
		{"Bearer A + X-API-Key B", "/health", []string{"Authorization", "Bearer " + a.Token, "X-API-Key", b.Token}, "alpha"},
		// A wrong Bearer is not rescued by a valid X-API-Key (AutoMem §1.1).
		{"wrong Bearer + X-API-Key A", "/health", []string{"Authorization", "Bearer not-a-real-token-123", "X-API-Key", a.Token}, nil},
		{"admin token as Bearer", "/health", []string{"Authorization", "Bearer " + adminToken}, nil},
		{"B's token upper-cased", "/health", []string{"Authorization", "Bearer " + strings.ToUpper(b.Token)}, nil},
		{"B's token with a suffix", "/health", []string{"Authorization", "Bearer " + b.Token + "x"}, nil},
		{"B's token truncated", "/health", []string{"X-API-Key", b.Token[:len(b.Token)-1]}, nil},
		{"no credential", "/health", nil, nil},
	}
	for _, c := range cases {
		got, r := isoWhoAmI(s, c.path, c.headers...)
		if r.Status != 200 || got != c.want {
			t.Errorf("%s: /health tenant_id %v, want %v: %s", c.desc, got, c.want, r.Raw)
		}
		if c.want == nil && (r.Body["memory_count"] != nil || r.Body["vector_count"] != nil || r.Body["graph"] != nil) {
			t.Errorf("%s: /health without a valid key shows counts: %s", c.desc, r.Raw)
		}
		if c.want == "bravo" && (r.Body["memory_count"] != float64(len(b.specs)) || bytes.Contains(r.Raw, []byte("alpha"))) {
			t.Errorf("%s: /health shows %v memories, want bravo's %d: %s", c.desc, r.Body["memory_count"], len(b.specs), r.Raw)
		}
	}

	// The same precedence on the data routes: B's view, never A's.
	mixed := [][]string{
		{"Authorization", "Bearer " + b.Token, "X-API-Key", a.Token},
		{"Authorization", "Bearer " + b.Token},
		{"X-API-Key", b.Token},
	}
	for i, h := range mixed {
		path := "/memory/" + a.ids["lesson"]
		if i == 1 || i == 2 {
			path = isoWithQueryKey(path, a.Token)
		}
		isoWantError(t, s.Do("GET", path, nil, h...), 404, "Memory not found", fmt.Sprintf("GET A's memory with B first (%v)", h[0]))
		path = "/memory/" + b.ids["lesson"]
		if i == 1 || i == 2 {
			path = isoWithQueryKey(path, a.Token)
		}
		isoWantStatus(t, s.Do("GET", path, nil, h...), 200, fmt.Sprintf("GET B's memory with B first (%v)", h[0]))
		rpath := "/recall" + Q("sort", "time_desc", "state_mode", "history", "limit", "100")
		if i == 1 || i == 2 {
			rpath = isoWithQueryKey(rpath, a.Token)
		}
		r := s.Do("GET", rpath, nil, h...)
		if isoWantStatus(t, r, 200, "recall with B first") {
			isoSameIDs(t, fmt.Sprintf("recall with B first (%v)", h[0]), isoResultIDs(t, r), b.idSet(b.keys()...), b)
			isoProbe{desc: "recall with B first", attacker: b, victim: a}.noLeak(t, r)
		}
	}
	// A write with Bearer B and X-API-Key A lands in B.
	r := s.Do("POST", "/memory", map[string]any{"content": "written with two keys", "tags": []string{"critical"}},
		"Authorization", "Bearer "+b.Token, "X-API-Key", a.Token)
	if isoWantStatus(t, r, 201, "POST /memory with Bearer B + X-API-Key A") {
		mid := r.Body["memory_id"].(string)
		isoWantStatus(t, s.As(b.Token, "GET", "/memory/"+mid, nil), 200, "the two-key write is B's")
		isoWantError(t, s.As(a.Token, "GET", "/memory/"+mid, nil), 404, "Memory not found", "the two-key write is not A's")
		isoCheckStats(t, s, b.ID, len(b.specs)+1, len(b.rels), "after two-key write")
		isoCheckStats(t, s, a.ID, len(a.specs), len(a.rels), "after two-key write")
	}
	// Wrong credentials on a data route: 401, never someone's data.
	for _, h := range [][]string{
		{"Authorization", "Bearer not-a-real-token-123", "X-API-Key", a.Token},
		{"Authorization", "Bearer " + adminToken},
		{"X-Admin-Token", adminToken},
		{},
	} {
		r := s.Do("GET", "/recall", nil, h...)
		isoWantError(t, r, 401, "Unauthorized", fmt.Sprintf("GET /recall with %v", h))
	}

	// A tenant key never opens the operator routes, in any header.
	adminRoutes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/admin/tenants", nil},
		{"GET", "/admin/tenants?include_stats=true", nil},
		{"GET", "/admin/tenants/alpha", nil},
		{"GET", "/admin/tenants/bravo", nil},
		{"GET", "/admin/tenants/alpha/stats", nil},
		{"GET", "/admin/tenants/bravo/stats", nil},
		{"POST", "/admin/tenants", map[string]any{"tenant_id": "mallory", "api_token": "mallory-token-123"}},
		{"DELETE", "/admin/tenants/alpha", nil},
		{"DELETE", "/admin/tenants/bravo", nil},
	}
	for _, route := range adminRoutes {
		for _, f := range []*isoTenant{a, b} {
			for _, h := range [][]string{
				{"Authorization", "Bearer " + f.Token},
				{"X-Admin-Token", f.Token},
				{"X-Admin-Api-Key", f.Token},
				{"X-API-Key", f.Token},
			} {
				r := s.Do(route.method, route.path, route.body, h...)
				isoWantError(t, r, 401, "Admin authorization required", fmt.Sprintf("%s %s with %s's key in %s", route.method, route.path, f.ID, h[0]))
			}
			r := s.Do(route.method, isoWithQueryKey(route.path, f.Token), route.body)
			isoWantError(t, r, 401, "Admin authorization required", fmt.Sprintf("%s %s with %s's key in ?api_key=", route.method, route.path, f.ID))
		}
	}
	// A new tenant cannot take over an existing tenant's token.
	r = s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": "mallory", "api_token": a.Token})
	isoWantError(t, r, 409, "'api_token' is already in use; choose another token", "create a tenant with alpha's token")
	if who, r := isoWhoAmI(s, "/health", "Authorization", "Bearer "+a.Token); who != "alpha" {
		t.Errorf("alpha's token after a tenant tried to reuse it resolves to %v: %s", who, r.Raw)
	}
	s.Admin("GET", "/admin/tenants/alpha", nil).Expect(t, 200)
	s.Admin("GET", "/admin/tenants/bravo", nil).Expect(t, 200)
	s.Admin("GET", "/admin/tenants/mallory", nil).ExpectError(t, 404, "not found")
	r = s.Admin("GET", "/admin/tenants", nil).Expect(t, 200)
	if r.Body["total"] != float64(2) {
		t.Errorf("tenant count after tenant-key admin attempts: %s", r.Raw)
	}
	isoCheckStats(t, s, a.ID, len(a.specs), len(a.rels), "after admin attempts")
}

// tenantDeletion deletes one tenant and checks that the other is untouched
// and that the deleted tenant's key is dead at once.
func isoTenantDeletion(t *testing.T, survivorID, deletedID string) {
	s := Start(t, nil)
	fixtures := map[string]*isoTenant{"alpha": isoSeedTenant(t, s, "alpha", 2), "bravo": isoSeedTenant(t, s, "bravo", 1)}
	surv, del := fixtures[survivorID], fixtures[deletedID]

	before := isoTakeSnapshot(t, s, surv)
	isoCheckStats(t, s, surv.ID, len(surv.specs), len(surv.rels), "before delete")

	r := s.Admin("DELETE", "/admin/tenants/"+del.ID, nil)
	if isoWantStatus(t, r, 200, "delete tenant "+del.ID) {
		want := map[string]any{"status": "success", "tenant_id": del.ID, "deleted": true}
		if !reflect.DeepEqual(r.Body, want) {
			t.Errorf("delete tenant body %s, want %v", r.Raw, want)
		}
	}

	// The deleted tenant's token answers 401 at once, in every form and route.
	for _, route := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/recall", nil},
		{"GET", "/memory/" + del.ids["lesson"], nil},
		{"GET", "/memory/" + surv.ids["lesson"], nil},
		{"POST", "/memory", map[string]any{"content": "after delete"}},
		{"GET", "/memory/by-tag?tags=critical", nil},
		{"DELETE", "/memory/by-tag?tags=critical", nil},
		{"GET", "/memories/" + surv.ids["lesson"] + "/related", nil},
		{"POST", "/associate", map[string]any{"memory1_id": surv.ids["lesson"], "memory2_id": surv.ids["pg"]}},
		{"GET", "/startup-recall", nil},
		{"GET", "/analyze", nil},
	} {
		for form, r := range isoCredentialForms(s, del.Token, route.method, route.path, route.body) {
			isoWantError(t, r, 401, "Unauthorized", fmt.Sprintf("deleted %s's key, %s %s via %s", del.ID, route.method, route.path, form))
		}
	}
	if who, r := isoWhoAmI(s, "/health", "Authorization", "Bearer "+del.Token); who != nil || r.Body["memory_count"] != nil {
		t.Errorf("/health with deleted %s's key: %s", del.ID, r.Raw)
	}
	s.Admin("GET", "/admin/tenants/"+del.ID+"/stats", nil).ExpectError(t, 404, "not found")

	// The survivor is untouched.
	before.same(t, isoTakeSnapshot(t, s, surv), surv, surv.ID+" after deleting "+del.ID)
	isoCheckOwnView(t, s, surv, del, surv.ID+" after deleting "+del.ID)

	// Storage: the deleted tenant's data is gone, the survivor's is not.
	if onFalkorDB() {
		isoGraphDeleted(t, s, del.ID, surv.ID)
	} else {
		isoDirDeleted(t, s, del.ID, surv.ID)
	}

	// Re-creating the id starts empty; the old key stays dead.
	newToken := del.ID + "-second-token-0123"
	s.Admin("POST", "/admin/tenants", map[string]any{"tenant_id": del.ID, "api_token": newToken}).Expect(t, 201)
	isoCheckStats(t, s, del.ID, 0, 0, "re-created "+del.ID)
	isoWantError(t, s.As(del.Token, "GET", "/recall", nil), 401, "Unauthorized", "old key after re-create")
	for _, id := range del.allIDs() {
		isoWantError(t, s.As(newToken, "GET", "/memory/"+id, nil), 404, "Memory not found", "re-created tenant reads its predecessor's memory")
	}
	for _, id := range surv.allIDs() {
		isoWantError(t, s.As(newToken, "GET", "/memory/"+id, nil), 404, "Memory not found", "re-created tenant reads the survivor's memory")
	}
	r = s.As(newToken, "GET", "/recall"+Q("limit", "100"), nil)
	if isoWantStatus(t, r, 200, "re-created recall") && r.Body["count"] != float64(0) {
		t.Errorf("re-created %s recalls: %s", del.ID, r.Raw)
	}
	r = s.As(newToken, "GET", "/recall"+Q("query", "project x storage PostgreSQL", "limit", "100"), nil)
	if isoWantStatus(t, r, 200, "re-created recall") && r.Body["count"] != float64(0) {
		t.Errorf("re-created %s recalls: %s", del.ID, r.Raw)
	}
	before.same(t, isoTakeSnapshot(t, s, surv), surv, surv.ID+" after re-creating "+del.ID)
}

// TestIsolationTenantDeletion deletes each tenant in turn.
func TestIsolationTenantDeletion(t *testing.T) {
	t.Parallel()
	// Each runs its own server.
	t.Run("delete_bravo", func(t *testing.T) { t.Parallel(); isoTenantDeletion(t, "alpha", "bravo") })
	t.Run("delete_alpha", func(t *testing.T) { t.Parallel(); isoTenantDeletion(t, "bravo", "alpha") })
}

// isoTenantFileBytes reads a tenant's database and its WAL.
func isoTenantFileBytes(t *testing.T, s *Server, id string) []byte {
	t.Helper()
	dbPath := filepath.Join(s.DataDir, "tenants", id, "memories.db")
	raw, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatalf("tenant %s database: %v", id, err)
	}
	if wal, err := os.ReadFile(dbPath + "-wal"); err == nil {
		raw = append(raw, wal...)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return raw
}

// TestIsolationOnDisk checks the layout: one database per tenant under
// tenants/<id>/, holding that tenant's content and nothing of the other's.
func TestIsolationOnDisk(t *testing.T) {
	t.Parallel()
	embeddedOnly(t, "it reads the tenants' files")
	s := Start(t, nil)
	a := isoSeedTenant(t, s, "alpha", 2)
	b := isoSeedTenant(t, s, "bravo", 1)

	check := func(when string) {
		for _, pair := range [][2]*isoTenant{{a, b}, {b, a}} {
			own, other := pair[0], pair[1]
			raw := isoTenantFileBytes(t, s, own.ID)
			if !bytes.Contains(raw, []byte(own.Unique)) {
				t.Errorf("%s: tenants/%s/memories.db(+wal) does not hold its own content %q", when, own.ID, own.Unique)
			}
			for _, marker := range []string{other.Unique, "kw-" + other.ID + "-only", other.ID + " team", other.ID + " benchmarks"} {
				if bytes.Contains(raw, []byte(marker)) {
					t.Errorf("LEAK %s: tenants/%s/memories.db(+wal) holds %s's %q", when, own.ID, other.ID, marker)
				}
			}
			for _, id := range other.allIDs() {
				if bytes.Contains(raw, []byte(id)) {
					t.Errorf("LEAK %s: tenants/%s/memories.db(+wal) holds %s's memory id %s (%s)", when, own.ID, other.ID, id, other.keyOf[id])
				}
			}
		}
		entries, err := os.ReadDir(filepath.Join(s.DataDir, "tenants"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !reflect.DeepEqual(names, []string{"alpha", "bravo"}) {
			t.Errorf("%s: tenants/ holds %v, want [alpha bravo]", when, names)
		}
		// The shared registry holds no memory content of either tenant.
		reg, err := os.ReadFile(filepath.Join(s.DataDir, "registry.db"))
		if err != nil {
			t.Fatal(err)
		}
		if wal, err := os.ReadFile(filepath.Join(s.DataDir, "registry.db-wal")); err == nil {
			reg = append(reg, wal...)
		}
		for _, f := range []*isoTenant{a, b} {
			if bytes.Contains(reg, []byte(f.Unique)) {
				t.Errorf("%s: registry.db holds %s's memory content", when, f.ID)
			}
		}
	}
	check("while running")

	// Attack writes from B do not land in A's file either.
	isoWantError(t, s.As(b.Token, "PATCH", "/memory/"+a.ids["lesson"], map[string]any{"content": "bravo wrote this " + b.Unique}),
		404, "Memory not found", "bravo PATCHes alpha's memory")
	isoWantError(t, s.As(b.Token, "POST", "/associate", map[string]any{"memory1_id": a.ids["lesson"], "memory2_id": b.ids["lesson"], "reason": "bravo wrote this"}),
		404, "One or both memories do not exist", "bravo associates alpha's memory")
	rawA := isoTenantFileBytes(t, s, a.ID)
	if bytes.Contains(rawA, []byte("bravo wrote this")) {
		t.Errorf("LEAK: alpha's file holds bravo's PATCH content")
	}

	// After a clean stop the WAL is checkpointed into the main file: check again.
	s.Stop()
	check("after stop")
}

// isoGraphDeleted: on FalkorDB the deleted tenant's graph is gone with
// every key of it but its usage, audit and incarnations (kept for the last
// bill); the survivor's graph is there.
func isoGraphDeleted(t *testing.T, s *Server, deleted, survivor string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.FalkorDB.Addr})
	defer rdb.Close()
	ctx := context.Background()
	if n := rdb.Exists(ctx, "memories_"+deleted).Val(); n != 0 {
		t.Errorf("graph memories_%s still exists after delete", deleted)
	}
	if n := rdb.Exists(ctx, "memories_"+survivor).Val(); n != 1 {
		t.Errorf("graph memories_%s is gone", survivor)
	}
	keys, err := rdb.Keys(ctx, "*"+deleted+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "mnemo:usage:") && !strings.HasPrefix(k, "mnemo:audit:") && !strings.HasPrefix(k, "mnemo:incarnation") {
			t.Errorf("key %s of deleted tenant %s is left", k, deleted)
		}
	}
}

// isoDirDeleted: on disk the deleted tenant's directory is gone, the
// survivor's is not.
func isoDirDeleted(t *testing.T, s *Server, deleted, survivor string) {
	t.Helper()
	tenantsDir := filepath.Join(s.DataDir, "tenants")
	if _, err := os.Stat(filepath.Join(tenantsDir, deleted)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tenants/%s still exists after delete (err %v)", deleted, err)
	}
	if _, err := os.Stat(filepath.Join(tenantsDir, survivor, "memories.db")); err != nil {
		t.Errorf("tenants/%s/memories.db: %v", survivor, err)
	}
	entries, _ := os.ReadDir(tenantsDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{survivor}) {
		t.Errorf("tenants/ holds %v after deleting %s, want [%s]", names, deleted, survivor)
	}
}
