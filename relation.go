package mnemo

import (
	"fmt"
	"strings"
	"time"
)

// A relation's fields follow one set of rules whichever way they arrive,
// an association (POST /associate, MCP associate_memories) or an import:
// both ends are memory ids (UUIDs) and differ, the type is one a client
// may author, the strength is a number from 0 to 1 (0.5 when absent), and
// a relation keeps only the properties of its type (RelationProps). An
// association words its messages as AutoMem does and defaults the type to
// RELATES_TO; an import names the line and the field, and needs the type.
// The properties kept are bounded as a memory's metadata is (lim).

// ParseAssociation checks one association of POST /associate. A problem
// that AutoMem reports per item of a batch comes back as reason; an
// out-of-range strength, which AutoMem treats as fatal to the whole
// request, comes back as fatal, and so do properties beyond lim.
func ParseAssociation(item any, lim Limits, now time.Time) (rel Relation, reason string, fatal error) {
	body, ok := item.(map[string]any)
	if !ok {
		return rel, "Association item must be an object", nil
	}
	a, _ := body["memory1_id"].(string)
	b, _ := body["memory2_id"].(string)
	if strings.TrimSpace(a) == "" || strings.TrimSpace(b) == "" {
		return rel, "'memory1_id' and 'memory2_id' are required", nil
	}
	if rel.From, rel.To, reason = relationEnds(a, b, "'%s' must be a valid UUID", "Cannot associate a memory with itself"); reason != "" {
		return rel, reason, nil
	}
	rel.Type = "RELATES_TO"
	if v, ok := body["type"]; ok && v != nil {
		s, _ := v.(string)
		rel.Type = RelationType(strings.ToUpper(strings.TrimSpace(s)))
	}
	if !rel.Type.IsAuthorable() {
		return rel, "Relation type must be one of " + AuthorableTypeList(), nil
	}
	if rel.Strength, fatal = relationStrength(body["strength"]); fatal != nil {
		return rel, "", fatal
	}
	rel.Props, rel.UpdatedAt = rel.Type.KeepProps(body), now
	if err := lim.OrDefaults().CheckObject("Relation properties", rel.Props); err != nil {
		return rel, "", err
	}
	if err := checkJSONValue("", rel.Props); err != nil {
		return rel, "", err
	}
	return rel, "", nil
}

// ImportRelation checks one relation line of an export file; updated_at
// defaults to now.
func ImportRelation(obj map[string]any, line int, lim Limits, now time.Time) (Relation, error) {
	var rel Relation
	fail := func(format string, args ...any) (Relation, error) {
		return rel, Errorf(EINVALID, "line %d: %s", line, fmt.Sprintf(format, args...))
	}
	a, _ := obj["memory1_id"].(string)
	b, _ := obj["memory2_id"].(string)
	var reason string
	if rel.From, rel.To, reason = relationEnds(a, b, "'%s' must be a UUID", "a relation cannot join a memory to itself ('memory1_id' equals 'memory2_id')"); reason != "" {
		return fail("%s", reason)
	}
	typ, _ := obj["type"].(string)
	rel.Type = RelationType(strings.ToUpper(strings.TrimSpace(typ)))
	if !rel.Type.IsAuthorable() {
		return fail("'type' must be one of %s", AuthorableTypeList())
	}
	var err error
	if rel.Strength, err = relationStrength(obj["strength"]); err != nil {
		return fail("%s", ErrorMessage(err))
	}
	rel.Props = map[string]any{}
	if v, ok := obj["properties"]; ok && v != nil {
		props, isObject := v.(map[string]any)
		if !isObject {
			return fail("'properties' must be an object")
		}
		rel.Props = rel.Type.KeepProps(props)
		if err := lim.OrDefaults().CheckObject("'properties'", rel.Props); err != nil {
			return fail("%s", ErrorMessage(err))
		}
		if err := checkJSONValue("properties", rel.Props); err != nil {
			return fail("%s", ErrorMessage(err))
		}
	}
	rel.UpdatedAt = now
	if v, ok := obj["updated_at"]; ok && v != nil {
		s, isString := v.(string)
		t, err := ParseTime(s)
		if !isString || err != nil {
			return fail("'updated_at' is not an ISO 8601 timestamp: %v", v)
		}
		rel.UpdatedAt = t
	}
	return rel, nil
}

// relationEnds is the rule for a relation's ends: two UUIDs, not the same.
func relationEnds(a, b, badID, self string) (from, to, reason string) {
	var err error
	if from, err = ValidateMemoryID(a); err != nil {
		return "", "", fmt.Sprintf(badID, "memory1_id")
	}
	if to, err = ValidateMemoryID(b); err != nil {
		return "", "", fmt.Sprintf(badID, "memory2_id")
	}
	if from == to {
		return "", "", self
	}
	return from, to, ""
}

// relationStrength is the rule for a strength: a number from 0 to 1, 0.5
// when absent.
func relationStrength(v any) (float64, error) {
	if v == nil {
		return 0.5, nil
	}
	return CheckUnit(v, "strength")
}

// KeepProps returns the properties of fields that relations of type t
// carry (RelationProps), and nothing else.
func (t RelationType) KeepProps(fields map[string]any) map[string]any {
	props := map[string]any{}
	for _, p := range RelationProps(t) {
		if v, ok := fields[p]; ok && p != "strength" {
			props[p] = v
		}
	}
	return props
}
