package falkordb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"iter"
	"time"

	"github.com/mnemohq/mnemo"
)

// Snapshot copies the tenant's graph with GRAPH.COPY (one command, so a
// consistent point in time; writes go on in the original) and reads the
// copy, which Close deletes. The copy costs as much memory as the graph
// while it lives.
func (s *Store) Snapshot(ctx context.Context, withVectors bool) (mnemo.Snapshot, error) {
	var b [8]byte
	rand.Read(b[:])
	// Not "memories_...": the copy must never pass for a tenant's graph.
	name := "mnemo:snapshot:" + s.graph().Name() + ":" + hex.EncodeToString(b[:])
	if err := s.graph().c.rdb.Do(ctx, "GRAPH.COPY", s.graph().Name(), name).Err(); err != nil {
		return nil, storeErr(classify(ctx, "GRAPH.COPY", err))
	}
	// A copy whose reader died is removed by Redis after a day.
	s.graph().c.rdb.Expire(ctx, name, snapshotTTL)
	sn := &snapshot{g: s.graph().c.Graph(name), withVectors: withVectors}
	res, err := sn.g.ROQuery(ctx, `MATCH (c:MnemoCounters) RETURN c.memories, c.relations`, nil)
	if err != nil {
		sn.Close()
		return nil, storeErr(err)
	}
	if len(res.Rows) == 1 {
		sn.memories, sn.relations = integer(res.Rows[0][0]), integer(res.Rows[0][1])
	}
	return sn, nil
}

type snapshot struct {
	g                   *Graph
	withVectors         bool
	memories, relations int64
}

// snapshotTTL bounds how long a snapshot's copy outlives a reader that
// never closed it.
const snapshotTTL = 24 * time.Hour

// snapshotPage is how many memories or relations one query reads.
const snapshotPage = 500

func (sn *snapshot) Counts() (int64, int64) { return sn.memories, sn.relations }

func (sn *snapshot) Memories() iter.Seq2[*mnemo.Memory, error] {
	return func(yield func(*mnemo.Memory, error) bool) {
		ctx := context.Background()
		after := int64(-1)
		for {
			res, err := sn.g.ROQuery(ctx, `MATCH (m:Memory) WHERE m.mnemo_seq > $after
				RETURN properties(m), m.mnemo_seq ORDER BY m.mnemo_seq LIMIT $n`, Params{"after": after, "n": snapshotPage})
			if err != nil {
				yield(nil, storeErr(err))
				return
			}
			for _, r := range res.Rows {
				m, err := decodeMemory(r[0])
				if err == nil && sn.withVectors {
					withVector(m, r[0])
				}
				if !yield(m, err) || err != nil {
					return
				}
				after = integer(r[1])
			}
			if len(res.Rows) < snapshotPage {
				return
			}
		}
	}
}

func (sn *snapshot) Relations() iter.Seq2[mnemo.Relation, error] {
	return func(yield func(mnemo.Relation, error) bool) {
		ctx := context.Background()
		for skip := 0; ; skip += snapshotPage {
			res, err := sn.g.ROQuery(ctx, `MATCH (a:Memory)-[r]->(b:Memory)
				RETURN a.id, type(r), b.id, properties(r) ORDER BY a.id, type(r), b.id SKIP $skip LIMIT $n`,
				Params{"skip": skip, "n": snapshotPage})
			if err != nil {
				yield(mnemo.Relation{}, storeErr(err))
				return
			}
			for _, r := range res.Rows {
				rel, err := decodeRelation(r[0], r[1], r[2], r[3])
				if !yield(rel, err) || err != nil {
					return
				}
			}
			if len(res.Rows) < snapshotPage {
				return
			}
		}
	}
}

func (sn *snapshot) Close() error {
	return storeErr(sn.g.Delete(context.Background()))
}
