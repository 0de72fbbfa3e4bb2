package opscheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// logDirs are the packages whose log lines operators read: the library and
// the kbus command (the examples and the dev tools have their own words).
var logDirs = []string{"apikey", "consumer", "dlq", "envelope", "kbustest", "producer", "producer/outbox",
	"schemas", "sse", "webhook", "cmd/kbus"}

// TestLogKeysAreDocumented: every key a kbus log line uses is in the "Logs"
// table of docs/operations.md, and every key there is used.
func TestLogKeysAreDocumented(t *testing.T) {
	doc, err := docPath()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(filepath.Dir(doc))
	used := map[string][]string{} // key -> where
	for _, dir := range logDirs {
		for key, where := range logKeys(t, root, dir) {
			used[key] = append(used[key], where...)
		}
	}
	if len(used) < 10 {
		t.Fatalf("found only %d log keys: is the scan broken? %v", len(used), used)
	}
	documented := logTable(t, doc)
	for _, key := range slices.Sorted(maps.Keys(used)) {
		if !documented[key] {
			t.Errorf("log key %q (%s) is not in the Logs table of docs/operations.md: use a documented key or add it",
				key, strings.Join(used[key], ", "))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(documented)) {
		if used[key] == nil {
			t.Errorf("docs/operations.md documents the log key %q, which no log call uses", key)
		}
	}
}

// logKeys returns the keys of the log calls in dir's non-test files: calls
// of Debug, Info, Warn or Error (or their Context forms) whose message is a
// literal starting with "kbus:", and Logger.With calls.
func logKeys(t *testing.T, root, dir string) map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			var args []ast.Expr
			switch sel.Sel.Name {
			case "Debug", "Info", "Warn", "Error", "DebugContext", "InfoContext", "WarnContext", "ErrorContext":
				msg := 0
				if strings.HasSuffix(sel.Sel.Name, "Context") {
					msg = 1
				}
				if len(call.Args) <= msg || !strings.HasPrefix(literal(call.Args[msg]), "kbus:") {
					return true
				}
				args = call.Args[msg+1:]
			case "With":
				if !strings.HasSuffix(types(sel.X), "Logger") {
					return true
				}
				args = call.Args
			default:
				return true
			}
			where := filepath.Join(dir, filepath.Base(path)) + ":" + strconv.Itoa(fset.Position(call.Pos()).Line)
			for i := 0; i < len(args); i++ {
				if c, ok := args[i].(*ast.CallExpr); ok && len(c.Args) > 0 && types(c.Fun) != "" &&
					strings.HasPrefix(types(c.Fun), "slog.") { // slog.String("key", v) and the like
					keys[literal(c.Args[0])] = append(keys[literal(c.Args[0])], where)
					continue
				}
				keys[literal(args[i])] = append(keys[literal(args[i])], where)
				i++ // the value
			}
			return true
		})
	}
	return keys
}

// literal is the value of a string literal, or "<not a literal>".
func literal(e ast.Expr) string {
	if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
		if s, err := strconv.Unquote(b.Value); err == nil {
			return s
		}
	}
	return "<not a literal>"
}

// types spells a selector chain such as c.cfg.Logger or slog.String.
func types(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return types(e.X) + "." + e.Sel.Name
	}
	return ""
}

// logTable reads the first column of the table under "## Logs".
func logTable(t *testing.T, doc string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## Logs\n")
	if i < 0 {
		t.Fatal("docs/operations.md has no \"## Logs\" section")
	}
	s = s[i+len("\n## Logs\n"):]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	keys := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			keys[m[1]] = true
		}
	}
	return keys
}
