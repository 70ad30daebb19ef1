package sqlite

import (
	"context"

	"github.com/mnemohq/mnemo"
)

// create, update and relate are the store's writes one kind at a time.
func create(ctx context.Context, s mnemo.MemoryStore, mems []*mnemo.Memory) error {
	_, err := s.Write(ctx, mnemo.Write{Create: mems}, mnemo.Quotas{})
	return err
}

func update(ctx context.Context, s mnemo.MemoryStore, m *mnemo.Memory) error {
	_, err := s.Write(ctx, mnemo.Write{Update: []*mnemo.Memory{m}}, mnemo.Quotas{})
	return err
}

func relateAll(ctx context.Context, s mnemo.MemoryStore, rels []mnemo.Relation) error {
	_, err := s.Write(ctx, mnemo.Write{Relate: rels}, mnemo.Quotas{})
	return err
}
