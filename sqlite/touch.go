package sqlite

import (
	"context"
	"encoding/json"
	"time"

	"github.com/mnemohq/mnemo"
)

// Touch records last_accessed for the given memories. A read should not
// wait for a disk flush, so touches are kept in memory, shown by every read
// at once, and written in one transaction a second later (or at Close). A
// crash can lose the last second of access times, never a stored memory.
func (s *Store) Touch(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	if s.touched == nil {
		s.touched = map[string]time.Time{}
	}
	for _, id := range ids {
		if cur, ok := s.touched[id]; !ok || at.After(cur) {
			s.touched[id] = at
		}
	}
	if s.touchTimer == nil && !s.closed {
		s.touchFlushes.Add(1) // Close waits for it
		s.touchTimer = time.AfterFunc(time.Second, func() {
			defer s.touchFlushes.Done()
			if err := s.flushTouches(context.Background()); err != nil && s.logger != nil {
				s.logger.Warn("write last_accessed", "err", err)
			}
		})
	}
	return nil
}

// flushTouches writes the pending access times.
func (s *Store) flushTouches(ctx context.Context) error {
	s.touchMu.Lock()
	pending := s.touched
	s.touched, s.touchTimer = nil, nil
	s.touchMu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	pairs := make([][2]any, 0, len(pending))
	for id, at := range pending {
		pairs = append(pairs, [2]any{id, micros(at)})
	}
	list, _ := json.Marshal(pairs)
	err := s.db.write(ctx, func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE memories SET last_accessed = max(last_accessed, j.value ->> 1)
			FROM json_each(?) j WHERE memories.id = j.value ->> 0`, string(list))
		return err
	})
	if err != nil {
		// Keep them for the next flush rather than lose them.
		s.touchMu.Lock()
		if s.touched == nil {
			s.touched = map[string]time.Time{}
		}
		for id, at := range pending {
			if cur, ok := s.touched[id]; !ok || at.After(cur) {
				s.touched[id] = at
			}
		}
		s.touchMu.Unlock()
	}
	return err
}

// forgetTouches drops the pending access times of memories just created
// (mems, or ids): a touch of an id that did not exist yet, or of a memory
// deleted since, must not show on a new memory of that id. A flush that
// took its batch before the create may still apply it; that window is one
// write long.
func (s *Store) forgetTouches(mems []*mnemo.Memory, ids []string) {
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	if len(s.touched) == 0 {
		return
	}
	for _, m := range mems {
		delete(s.touched, m.ID)
	}
	for _, id := range ids {
		delete(s.touched, id)
	}
}
