package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"text/tabwriter"
)

// Output helpers shared by every command. A command builds its result once
// and prints it with one of these, depending on a.json():
//
//	if a.json() {
//		return a.printJSON(items) // a slice for lists: printed as [] when empty
//	}
//	return a.table([]string{"NAME", "PARTITIONS"}, rows)
//
// Both write to a.out (stdout), never to a.errOut, so that a script can parse
// the output of `--output json` whatever the command prints as warnings.

// table writes header and rows to a.out as columns aligned with
// text/tabwriter, separated by two spaces. A header of nil prints no header
// line. Tabs and line breaks inside a cell are replaced by spaces and an
// empty cell is printed as "-", so that every line has one field per column
// for tools such as awk and cut. table with no rows prints just the header.
func (a *app) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	if header != nil {
		writeRow(tw, header)
	}
	for _, r := range rows {
		writeRow(tw, r)
	}
	return tw.Flush()
}

var cellReplacer = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")

func writeRow(tw *tabwriter.Writer, cells []string) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		c = cellReplacer.Replace(c)
		if c == "" {
			c = "-"
		}
		fmt.Fprint(tw, c)
	}
	fmt.Fprint(tw, "\n")
}

// printJSON writes v to a.out as JSON indented by two spaces, followed by a
// newline. A nil slice is printed as [] rather than null, so that an empty
// list is still a list. HTML characters (<, >, &) are not escaped.
func (a *app) printJSON(v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		v = []struct{}{}
	}
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
