package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sqlitedriver "modernc.org/sqlite"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

var registerSeriesAdd sync.Once

// TestCapiWritesWhatTheDriverWrites is the fence around internal/capi, the
// writer's own binding to SQLite's C API: the same batches, assembled the
// same way, are written through capi (Ingest) into one database and through
// database/sql and modernc.org/sqlite's driver into another, and every
// table of the two must be the same, row for row. The batches hold every
// kind of value capi binds: texts with NULs and non-ASCII, empty and large
// blobs, negative and large integers, and rollups that merge with stored
// rows (the series function) from the second batch on.
func TestCapiWritesWhatTheDriverWrites(t *testing.T) {
	ctx := context.Background()
	// The driver's connections get the series function capi registers.
	registerSeriesAdd.Do(func() {
		sqlitedriver.MustRegisterDeterministicScalarFunction(seriesAddFunc, 2,
			func(_ *sqlitedriver.FunctionContext, args []driver.Value) (driver.Value, error) {
				var bs [][]byte
				for _, a := range args {
					switch v := a.(type) {
					case string:
						bs = append(bs, []byte(v))
					case []byte:
						bs = append(bs, v)
					default:
						bs = append(bs, nil)
					}
				}
				return seriesAdd(bs)
			})
	})
	clock := func() time.Time { return time.UnixMilli(1_790_000_000_000) }
	viaCapi, viaDriver := testDB(t), testDB(t)
	viaCapi.Now, viaDriver.Now = clock, clock
	gen := GeneratedBatches(t)
	for round := range 3 {
		batch := gen(200)
		odd := &parse.Report{OrganizationName: "Org \x00 with a NUL, é and 漢字", ReportID: fmt.Sprintf("odd-%d", round),
			ContactInfo: strings.Repeat("x", 70_000),
			DateRange:   parse.DateRange{Start: time.Unix(86400*3, 0).UTC(), End: time.Unix(1<<40, 0).UTC()},
			Policies: []parse.Policy{{Type: "sts", Domain: "odd.example", String: []string{"mode: enforce", ""},
				SuccessfulSessions: 1 << 53, FailedSessions: 3, FailureDetails: []parse.FailureDetail{
					{ResultType: "certificate-expired", ReceivingMXHostname: "mx.odd.example", FailedSessions: 3, AdditionalInformation: "\x01\n\t"}}},
				{Type: "tlsa", Domain: "odd.example", SuccessfulSessions: 1 << 53, FailedSessions: 3, FailureDetails: []parse.FailureDetail{
					{ResultType: "certificate-expired", ReceivingMXHostname: "mx.odd.example", FailedSessions: 3, AdditionalInformation: "\x01\n\t"}}}}}
		large := make([]byte, 3<<20)
		large[0] = byte(round)
		batch = append(batch,
			store.Input{Data: large, Source: "test", Origin: "large", Errors: []string{"invalid report: x"}},
			store.Input{Data: []byte(fmt.Sprint("odd ", round)), Source: "test", Origin: "odd", Reports: []*parse.Report{odd}})
		if round == 0 { // once: every batch's contents are new
			batch = append(batch, store.Input{Data: nil, Source: "test", Origin: "empty", NoReport: true})
		}
		if _, err := viaCapi.Ingest(ctx, batch); err != nil {
			t.Fatal(err)
		}
		err := viaDriver.inTx(ctx, func(tx *sql.Tx) error {
			var lastInput, lastReport int64
			if err := tx.QueryRowContext(ctx, sqlLastIDs).Scan(&lastInput, &lastReport); err != nil {
				return err
			}
			b := viaDriver.assemble(batch, lastInput+1, lastReport+1, map[reportKey][]variant{}, map[[32]byte]int64{}, map[int64]bool{})
			return insertTx(ctx, tx, append([]tableRows{
				{sqlInputs, "", b.inputs, false},
				{sqlInputHashes, sqlInputHashesSkipKept, b.hashes, false},
				{sqlArrivals, "", b.arrivals, false},
				{sqlReports, sqlReportsSkipStored, b.reports, false},
				{sqlPolicies, "", b.policies, false},
				{sqlDetails, "", b.details, false},
			}, b.rollups.tables(b.row)...))
		})
		if err != nil {
			t.Fatalf("round %d through the driver: %v", round, err)
		}
	}
	var tables []string
	rows, err := viaCapi.write.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("tables %q", tables)
	}
	for _, table := range tables {
		a, b := dumpTable(t, viaCapi.write, table), dumpTable(t, viaDriver.write, table)
		if a != b {
			t.Errorf("table %s differs: through capi %d bytes, through the driver %d", table, len(a), len(b))
		}
	}
}
