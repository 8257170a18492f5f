package main

import (
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
		list  jsonList
		whole any
	}{
		{"object", listJSON("rows", items, jsonMember{"by", "day"}), map[string]any{"by": "day", "rows": items}},
		{"object without head", listJSON("domains", items), map[string]any{"domains": items}},
		{"empty", listJSON("domains", []item{}), map[string]any{"domains": []item{}}},
		{"array", listJSON("", items), items},
		{"long", listJSON("rows", many, jsonMember{"by", "day"}), map[string]any{"by": "day", "rows": many}},
		{"long array", listJSON("", many), many},
		{"empty array", listJSON("", []item{}), []item{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var want, got bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			if err := enc.Encode(tt.whole); err != nil {
				t.Fatal(err)
			}
			if err := newPrinter(&got, "json").print(nil, nil, tt.list); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("streamed:\n%s\nencoder:\n%s", got.String(), want.String())
			}
		})
	}
}

// TestListingMatchesPrint pins a listing written a row at a time to what
// the printer writes for all the rows at once, in every format.
func TestListingMatchesPrint(t *testing.T) {
	type item struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	header := []string{"name", "n"}
	for _, count := range []int{0, 1, 3} {
		var items []item
		var rows [][]string
		for i := range count {
			it := item{Name: fmt.Sprintf("row <%d>, \"quoted\"", i), N: i * 1000}
			items = append(items, it)
			rows = append(rows, []string{it.Name, fmt.Sprint(it.N)})
		}
		for _, key := range []string{"", "failures"} {
			for _, format := range []string{"table", "json", "csv"} {
				t.Run(fmt.Sprintf("%d %q %s", count, key, format), func(t *testing.T) {
					var want, got bytes.Buffer
					if format == "table" && count == 0 {
						want.WriteString("nothing matches\n")
					} else if err := newPrinter(&want, format).print(header, rows, listJSON(key, append([]item{}, items...))); err != nil {
						t.Fatal(err)
					}
					l := newPrinter(&got, format).list(header, key, "nothing matches")
					for i := range items {
						if err := l.add(func() []string { return rows[i] }, func() any { return items[i] }); err != nil {
							t.Fatal(err)
						}
					}
					if err := l.close(); err != nil {
						t.Fatal(err)
					}
					if got.String() != want.String() {
						t.Errorf("a row at a time:\n%s\nall at once:\n%s", got.String(), want.String())
					}
				})
			}
		}
	}
}

// A table longer than it holds: the rows held set the widths, the rest are
// written as they come with those widths, and a wider cell keeps two spaces
// before the next column.
func TestTableListingPastWhatItHolds(t *testing.T) {
	var got bytes.Buffer
	l := newPrinter(&got, "table").list([]string{"name", "kind", "n"}, "", "nothing matches")
	l.hold = 2
	for _, r := range [][]string{{"a", "x", "1"}, {"bb", "y", "2"}, {"c", "z", "3"}, {"a-long-name", "wide-kind", "4"}, {"d", "", ""}} {
		if err := l.add(func() []string { return r }, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	want := "NAME  KIND  N\n" +
		"a     x     1\n" +
		"bb    y     2\n" +
		"c     z     3\n" +
		"a-long-name  wide-kind  4\n" +
		"d\n"
	if got.String() != want {
		t.Errorf("got\n%s\nwant\n%s", got.String(), want)
	}
}
