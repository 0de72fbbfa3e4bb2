package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// ui prints the scenario for a person: numbered steps, ✓ marks, short
// explanations, tables. Colors only on a terminal, and never with NO_COLOR.
type ui struct {
	w     io.Writer
	color bool
	pace  time.Duration // pause after each step's explanation, for a person to read it
	start time.Time
	step  int
}

func newUI(w io.Writer) *ui {
	color := false
	if f, ok := w.(*os.File); ok && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			color = true
		}
	}
	return &ui{w: w, color: color, start: time.Now()}
}

func (u *ui) paint(code, s string) string {
	if !u.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (u *ui) bold(s string) string  { return u.paint("1", s) }
func (u *ui) dim(s string) string   { return u.paint("2", s) }
func (u *ui) green(s string) string { return u.paint("32", s) }
func (u *ui) red(s string) string   { return u.paint("31", s) }
func (u *ui) cyan(s string) string  { return u.paint("36", s) }

// banner prints the title of the demo.
func (u *ui) banner(title, sub string) {
	line := strings.Repeat("━", 78)
	fmt.Fprintln(u.w, u.cyan(line))
	fmt.Fprintln(u.w, " "+u.bold(title))
	fmt.Fprintln(u.w, " "+u.dim(sub))
	fmt.Fprintln(u.w, u.cyan(line))
}

// heading starts the next step, with its explanation wrapped below it.
func (u *ui) heading(title string, explain ...string) {
	u.step++
	elapsed := time.Since(u.start).Truncate(100 * time.Millisecond)
	fmt.Fprintf(u.w, "\n%s %s %s\n", u.cyan(fmt.Sprintf("▶ %d.", u.step)), u.bold(title), u.dim(fmt.Sprintf("[%s]", elapsed)))
	for _, e := range explain {
		fmt.Fprintln(u.w, "   "+u.dim(e))
	}
	time.Sleep(u.pace)
}

// ok prints a ✓ line.
func (u *ui) ok(format string, a ...any) {
	fmt.Fprintf(u.w, "   %s %s\n", u.green("✓"), fmt.Sprintf(format, a...))
}

// fail prints a ✗ line.
func (u *ui) fail(format string, a ...any) {
	fmt.Fprintf(u.w, "   %s %s\n", u.red("✗"), fmt.Sprintf(format, a...))
}

// info prints an indented line.
func (u *ui) info(format string, a ...any) {
	fmt.Fprintf(u.w, "     %s\n", fmt.Sprintf(format, a...))
}

// arrow prints a request or an event going somewhere.
func (u *ui) arrow(format string, a ...any) {
	fmt.Fprintf(u.w, "   %s %s\n", u.cyan("→"), fmt.Sprintf(format, a...))
}

// command prints a shell command as a person would type it.
func (u *ui) command(cmd string) {
	fmt.Fprintf(u.w, "   %s %s\n", u.dim("$"), u.bold(cmd))
}

// output prints a command's output, indented and dimmed.
func (u *ui) output(s string) {
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintln(u.w, "     "+u.dim("│")+" "+l)
	}
}

// table prints rows under headers, aligned.
func (u *ui) table(headers []string, rows [][]string) {
	tw := tabwriter.NewWriter(u.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "     "+strings.Join(headers, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, "     "+strings.Join(r, "\t"))
	}
	tw.Flush()
}

// short abbreviates a message id for display: msg_01JD…K9PA.
func short(id string) string {
	if len(id) <= 16 {
		return id
	}
	return id[:10] + "…" + id[len(id)-4:]
}

// money formats minor units: 4999 USD → 49.99 USD.
func money(minor int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", minor/100, minor%100, currency)
}
