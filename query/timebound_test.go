package query

import (
	"testing"
	"time"
)

func TestParseTimeBound(t *testing.T) {
	now := time.Date(2026, 11, 22, 16, 47, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"", time.Time{}, false},
		{"2026-10-01", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), false},
		{"2026-10-01T23:30:00+02:00", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), false},
		{"2026-10-01T23:30:00-02:00", time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC), false},
		{"30d", time.Date(2026, 10, 23, 0, 0, 0, 0, time.UTC), false},
		{"2w", time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC), false},
		{"36h", time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), false},
		{"0d", time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), false},
		{"-3d", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"2026-13-01", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTimeBound(tt.in, now)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("ParseTimeBound(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRate(t *testing.T) {
	if got := Rate(303, 5629); got != 0.0538 {
		t.Errorf("Rate(303, 5629) = %v", got)
	}
	if got := Rate(1, 0); got != 0 {
		t.Errorf("Rate(1, 0) = %v", got)
	}
}
