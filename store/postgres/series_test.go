package postgres

import (
	"math"
	"testing"
)

func TestSumSeries(t *testing.T) {
	for _, tt := range []struct {
		days, fails         string
		lo, hi              int64
		failed, first, last int64
		bad                 bool
	}{
		{"{20364,20365,20370}", "{3,0,2}", math.MinInt64, math.MaxInt64, 5, 20364, 20370, false},
		{"{20364,20365,20370}", "{3,1,2}", 20365, 20369, 1, 20365, 20365, false},
		{"{}", "{}", 0, 1, 0, math.MaxInt64, math.MinInt64, false},
		{"{1,x}", "{1,2}", 0, 9, 0, 0, 0, true},
		{"{1,2}", "{1}", 0, 9, 0, 0, 0, true},
	} {
		failed, first, last, err := sumSeries(tt.days, tt.fails, tt.lo, tt.hi)
		if (err != nil) != tt.bad || (!tt.bad && (failed != tt.failed || first != tt.first || last != tt.last)) {
			t.Errorf("%s %s [%d,%d]: %d %d %d %v", tt.days, tt.fails, tt.lo, tt.hi, failed, first, last, err)
		}
	}
}
