package service

import "github.com/mnemohq/mnemo/recall"

// What a heavy request costs its tenant's rate limit, in requests; every
// other request costs one. docs/operations.md lists these.

// perBatchToken is how many items of a batch (store or associate) one
// request's worth of rate limit pays for.
const perBatchToken = 50

func batchWeight(items int) int { return max(1, (items+perBatchToken-1)/perBatchToken) }

// recallWeight is one, and one more for each extra query and each kind of
// expansion.
func recallWeight(q *recall.Query) int {
	n := 1 + max(len(q.Queries)-1, 0)
	if q.ExpandRelations {
		n++
	}
	if q.ExpandEntities {
		n++
	}
	return n
}

// relatedWeight is one per hop.
func relatedWeight(depth int) int { return depth }
