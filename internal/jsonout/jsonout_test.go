package jsonout

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestJSONListMatchesEncoder pins the streamed JSON to what json.Encoder
// writes for the whole value, empty lists and escaping included.
func TestJSONListMatchesEncoder(t *testing.T) {
	type item struct {
		Name  string           `json:"name"`
		N     *int64           `json:"n,omitempty"`
		Map   map[string]int64 `json:"map"`
		Inner []string         `json:"inner"`
	}
	n := int64(7)
	items := []item{{Name: "a<b>&c", N: &n, Map: map[string]int64{"z": 1, "a": 2}, Inner: []string{"x", "\u2028"}}, {Name: "", Inner: []string{}}}
	var many []item // several chunks, encoded in parallel and written in order
	for i := range 1000 {
		many = append(many, item{Name: fmt.Sprint(i), Inner: []string{strings.Repeat("x", i%7)}})
	}
	for _, tt := range []struct {
		name  string
		list  List
		whole any
	}{
		{"object", ListOf("rows", items, Member{"by", "day"}), map[string]any{"by": "day", "rows": items}},
		{"object without head", ListOf("domains", items), map[string]any{"domains": items}},
		{"empty", ListOf("domains", []item{}), map[string]any{"domains": []item{}}},
		{"array", ListOf("", items), items},
		{"long", ListOf("rows", many, Member{"by", "day"}), map[string]any{"by": "day", "rows": many}},
		{"long array", ListOf("", many), many},
		{"empty array", ListOf("", []item{}), []item{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var want, got bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			if err := enc.Encode(tt.whole); err != nil {
				t.Fatal(err)
			}
			bw := bufio.NewWriter(&got)
			if err := tt.list.Encode(bw); err != nil {
				t.Fatal(err)
			}
			bw.Flush()
			if got.String() != want.String() {
				t.Errorf("streamed:\n%s\nencoder:\n%s", got.String(), want.String())
			}
		})
	}
}
