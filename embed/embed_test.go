package embed_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/mnemohq/mnemo/embed"
	"github.com/mnemohq/mnemo/internal/stopwords"
)

func cosine(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

func TestHashIsDeterministicUnitLength(t *testing.T) {
	h := embed.NewHash(768)
	if h.Model() != "hash-v1-768" || h.Dim() != 768 {
		t.Fatalf("model %q dim %d", h.Model(), h.Dim())
	}
	a, _ := h.Embed(context.Background(), []string{"Deployed the API to production on Friday", ""})
	b, _ := h.Embed(context.Background(), []string{"Deployed the API to production on Friday"})
	for i := range a[0] {
		if a[0][i] != b[0][i] {
			t.Fatalf("not deterministic at %d", i)
		}
	}
	var n float64
	for _, v := range a[0] {
		n += float64(v) * float64(v)
	}
	if math.Abs(n-1) > 1e-5 {
		t.Fatalf("norm² = %v, want 1", n)
	}
	for _, v := range a[1] {
		if v != 0 {
			t.Fatal("empty text must embed to the zero vector")
		}
	}
}

// The hash embedder is lexical: related wordings are close, unrelated ones
// are not, and synonyms are not recognised (the docs say so).
func TestHashSimilarityIsLexical(t *testing.T) {
	h := embed.NewHash(768)
	v, _ := h.Embed(context.Background(), []string{
		"User prefers dark mode in the editor",
		"The user likes dark mode for the code editor",
		"running the migration scripts",
		"we ran migrations script",
		"Alice is allergic to peanuts",
		"I bought a new car",
		"purchased an automobile",
	})
	if c := cosine(v[0], v[1]); c < 0.4 {
		t.Errorf("paraphrase cosine %.3f, want >= 0.4", c)
	}
	if c := cosine(v[2], v[3]); c < 0.3 {
		t.Errorf("morphology cosine %.3f, want >= 0.3", c)
	}
	if c := cosine(v[0], v[4]); math.Abs(c) > 0.1 {
		t.Errorf("unrelated cosine %.3f, want about 0", c)
	}
	if c := cosine(v[5], v[6]); math.Abs(c) > 0.1 {
		t.Errorf("synonym cosine %.3f: the hash embedder should not know synonyms", c)
	}
}

func TestOpenAISendsModelAndReadsVectorsInIndexOrder(t *testing.T) {
	var got struct {
		Model      string   `json:"model"`
		Input      []string `json:"input"`
		Dimensions *int     `json:"dimensions"`
	}
	var auth, path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, path = r.Header.Get("Authorization"), r.URL.Path
		raw, _ := io.ReadAll(r.Body)
		json.Unmarshal(raw, &got)
		// Answer out of order: the client must place vectors by index.
		io.WriteString(w, `{"data":[{"index":1,"embedding":[0,1,0]},{"index":0,"embedding":[1,0,0]}]}`)
	}))
	defer srv.Close()
	o := embed.NewOpenAI(srv.URL+"/v1", "sk-test", "nomic-embed-text", 3)
	vecs, err := o.Embed(context.Background(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if path != "/v1/embeddings" || auth != "Bearer sk-test" || got.Model != "nomic-embed-text" || strings.Join(got.Input, ",") != "a,b" {
		t.Fatalf("request: path %q auth %q body %+v", path, auth, got)
	}
	if got.Dimensions != nil {
		t.Fatal("dimensions must only be sent to api.openai.com")
	}
	if vecs[0][0] != 1 || vecs[1][1] != 1 {
		t.Fatalf("vectors out of order: %v", vecs)
	}
	if o.Model() != "openai:nomic-embed-text:3" {
		t.Fatalf("model id %q", o.Model())
	}
}

func TestOpenAIRejectsBadAnswers(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
		want   string
	}{
		"http error":    {500, `{"error":"boom"}`, "answered 500"},
		"wrong dim":     {200, `{"data":[{"index":0,"embedding":[1,0]}]}`, "2 dimensions, VECTOR_SIZE is 3"},
		"missing items": {200, `{"data":[]}`, "returned 0 vectors for 1 texts"},
		"bad index":     {200, `{"data":[{"index":5,"embedding":[1,0,0]}]}`, "bad index 5"},
		"not json":      {200, `nope`, "embeddings response"},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			_, err := embed.NewOpenAI(srv.URL, "", "m", 3).Embed(context.Background(), []string{"x"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// referenceEmbed is the hash embedder as first written, with the feature
// strings built: the fast one must give bit-for-bit the same vectors, or
// stored vectors of model hash-v1 would no longer match new ones.
func referenceEmbed(dim int, text string) []float32 {
	type feat struct{ count, weight float64 }
	features := map[string]*feat{}
	var order []string
	add := func(key string, weight float64) {
		f := features[key]
		if f == nil {
			f = &feat{weight: weight}
			features[key] = f
			order = append(order, key)
		}
		f.count++
	}
	var words []string
	for _, w := range embed.Words(text) {
		if !stopwords.HashEmbedding.Has(w) {
			words = append(words, w)
		}
	}
	for i, w := range words {
		add("w:"+w, 1)
		if i > 0 {
			add("b:"+words[i-1]+" "+w, 0.5)
		}
		r := []rune("<" + w + ">")
		for n := 3; n <= 5; n++ {
			for j := 0; j+n <= len(r); j++ {
				add("c:"+string(r[j:j+n]), 0.35)
			}
		}
	}
	vec := make([]float32, dim)
	for _, key := range order {
		f := features[key]
		h := uint64(14695981039346656037)
		for i := 0; i < len(key); i++ {
			h ^= uint64(key[i])
			h *= 1099511628211
		}
		x := h + 0x9e3779b97f4a7c15
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
		x = (x ^ (x >> 27)) * 0x94d049bb133111eb
		sign := float32(1)
		if (x^(x>>31))&1 == 1 {
			sign = -1
		}
		vec[h%uint64(dim)] += sign * float32(f.weight*(1+math.Log(f.count)))
	}
	var norm float64
	for _, v := range vec {
		norm += float64(v) * float64(v)
	}
	if norm > 0 {
		inv := float32(1 / math.Sqrt(norm))
		for i := range vec {
			vec[i] *= inv
		}
	}
	return vec
}

func TestHashMatchesReference(t *testing.T) {
	texts := []string{"", "the", "We chose PostgreSQL over MongoDB for billing", "migration migrations migrated",
		"café naïve résumé 東京 タワー", "a a a a repeated repeated", "emoji 😀 and ü in words", "x", "ab", "UPPER lower MiXeD 123 4567", "bad\xffutf8\xfe bytes"}
	h := embed.NewHash(256)
	vecs, _ := h.Embed(context.Background(), texts)
	for i, text := range texts {
		if want := referenceEmbed(256, text); !reflect.DeepEqual(vecs[i], want) {
			t.Errorf("%q: vector differs from the reference", text)
		}
	}
}
