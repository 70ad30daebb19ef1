package falkordb

import (
	"context"
	"sync"
	"time"

	"github.com/mnemohq/mnemo"
)

// lastAccessed gathers this process's access times per graph, for one
// write per graph a second (Store.Touch); every read of this process
// shows them until they are written.
var lastAccessed = &touches{every: time.Second}

type touches struct {
	every   time.Duration
	mu      sync.Mutex
	pending map[touchGraph]*touchBatch
	writing map[touchGraph]*touchBatch // taken by run, until written
	running bool
}

// touchGraph names a graph on one server: a process may reach several
// (tests do), whose graphs can share a name.
type touchGraph struct {
	c    *Client
	name string
}

func touchKey(g *Graph) touchGraph { return touchGraph{g.c, g.Name()} }

type touchBatch struct {
	g  *Graph
	at map[string]time.Time
}

func (t *touches) add(g *Graph, ids []string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = map[touchGraph]*touchBatch{}
	}
	b := t.pending[touchKey(g)]
	if b == nil {
		b = &touchBatch{g: g, at: map[string]time.Time{}}
		t.pending[touchKey(g)] = b
	}
	for _, id := range ids {
		if cur, ok := b.at[id]; !ok || at.After(cur) {
			b.at[id] = at
		}
	}
	if !t.running {
		t.running = true
		go t.run()
	}
}

// at returns the latest access time of id in g not yet written.
func (t *touches) at(g *Graph, id string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var latest time.Time
	var ok bool
	for _, batches := range []map[touchGraph]*touchBatch{t.writing, t.pending} {
		if b := batches[touchKey(g)]; b != nil {
			if at, found := b.at[id]; found && at.After(latest) {
				latest, ok = at, true
			}
		}
	}
	return latest, ok
}

// forget drops the pending times of mems' ids in g.
func (t *touches) forget(g *Graph, mems []*mnemo.Memory) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.pending[touchKey(g)]; b != nil {
		for _, m := range mems {
			delete(b.at, m.ID)
		}
	}
}

// run writes the batches every t.every until none is left.
func (t *touches) run() {
	for {
		time.Sleep(t.every)
		t.mu.Lock()
		batches := t.pending
		t.pending, t.writing = nil, batches
		if len(batches) == 0 {
			t.running = false
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
		for _, b := range batches {
			b.write()
		}
		t.mu.Lock()
		t.writing = nil
		t.mu.Unlock()
	}
}

// write sets each memory's time unless a later one is there; lost on error:
// an access time, never a memory. One query a flush: setting any property
// of a node whose vector is indexed re-indexes the vector (about 1 ms a
// node on the 2-core test machine, against 0.03 ms without the index), so
// a flush of hundreds of times holds the graph's write lock for a few
// hundred milliseconds, which recall's p99 shows. Cut into small queries
// it was worse (each waits for an fsync of the append-only file, which
// stalls every client): p95 2.2-2.8x embedded became 18x.
func (b *touchBatch) write() {
	if len(b.at) == 0 {
		return
	}
	rows := make([]any, 0, len(b.at))
	for id, at := range b.at {
		rows = append(rows, map[string]any{"id": id, "at": mnemo.FormatTime(at)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A write query creates a missing graph: a tenant deleted since must
	// not get an empty one back.
	if n, err := b.g.c.rdb.Exists(ctx, b.g.Name()).Result(); err != nil || n == 0 {
		return
	}
	b.g.Query(ctx, `UNWIND $rows AS r MATCH (m:Memory {id: r.id})
		WHERE m.last_accessed IS NULL OR m.last_accessed < r.at SET m.last_accessed = r.at`, Params{"rows": rows})
}
