package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// row is one figure of the table.
type row struct {
	figure, target, measured, verdict string
}

// table collects the rows and the notes (what a scenario listed, such as
// requests by verb) printed under it.
type table struct {
	rows  []row
	notes []string
}

func (t *table) add(figure, target, measured, verdict string) {
	t.rows = append(t.rows, row{figure, target, measured, verdict})
}

func (t *table) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// failed records a scenario that could not run: its figures are missing,
// said so in the table rather than left out.
func (t *table) failed(scenario string, err error) {
	t.add(scenario, "", "could not run: "+strings.ReplaceAll(err.Error(), "|", "/"), "**not measured**")
}

// print writes the table as Markdown (docs/performance.md takes it as it is).
func (t *table) print(w io.Writer) {
	fmt.Fprintln(w, "| figure | target | measured | verdict |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.figure, r.target, r.measured, r.verdict)
	}
	if len(t.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range t.notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
}

// verdict is "met" or "**not met**".
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func mb(kb float64) string { return fmt.Sprintf("%.1f MB", kb/1024) }

func micros(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}
