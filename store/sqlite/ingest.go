package sqlite

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tlsrpt/tlsrpt/store"
)

// Ingest stores a batch of inputs in one transaction: all of them or, on
// error, none. The transaction is committed and synced to disk (syncWAL)
// before Ingest returns, so a caller may acknowledge what it returns.
//
// A batch is assembled in memory (batch.go) and written with a few
// multi-row statements per table: with an embedded engine, the cost of a
// statement, not of a row, is what limits a writer.
//
// The write protocol has two ways, and one state, lookFirst, says which:
//
//   - optimistic (lookFirst clear): most batches hold no report stored
//     before, and no input whose bytes are kept already. Such a batch is assembled before taking the writer's lock,
//     with ids counted from zero that are shifted once the lock is held,
//     so that concurrent callers assemble while another writes. The
//     reports' unique key (organisation, report-id, variant) is checked by
//     their inserts, and an input's content (input_hashes) likewise: should
//     one meet a stored report or kept content, the transaction is rolled
//     back (errStoredBefore), lookFirst is set and the batch goes the
//     careful way.
//   - careful (lookFirst set, or inputs being reprocessed): under the
//     writer's lock, the batch's keys and contents are looked up first
//     (storedVariants, keptContents) and the batch is assembled knowing
//     them: a stored key with the same fingerprint is a duplicate, with
//     another fingerprint another report (store.ReusedIDWarning); kept
//     content is an arrival, not a new input. A careful batch that met
//     neither clears lookFirst.
func (db *DB) Ingest(ctx context.Context, inputs []store.Input) ([]store.Result, error) {
	results, err := db.ingest(ctx, inputs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: storing %d inputs: %w", len(inputs), err)
	}
	return results, nil
}

func (db *DB) ingest(ctx context.Context, inputs []store.Input) ([]store.Result, error) {
	reprocess := slices.ContainsFunc(inputs, func(in store.Input) bool { return in.ID != 0 })
	if !reprocess && !db.lookFirst.Load() {
		results, err := db.ingestOptimistic(ctx, inputs)
		if !errors.Is(err, errStoredBefore) {
			return results, err
		}
		db.lookFirst.Store(true)
	}
	results, metStored, err := db.ingestCareful(ctx, inputs)
	if err == nil && !metStored {
		db.lookFirst.Store(false)
	}
	return results, err
}

// errStoredBefore is what writing a batch assembled without looking
// returns when one of its reports' keys is stored already.
var errStoredBefore = errors.New("a report of the batch is stored already")

// ingestOptimistic stores inputs assuming none of their reports' keys is
// stored: a key stored before ends the transaction with errStoredBefore
// (see tableRows.whole), nothing written.
func (db *DB) ingestOptimistic(ctx context.Context, inputs []store.Input) ([]store.Result, error) {
	b := db.assemble(inputs, 0, 0, map[reportKey][]variant{}, map[[32]byte]int64{}, map[int64]bool{})
	err := db.inWriteTx(ctx, func() error {
		nextInput, nextReport, err := db.lastIDs()
		if err != nil {
			return err
		}
		b.shift(nextInput+1, nextReport+1)
		return b.write(ctx, db)
	})
	if err != nil {
		return nil, err
	}
	return b.results, nil
}

// ingestCareful stores inputs knowing which of their reports' keys are
// stored, looked up under the writer's lock, and says whether any was.
func (db *DB) ingestCareful(ctx context.Context, inputs []store.Input) ([]store.Result, bool, error) {
	var b *batch
	var metStored bool
	err := db.inWriteTx(ctx, func() error {
		nextInput, nextReport, err := db.lastIDs()
		if err != nil {
			return err
		}
		stored, err := db.storedVariants(batchKeys(inputs))
		if err != nil {
			return err
		}
		kept, taken, err := db.keptContents(inputs)
		if err != nil {
			return err
		}
		metStored = len(stored) > 0 || len(taken) > 0
		b = db.assemble(inputs, nextInput+1, nextReport+1, stored, kept, taken)
		return b.write(ctx, db)
	})
	if err != nil {
		return nil, false, err
	}
	return b.results, metStored, nil
}

