// Package stopwords holds every list of words mnemo leaves out of a text,
// one list per purpose, so that a reader finds them all in one place and
// sees how they differ. The lists are fixed: each one is part of a
// behaviour that tests, stored data or a published number depend on, and
// the comment on each says which.
//
// The LoCoMo benchmark's BM25 reference keeps its own list in
// internal/locomo: it belongs to the reference, not to mnemo.
package stopwords

import "strings"

// A Set is a fixed set of lower-case words.
type Set struct{ words map[string]bool }

// Has reports whether w, lower-case, is in s.
func (s Set) Has(w string) bool { return s.words[w] }

// Len is the number of words in s.
func (s Set) Len() int { return len(s.words) }

func newSet(lists ...string) Set {
	s := Set{words: map[string]bool{}}
	for _, l := range lists {
		for _, w := range strings.Fields(l) {
			s.words[w] = true
		}
	}
	return s
}

// AutoMemKeywords is AutoMem's extract_keywords stopword list, kept word for
// word for compatibility: recall's "keywords" field and the tag and exact
// score components use the keywords it leaves. (The AutoMem reference says
// 26 words and lists these 25.) It is short and has no question words, so
// it is no good for search; see Search.
var AutoMemKeywords = newSet(`the and for with that this from into using have will your about after before when
	then than also just very more less over under`)

// Search are the words the keyword channel leaves out of a query, and the
// keyword score component out of its share of query words: so common that
// matching them says nothing about relevance. Besides the function words
// of HashEmbedding it has question words and vague auxiliaries ("what",
// "did", "would"), which in a question would otherwise dominate BM25.
var Search = newSet(`a an the and or but of to in on at for with by from as is are was were be been being
	it its this that these those i you he she we they me him her us them my your his our their do does did have
	has had not no so if then than too very can will just what when where who whom which why how about into
	over after before also more any some there here would could should may might must shall am get got`)

// Decomposition are the words that are never an entity or a topic when
// auto_decompose splits a question into sub-queries: the Search stopwords
// plus vague words ("thing", "really", "kind") that make poor sub-queries,
// although they are fine to search for.
var Decomposition = Search.with(`whose many much most like really thing things something anything kind sort`)

// HashEmbedding are the words the hash embedder drops before hashing
// features: articles, pronouns, auxiliaries. It is part of the definition
// of the hash-v1 vectors, so it cannot change without a new model id: every
// stored vector would stop matching new query vectors. That is why it is
// not merged with Search, which began as this list and grew question words
// when the keyword channel needed them: dropping those from the vectors too
// would change every vector and the ranking.
var HashEmbedding = newSet(`a an the and or but of to in on at for with by from as is are was were be been
	being it its this that these those i you he she we they me him her us them my your his our their
	do does did have has had not no so if then than too very can will just`)

// with returns a new set of s's words and the given ones.
func (s Set) with(words string) Set {
	out := newSet(words)
	for w := range s.words {
		out.words[w] = true
	}
	return out
}
