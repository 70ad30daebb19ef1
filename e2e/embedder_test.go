package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeEmbeddings is an OpenAI-compatible /v1/embeddings endpoint on
// loopback: each text becomes a one-hot vector of its length modulo dim.
// While down is set it answers 503.
type fakeEmbeddings struct {
	dim   int
	down  atomic.Bool
	calls atomic.Int64
}

func (f *fakeEmbeddings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.URL.Path != "/v1/embeddings" || r.Header.Get("Authorization") != "Bearer sk-fake" {
		http.Error(w, "bad request", 400)
		return
	}
	if f.down.Load() {
		http.Error(w, `{"error":"overloaded"}`, 503)
		return
	}
	var req struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	type item struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	var data []item
	for i, text := range req.Input {
		v := make([]float32, f.dim)
		v[len(text)%f.dim] = 1
		data = append(data, item{i, v})
	}
	json.NewEncoder(w).Encode(map[string]any{"data": data, "model": req.Model})
}

// TestOpenAIEmbedderThroughTheBinary: with an OpenAI-compatible endpoint
// configured, vectors come from it; while it is down, memories are still
// stored without a made-up vector, /health shows the backlog, and the
// backfill fills it once the endpoint is back.
func TestOpenAIEmbedderThroughTheBinary(t *testing.T) {
	t.Parallel()
	fake := &fakeEmbeddings{dim: 8}
	api := httptest.NewServer(fake)
	defer api.Close()
	s := Start(t, map[string]string{
		"OPENAI_BASE_URL": api.URL + "/v1", "OPENAI_API_KEY": "sk-fake", "EMBEDDING_MODEL": "fake-model",
		"VECTOR_SIZE": "8", "MNEMO_EMBED_RETRY_INTERVAL": "100ms",
	})
	s.CreateTenant("emb", "embedding-tenant-token")
	r := s.As("embedding-tenant-token", "POST", "/memory", map[string]any{"content": "abc"}).Expect(t, 201)
	if r.Body["embedding_status"] != "generated" || r.Body["qdrant"] != "stored" {
		t.Fatalf("store with a live endpoint: %s", r.Raw)
	}
	health := s.As("embedding-tenant-token", "GET", "/health", nil).Expect(t, 200)
	if health.Body["embedding"].(map[string]any)["model"] != "openai:fake-model:8" || health.Body["status"] != "healthy" {
		t.Fatalf("health: %s", health.Raw)
	}

	fake.down.Store(true)
	r = s.As("embedding-tenant-token", "POST", "/memory", map[string]any{"content": "abcdefgh"}).Expect(t, 201)
	if r.Body["embedding_status"] != "queued" || r.Body["qdrant"] != "queued" {
		t.Fatalf("store with the endpoint down: %s", r.Raw)
	}
	down := r.Body["memory_id"].(string)
	health = s.As("embedding-tenant-token", "GET", "/health", nil).Expect(t, 200)
	if health.Body["status"] != "degraded" || health.Body["embedding"].(map[string]any)["backlog"] != float64(1) ||
		health.Body["memory_count"] != float64(2) || health.Body["vector_count"] != float64(1) {
		t.Fatalf("health while down: %s", health.Raw)
	}
	// Recall still answers, from the keyword channel, and says the vector
	// channel was skipped.
	rec := s.As("embedding-tenant-token", "GET", "/recall?query=abcdefgh", nil).Expect(t, 200)
	if !strings.Contains(string(rec.Raw), down) || rec.Body["vector_search"].(map[string]any)["enabled"] != false {
		t.Fatalf("recall while down: %s", rec.Raw)
	}

	// Without a key, /health shows the service-wide backlog once the
	// backfill has passed over the tenants (every 100 ms here), no tenant named.
	serviceBacklog := func() any {
		h := s.Do("GET", "/health", nil).Expect(t, 200)
		if _, named := h.Body["tenant_id"]; named {
			t.Fatalf("keyless health names a tenant: %s", h.Raw)
		}
		return h.Body["embedding"].(map[string]any)["backlog"]
	}
	waitFor := func(what string, want float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for serviceBacklog() != want {
			if time.Now().After(deadline) {
				t.Fatalf("service backlog never reached %v (%s)", want, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("endpoint down", 1)

	fake.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		health = s.As("embedding-tenant-token", "GET", "/health", nil).Expect(t, 200)
		if health.Body["vector_count"] == float64(2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backfill did not catch up: %s", health.Raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor("endpoint back", 0)
	if health.Body["status"] != "healthy" || health.Body["embedding"].(map[string]any)["backlog"] != float64(0) {
		t.Fatalf("health after backfill: %s", health.Raw)
	}
	// The backfilled vector is the endpoint's: a query embedding of the same
	// length (8 characters → the same one-hot) finds it with similarity 1.
	rec = s.As("embedding-tenant-token", "GET", "/recall?query=zzzzzzzz&limit=1", nil).Expect(t, 200)
	row := rec.Body["results"].([]any)[0].(map[string]any)
	if row["id"] != down || row["score_components"].(map[string]any)["vector"] != float64(1) {
		t.Fatalf("backfilled vector not searchable: %s", rec.Raw)
	}

	// Content changed while the endpoint is down: the stale vector goes,
	// and comes back computed from the new content.
	fake.down.Store(true)
	s.As("embedding-tenant-token", "PATCH", "/memory/"+down, map[string]any{"content": "abcdefghij"}).Expect(t, 200)
	health = s.As("embedding-tenant-token", "GET", "/health", nil).Expect(t, 200)
	if health.Body["vector_count"] != float64(1) {
		t.Fatalf("stale vector kept after a failed re-embed: %s", health.Raw)
	}
}
