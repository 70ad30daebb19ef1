package stopwords

import "testing"

// The lists are fixed (see each one's comment); these sizes make a change
// to one a deliberate act.
func TestSizes(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  Set
		want int
	}{
		{"AutoMemKeywords", AutoMemKeywords, 25},
		{"Search", Search, 91},
		{"Decomposition", Decomposition, 103},
		{"HashEmbedding", HashEmbedding, 62},
	} {
		if got := tt.set.Len(); got != tt.want {
			t.Errorf("%s has %d words, want %d", tt.name, got, tt.want)
		}
	}
}

// The relations the comments state: HashEmbedding is within Search, and
// Decomposition is Search plus filler.
func TestInclusions(t *testing.T) {
	for w := range HashEmbedding.words {
		if !Search.Has(w) {
			t.Errorf("%q: in HashEmbedding, not in Search", w)
		}
	}
	for w := range Search.words {
		if !Decomposition.Has(w) {
			t.Errorf("%q: in Search, not in Decomposition", w)
		}
	}
	for _, w := range []string{"what", "would", "got"} {
		if HashEmbedding.Has(w) || !Search.Has(w) {
			t.Errorf("%q: the question words are Search's alone", w)
		}
	}
	if !AutoMemKeywords.Has("using") || Search.Has("using") {
		t.Errorf(`"using" is AutoMem's stopword, not a search one`)
	}
}
