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

// feature is one hashed feature: its key's hash, how often it occurs and
// its weight.
type feature struct {
	hash   uint64
	count  float64
	weight float64
}

func (h *Hash) embed(text string) []float32 {
	// Features are keyed by the FNV-1a hash of "w:word", "b:prev word" or
	// "c:gram", computed without building those strings, and summed in the
	// order first seen, so the same text always gives bit-for-bit the same
	// vector (map order would vary the rounding).
	var features []feature
	index := map[uint64]int{}
	add := func(hv uint64, weight float64) {
		if i, ok := index[hv]; ok {
			features[i].count++
			return
		}
		index[hv] = len(features)
		features = append(features, feature{hash: hv, count: 1, weight: weight})
	}
	var words []string
	for _, w := range Words(text) {
		if !stopwords.HashEmbedding.Has(w) {
			words = append(words, w)
		}
	}
	var buf []byte
	for i, w := range words {
		add(fnv1aString(fnv1aString(fnvOffset, "w:"), w), 1)
		if i > 0 {
			add(fnv1aString(fnv1aString(fnv1aString(fnv1aString(fnvOffset, "b:"), words[i-1]), " "), w), 0.5)
		}
		// Character 3-, 4- and 5-grams of "<word>", by rune.
		buf = append(append(append(buf[:0], '<'), w...), '>')
		var starts []int
		for j := range string(buf) {
			starts = append(starts, j)
		}
		starts = append(starts, len(buf))
		runes := len(starts) - 1
		for n := 3; n <= 5; n++ {
			for j := 0; j+n <= runes; j++ {
				add(fnv1aBytes(fnv1aString(fnvOffset, "c:"), buf[starts[j]:starts[j+n]]), 0.35)
			}
		}
	}
	vec := make([]float32, h.dim)
	for _, f := range features {
		sign := float32(1)
		if splitmix(f.hash)&1 == 1 {
			sign = -1
		}
		vec[f.hash%uint64(h.dim)] += sign * float32(f.weight*(1+math.Log(f.count)))
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

const fnvOffset = uint64(14695981039346656037)

// fnv1aString continues an FNV-1a hash h over s.
func fnv1aString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// fnv1aBytes continues an FNV-1a hash h over b.
func fnv1aBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
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
