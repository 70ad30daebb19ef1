package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mnemohq/mnemo"
)

// storeWithOneMemory opens a store in a temporary directory holding one
// memory last accessed at its creation.
func storeWithOneMemory(t *testing.T) (*Store, string, *mnemo.Memory) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "memories.db")
	st, err := OpenStore(ctx, path, "m", 4)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &mnemo.Memory{ID: "00000000-0000-4000-8000-000000000001", Content: "x", Type: "Context",
		Timestamp: t0, TValid: t0, UpdatedAt: t0, LastAccessed: t0}
	if err := create(ctx, st, []*mnemo.Memory{m}); err != nil {
		t.Fatal(err)
	}
	return st, path, m
}

// Access times show at once, reach the disk within a second or at Close,
// and never move backwards.
func TestTouchIsVisibleAtOnceAndWrittenLater(t *testing.T) {
	ctx := context.Background()
	st, path, m := storeWithOneMemory(t)
	t0 := m.LastAccessed
	later, earlier := t0.Add(time.Hour), t0.Add(time.Minute)
	st.Touch(ctx, []string{m.ID}, later)
	st.Touch(ctx, []string{m.ID}, earlier) // an older touch does not win
	got, err := st.Memory(ctx, m.ID)
	if err != nil || !got.LastAccessed.Equal(later) {
		t.Fatalf("last_accessed = %v (%v), want %v at once", got.LastAccessed, err, later)
	}
	list, _ := st.List(ctx, mnemo.Filter{}, mnemo.OrderImportance, 10, 0)
	if len(list) != 1 || !list[0].LastAccessed.Equal(later) {
		t.Fatalf("List does not show the touch: %+v", list)
	}
	var onDisk int64
	st.db.reader.QueryRowContext(ctx, `SELECT last_accessed FROM memories`).Scan(&onDisk)
	if onDisk != micros(t0) {
		t.Fatalf("written before the flush: %v", fromMicros(onDisk))
	}
	deadline := time.Now().Add(5 * time.Second)
	for onDisk != micros(later) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		st.db.reader.QueryRowContext(ctx, `SELECT last_accessed FROM memories`).Scan(&onDisk)
	}
	if onDisk != micros(later) {
		t.Fatalf("not flushed within a second: %v", fromMicros(onDisk))
	}

	// A touch pending at Close is written by Close.
	last := t0.Add(2 * time.Hour)
	st.Touch(ctx, []string{m.ID}, last)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = OpenStore(ctx, path, "m", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, _ := st.Memory(ctx, m.ID); !got.LastAccessed.Equal(last) {
		t.Fatalf("after reopen last_accessed = %v, want %v", got.LastAccessed, last)
	}
}

// Close waits for a timer flush that has already taken its batch, so the
// access times it holds reach the disk rather than a closed database.
func TestCloseWaitsForARunningTouchFlush(t *testing.T) {
	ctx := context.Background()
	st, path, m := storeWithOneMemory(t)
	t0 := m.LastAccessed
	// Hold the writer, so that the timer's flush takes its batch and waits.
	release := make(chan struct{})
	held := make(chan error, 1)
	go func() { held <- st.db.write(ctx, func(*txn) error { <-release; return nil }) }()
	queued := func(n int) bool {
		st.db.wmu.Lock()
		defer st.db.wmu.Unlock()
		return st.db.committing && len(st.db.queue) == n
	}
	for deadline := time.Now().Add(5 * time.Second); !queued(0); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the holding write never started")
		}
	}
	later := t0.Add(time.Hour)
	st.Touch(ctx, []string{m.ID}, later)
	for deadline := time.Now().Add(5 * time.Second); !queued(1); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the timer's flush never queued")
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	time.Sleep(50 * time.Millisecond) // Close has begun
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(ctx, path, "m", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.Memory(ctx, m.ID); err != nil || !got.LastAccessed.Equal(later) {
		t.Fatalf("after Close, last_accessed = %v (%v), want %v", got.LastAccessed, err, later)
	}
}
