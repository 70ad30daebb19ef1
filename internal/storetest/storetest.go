// Package storetest is the contract of the storage seam, written once
// for every backend: TestMemoryStore holds an implementation of
// mnemo.MemoryStore to the behaviour documented on the interface (and to
// what service/ and recall/ rely on where the documentation is silent,
// said at each such test), and TestStores does the same for mnemo.Stores.
// A backend's tests call them with a constructor of fresh stores; every
// backend must pass them, so that the service behaves the same on each.
//
// The tests go through the interfaces only. What is a backend's own
// choice (raw keyword scores, the bytes a store takes on disk, its
// full-text tokenizer's treatment of punctuation) is asserted as
// properties, not numbers: ranking order, deltas, consistency.
package storetest

import (
	"testing"

	"github.com/mnemohq/mnemo"
)

// TestMemoryStore runs the contract of mnemo.MemoryStore. open must return
// a new, empty store of its own tenant, opened for the embedding model
// Model of dimension Dim, and close it when t ends; a subtest may open
// several. The data are deterministic: a fixed clock, seeded randomness,
// UUID-shaped ids.
func TestMemoryStore(t *testing.T, open func(t *testing.T) mnemo.MemoryStore) {
	for _, c := range memoryStoreCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open) })
	}
}

type contractCase struct {
	name string
	run  func(t *testing.T, open func(t *testing.T) mnemo.MemoryStore)
}

// memoryStoreCases lists the subtests by method; each file holds one
// group.
var memoryStoreCases = []contractCase{
	// write.go
	{"Write/RoundTrip", testRoundTrip},
	{"Write/CreateIsAllOrNothing", testCreateIsAllOrNothing},
	{"Write/Update", testUpdate},
	{"Write/UpdateEmbedding", testUpdateEmbedding},
	{"Write/Relate", testRelate},
	{"Write/Supersede", testSupersede},
	{"Write/Added", testWriteAdded},
	{"Write/Quotas", testQuotas},
	{"Write/Concurrent", testConcurrentWrites},
	{"Memories", testMemories},
	{"Delete", testDelete},
	{"DeleteMatching", testDeleteMatching},
	{"Stats", testStatsAfterEveryWrite},
	// list.go
	{"List/Orders", testListOrders},
	{"List/FilterMatches", testFilterAgreement},
	{"Adjacent", testAdjacent},
	{"Touch", testTouch},
	// search.go
	{"Keyword/Ranking", testKeywordRanking},
	{"Keyword/UserTextIsNeverSyntax", testKeywordUserText},
	{"Keyword/FollowsWrites", testKeywordFollowsWrites},
	{"Nearest/Exact", testNearestExact},
	{"Nearest/ScopeNeverMisses", testNearestScope},
	{"Nearest/ZeroVectors", testNearestZeroVectors},
	{"Nearest/FollowsWrites", testNearestFollowsWrites},
	{"Unembedded", testUnembedded},
	// relations.go
	{"Neighbors", testNeighbors},
	{"Relations", testRelations},
	// portability.go
	{"Snapshot", testSnapshot},
	{"Snapshot/Consistent", testSnapshotConsistent},
	{"Import", testImport},
	{"Import/AllOrNothing", testImportAllOrNothing},
	{"Import/Quotas", testImportQuotas},
}
