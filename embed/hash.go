// Package embed provides mnemo's embedders: a deterministic hashing
// embedder that needs nothing (the offline default) and a client for any
// OpenAI-compatible /v1/embeddings endpoint.
package embed

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/mnemohq/mnemo"
	"github.com/mnemohq/mnemo/internal/stopwords"
)

// Hash is a feature-hashing embedder: word unigrams, word bigrams and
// character 3-5-grams of each word (stopwords.HashEmbedding left out, before
// the bigrams are formed), with sublinear term frequency, hashed
// with a sign into Dim buckets and scaled to unit length. It is lexical and
// morphology-aware ("migration" ~ "migrations"), deterministic and fast, but
// knows no synonyms: "car" and "automobile" are unrelated to it.
type Hash struct {
	dim int
}

var _ mnemo.Embedder = (*Hash)(nil)

// NewHash returns a hashing embedder of the given dimension.
func NewHash(dim int) *Hash { return &Hash{dim: dim} }

// Model names the algorithm and dimension, so vectors from another
// configuration are never compared with these.
func (h *Hash) Model() string { return fmt.Sprintf("hash-v1-%d", h.dim) }

// Dim returns the vector dimension.
func (h *Hash) Dim() int { return h.dim }

// Embed returns one vector per text.
func (h *Hash) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = h.embed(t)
	}
	return out, nil
}

// Words splits text into lower-cased words of letters and digits.
func Words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

type feature struct {
	count  float64
	weight float64
}

func (h *Hash) embed(text string) []float32 {
	// Features are summed in the order first seen, so the same text always
	// gives bit-for-bit the same vector (map order would vary the rounding).
	features := map[string]*feature{}
	var order []string
	add := func(key string, weight float64) {
		f := features[key]
		if f == nil {
			f = &feature{weight: weight}
			features[key] = f
			order = append(order, key)
		}
		f.count++
	}
	var words []string
	for _, w := range Words(text) {
		if !stopwords.HashEmbedding.Has(w) {
			words = append(words, w)
		}
	}
	for i, w := range words {
		add("w:"+w, 1)
		if i > 0 {
			add("b:"+words[i-1]+" "+w, 0.5)
		}
		grams := charGrams(w)
		for _, g := range grams {
			add("c:"+g, 0.35)
		}
	}
	vec := make([]float32, h.dim)
	for _, key := range order {
		f := features[key]
		hv := fnv1a(key)
		sign := float32(1)
		if splitmix(hv)&1 == 1 {
			sign = -1
		}
		vec[hv%uint64(h.dim)] += sign * float32(f.weight*(1+math.Log(f.count)))
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

func charGrams(w string) []string {
	r := []rune("<" + w + ">")
	var out []string
	for n := 3; n <= 5; n++ {
		for i := 0; i+n <= len(r); i++ {
			out = append(out, string(r[i:i+n]))
		}
	}
	return out
}

func fnv1a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