const sqlLastIDs = `SELECT (SELECT coalesce(max(id), 0) FROM inputs), (SELECT coalesce(max(id), 0) FROM reports)`

// lastIDs returns the largest input and report ids, on the writer. Writes
// are serialised (db.mu), so ids can be handed out from them.
func (db *DB) lastIDs() (input, report int64, err error) {
	st, err := db.prepared(sqlLastIDs)
	if err != nil {
		return 0, 0, err
	}
	err = st.Query(nil, func() error {
		input, report = st.Int64(0), st.Int64(1)
		return nil
	})
	return input, report, err
}

// reportKey and variant are store's: how a report is known, and one
// report stored under a key.
type (
	reportKey = store.ReportKey
	variant   = store.Variant
)

func batchKeys(inputs []store.Input) []reportKey {
	var keys []reportKey
	seen := map[reportKey]bool{}
	for i := range inputs {
		for _, r := range inputs[i].Reports {
			k := reportKey{Org: r.OrganizationName, ID: r.ReportID}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// keysPerQuery is how many keys one look-up statement takes.
const keysPerQuery = 400

var sqlStoredVariants = `SELECT organization_name, report_id, variant, fingerprint, id FROM reports
WHERE (organization_name, report_id) IN (VALUES ` + placeholders(keysPerQuery, 2) + `)`

// storedVariants returns the stored reports under each of keys that has
// any, on the writer, under db.mu. A short last lot repeats its last key
// to fill the statement, so one prepared statement serves every size.
func (db *DB) storedVariants(keys []reportKey) (map[reportKey][]variant, error) {
	found := map[reportKey][]variant{}
	st, err := db.prepared(sqlStoredVariants)
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, 2*keysPerQuery)
	for len(keys) > 0 {
		n := min(len(keys), keysPerQuery)
		args = args[:0]
		for i := range keysPerQuery {
			k := keys[min(i, n-1)]
			args = append(args, k.Org, k.ID)
		}
		err := st.Query(args, func() error {
			k := reportKey{Org: st.Text(0), ID: st.Text(1)}
			v := variant{Number: st.Int64(2), ID: st.Int64(4), Row: -1}
			copy(v.Fingerprint[:], st.Text(3))
			found[k] = append(found[k], v)
			return nil
		})
		if err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return found, nil
}

var sqlKeptContents = `SELECT h.content_key, h.input_id, i.sha256 FROM input_hashes h JOIN inputs i ON i.id = h.input_id
WHERE h.content_key IN (` + strings.TrimSuffix(strings.Repeat("?,", keysPerQuery), ",") + `)`

// keptContents returns, on the writer under db.mu, the inputs holding the
// contents of the new inputs that are kept already, and the content keys
// of theirs that are taken (by them, or by another content).
func (db *DB) keptContents(inputs []store.Input) (map[[32]byte]int64, map[int64]bool, error) {
	var keys []int64
	for i := range inputs {
		if inputs[i].ID == 0 {
			sum := sha256.Sum256(inputs[i].Data)
			keys = append(keys, contentKey(sum[:]))
		}
	}
	kept, taken := map[[32]byte]int64{}, map[int64]bool{}
	st, err := db.prepared(sqlKeptContents)
	if err != nil {
		return nil, nil, err
	}
	args := make([]any, keysPerQuery)
	for len(keys) > 0 {
		n := min(len(keys), keysPerQuery)
		for i := range keysPerQuery {
			args[i] = keys[min(i, n-1)]
		}
		err := st.Query(args, func() error {
			var sum [32]byte
			copy(sum[:], st.Text(2))
			kept[sum] = st.Int64(1)
			taken[st.Int64(0)] = true
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		keys = keys[n:]
	}
	return kept, taken, nil
}
