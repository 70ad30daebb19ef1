package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// tagsOf returns n tags of 10 segments each: every tag makes 10 prefix
// rows, the shape that once stored far more than its quota counted.
func tagsOf(n int, seed string) []any {
	tags := make([]any, n)
	for i := range tags {
		segs := make([]string, 10)
		for j := range segs {
			segs[j] = fmt.Sprintf("%s%02d-segment-%02d", seed, i, j)
		}
		tags[i] = strings.Join(segs, ":")
	}
	return tags
}

// A storage quota holds whatever the shape of the data: memories whose tags
// make hundreds of index rows cost their quota what they cost the disk
// (before, a 0.05 MB quota let 37 MB through). Refused writes store
// nothing, through store, batch and PATCH, and a delete frees quota at once.
func TestAbuseStorageQuotaCountsWhatTheDiskHolds(t *testing.T) {
	t.Parallel()
	s := Start(t, nil)
	const token = "quota-abuse-token-0123456789"
	mcTenant(t, s, "q", token)
	small := s.Store(token, map[string]any{"content": "a small memory stored before the quota"})
	s.Admin("PATCH", "/admin/tenants/q", map[string]any{"quotas": map[string]any{"max_storage_mb": 0.05}}).Expect(t, 200)
	before := s.Footprint(t)
	bytesBefore := mcStats(t, s, "q")["stored_bytes"]

	heavy := func(i int) map[string]any {
		return map[string]any{"content": fmt.Sprintf("heavy %d", i), "tags": tagsOf(50, fmt.Sprintf("h%d-", i))}
	}
	s.As(token, "POST", "/memory", heavy(0)).ExpectError(t, 403, "Quota exceeded: max_storage_mb is 0.05")
	batch := []any{}
	for i := range 10 {
		batch = append(batch, heavy(i))
	}
	s.As(token, "POST", "/memory/batch", map[string]any{"memories": batch}).ExpectError(t, 403, "Quota exceeded: max_storage_mb is 0.05")
	s.As(token, "PATCH", "/memory/"+small, map[string]any{"tags": tagsOf(50, "p-")}).ExpectError(t, 403, "Quota exceeded: max_storage_mb is 0.05")
	mcExpectCount(t, s, "q", 1)
	if got := mcStats(t, s, "q")["stored_bytes"]; got != bytesBefore {
		t.Fatalf("refused writes changed stored_bytes from %v to %v", bytesBefore, got)
	}

	// Lighter memories fit until the quota is reached, and not past it.
	stored := []string{}
	for i := 0; ; i++ {
		r := s.As(token, "POST", "/memory", map[string]any{"content": fmt.Sprintf("light %d", i), "tags": tagsOf(3, fmt.Sprintf("l%d-", i))})
		if r.Status == 403 {
			r.ExpectError(t, 403, "Quota exceeded: max_storage_mb is 0.05")
			break
		}
		r.Expect(t, 201)
		stored = append(stored, r.Body["memory_id"].(string))
		if i > 1000 {
			t.Fatal("the quota never refused a write")
		}
	}
	if len(stored) == 0 {
		t.Fatal("no light memory fitted in the quota")
	}
	if got := mcStats(t, s, "q")["stored_bytes"].(float64); got > 0.05*(1<<20) {
		t.Fatalf("stored_bytes %v is past the quota", got)
	}
	// 0.05 MB of data, a database's pages and its write-ahead log: nowhere
	// near the 37 MB one such quota once let through.
	s.ExpectBounded(t, before, 64<<20, 8<<20)

	// A delete frees quota at once.
	refill := map[string]any{"content": "fits again", "tags": tagsOf(2, "a-")}
	s.As(token, "POST", "/memory", refill).ExpectError(t, 403, "Quota exceeded")
	s.As(token, "DELETE", "/memory/"+stored[0], nil).Expect(t, 200)
	s.As(token, "POST", "/memory", refill).Expect(t, 201)
}
