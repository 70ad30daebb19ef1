package locomo

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// sample has the data's known problems: several ids in one string, "D:1:2",
// a zero-padded turn, and an id that names no turn.
const sample = `[{"sample_id":"conv-x","conversation":{"speaker_a":"A","speaker_b":"B",
 "session_1_date_time":"1:56 pm on 8 May, 2023",
 "session_1":[{"speaker":"A","dia_id":"D1:1","text":"hello there"},{"speaker":"B","dia_id":"D1:2","text":"general kenobi","blip_caption":"a robot"}],
 "session_2_date_time":"10:00 am on 9 May, 2023",
 "session_2":[{"speaker":"A","dia_id":"D2:1","text":"tea or coffee"}]},
 "qa":[{"question":"q1","answer":"x","evidence":["D1:1; D2:1"],"category":1},
       {"question":"q2","answer":"x","evidence":["D:1:2","D2:01","D9:9"],"category":4},
       {"question":"q3","adversarial_answer":"x","evidence":["D1:1"],"category":5}]}]`

func TestLoadNormalisesEvidence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locomo.json")
	os.WriteFile(path, []byte(sample), 0o600)
	convs, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c := convs[0]
	if c.ID != "conv-x" || len(c.Turns) != 3 || c.Turns[2].DiaID != "D2:1" {
		t.Fatalf("turns: %+v", c.Turns)
	}
	if want := time.Date(2023, 5, 8, 13, 56, 0, 0, time.UTC); !c.Turns[0].When.Equal(want) || !c.Turns[1].When.Equal(want) {
		t.Fatalf("session date %v, want %v for every turn of the session", c.Turns[1].When, want)
	}
	if c.Turns[1].Content() != "B: general kenobi [Image: a robot]" {
		t.Fatalf("content %q", c.Turns[1].Content())
	}
	got := [][]string{c.Questions[0].Evidence, c.Questions[1].Evidence}
	if want := [][]string{{"D1:1", "D2:1"}, {"D1:2", "D2:1"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("evidence %v, want %v", got, want)
	}
}

func TestMetrics(t *testing.T) {
	var m Metrics
	m.Add([]string{"a", "x", "b"}, []string{"b", "a"}) // both found, first at rank 1
	m.Add([]string{"x", "y"}, []string{"y"})           // found at rank 2
	m.Add([]string{"x"}, []string{"z"})                // not found
	r := m.Row()
	ndcg1 := (1 + 1/math.Log2(4)) / (1 + 1/math.Log2(3))
	ndcg2 := (1 / math.Log2(3)) / 1
	want := [5]float64{0.5 / 3, 2.0 / 3, 2.0 / 3, (ndcg1 + ndcg2) / 3, 1.5 / 3}
	for i := range want {
		if math.Abs(r[i]-want[i]) > 1e-12 {
			t.Errorf("metric %d = %v, want %v", i, r[i], want[i])
		}
	}
}

func TestBM25RanksRareWordsFirstAndDropsStopwords(t *testing.T) {
	b := NewBM25([]string{"the cat sat", "the dog sat", "a zebra ate the grass", "what is this"})
	if got := b.Top("what did the zebra eat", 10); !reflect.DeepEqual(got, []int{2}) {
		t.Fatalf("top %v, want [2]: only 'zebra' counts", got)
	}
	if got := b.Top("cat sat", 10); !reflect.DeepEqual(got, []int{0, 1}) {
		t.Fatalf("top %v, want [0 1]", got)
	}
}

// TestItemsCarryTheSession: each turn is stored with its session as a
// conversation key, so recall's neighbour step stays within the session.
func TestItemsCarryTheSession(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locomo.json")
	if err := os.WriteFile(path, []byte(sample), 0o600); err != nil {
		t.Fatal(err)
	}
	convs, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	items := convs[0].Items()
	if len(items) != 3 {
		t.Fatalf("%d items, want one per turn (3)", len(items))
	}
	last := items[2]
	if got := last["tags"]; !reflect.DeepEqual(got, []any{"speaker:a", "session:2"}) {
		t.Errorf("tags %v, want the speaker and session:2", got)
	}
	md := last["metadata"].(map[string]any)
	if md["session_id"] != 2 || md["conversation_id"] != "conv-x" || md["dia_id"] != "D2:1" {
		t.Errorf("metadata %v, want session_id 2, conversation_id conv-x, dia_id D2:1", md)
	}
	if last["content"] != "A: tea or coffee" || last["timestamp"] != convs[0].Turns[2].When.Format(time.RFC3339) {
		t.Errorf("content %q timestamp %q", last["content"], last["timestamp"])
	}
}
