// Package opscheck checks, from tests, that kbus keeps the promises of
// docs/operations.md to operators: its Prometheus metrics and its log keys.
//
// The packages that define metrics (consumer, webhook, sse, producer/outbox)
// each register them on a [Registry] in a test, make every metric report at
// least one series (a vector without children is not gathered, so it would
// escape the checks), and call [Check]: a badly named metric, an unbounded
// label or a metric missing from the documentation fails `make test`.
// This package's own test checks the "Logs" table against the keys that
// kbus's log calls use.
package opscheck

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// Labels are the label names a kbus metric may carry, each bounded by
// configuration or by a fixed list of values in kbus's code. A label outside
// this list fails [Check]: add it here only with the reason its values are
// bounded. Message ids, endpoint ids, tenant ids, API key ids, URLs and event
// types taken from a record's content are not bounded and never labels.
var Labels = map[string]string{
	"group":     "the consumer group: one per Consumer (configuration)",
	"topic":     "a topic the consumer subscribes to (configuration)",
	"partition": "a partition of a subscribed topic (the topic's partition count)",
	"reason":    "a fixed list of kbus's skip and DLQ reasons",
	"outcome":   "success, failure or refused",
}

// Registry is a prometheus.Registry that remembers the descriptors of what is
// registered on it, so that [Check] can tell a metric that reported no series.
// It is safe for concurrent use.
type Registry struct {
	*prometheus.Registry
	mu    sync.Mutex
	descs map[string]bool
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{Registry: prometheus.NewRegistry(), descs: map[string]bool{}}
}

// Register registers c and records the names it describes.
func (r *Registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range ch {
		r.descs[descName(d)] = true
	}
	return nil
}

// MustRegister registers cs and panics on an error, as prometheus.Registry.
func (r *Registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]*)"`)

// descName is the metric name of d: prometheus.Desc keeps it unexported, and
// its String method is the one stable way to read it.
func descName(d *prometheus.Desc) string {
	if m := fqName.FindStringSubmatch(d.String()); m != nil {
		return m[1]
	}
	return d.String()
}

// Check gathers r and fails t unless:
//   - every registered metric reported at least one series;
//   - every metric passes promlint (counters end in _total, base units, help
//     text, snake case…) and kbus's rules: its name starts with prefix
//     ("kbus_<subsystem>_"), a histogram measures seconds or bytes, and
//     every label is one of [Labels];
//   - docs/operations.md has exactly one table row per metric whose name
//     starts with prefix, with the metric's type and labels, and no row for
//     a metric of prefix that does not exist.
func Check(t testing.TB, r *Registry, prefix string) {
	t.Helper()
	mfs, err := r.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var fams []family // sorted by name, as Gather returns them
	gathered := map[string]bool{}
	for _, mf := range mfs {
		seen := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				seen[lp.GetName()] = true
			}
		}
		fams = append(fams, family{mf.GetName(), strings.ToLower(mf.GetType().String()), slices.Sorted(maps.Keys(seen))})
		gathered[mf.GetName()] = true
	}
	r.mu.Lock()
	for _, name := range slices.Sorted(maps.Keys(r.descs)) {
		if !gathered[name] {
			t.Errorf("%s is registered but reported no series: make the test touch it, or promlint never sees it", name)
		}
	}
	r.mu.Unlock()

	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	for _, f := range fams {
		for _, err := range f.kbusProblems(prefix) {
			t.Errorf("metric %s: %v", f.name, err)
		}
	}

	rows, err := docRows()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		row, ok := rows[f.name]
		if !ok {
			t.Errorf("%s is missing from the metrics table of docs/operations.md", f.name)
			continue
		}
		if row.typ != f.typ {
			t.Errorf("docs/operations.md says %s is a %s; it is a %s", f.name, row.typ, f.typ)
		}
		if !slices.Equal(row.labels, f.labels) {
			t.Errorf("docs/operations.md gives %s the labels %v; it has %v", f.name, row.labels, f.labels)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rows)) {
		if strings.HasPrefix(name, prefix) && !gathered[name] {
			t.Errorf("docs/operations.md lists %s, which this package does not register", name)
		}
	}
}

// family is what Check needs of a gathered metric family.
type family struct {
	name, typ string   // typ: counter, gauge, histogram…
	labels    []string // sorted label names of its series
}

// kbusProblems are f's departures from kbus's rules, beyond promlint's.
func (f family) kbusProblems(prefix string) []error {
	var errs []error
	if !strings.HasPrefix(f.name, prefix) {
		errs = append(errs, fmt.Errorf("name does not start with %q (namespace kbus, the package's subsystem)", prefix))
	}
	if f.typ == "histogram" && !strings.HasSuffix(f.name, "_seconds") && !strings.HasSuffix(f.name, "_bytes") {
		errs = append(errs, errors.New("a histogram should measure a base unit: name it ..._seconds or ..._bytes"))
	}
	for _, l := range f.labels {
		if _, ok := Labels[l]; !ok {
			errs = append(errs, fmt.Errorf("label %q is not in opscheck.Labels: is it bounded?", l))
		}
	}
	return errs
}

type docRow struct {
	typ    string
	labels []string
}

var backticked = regexp.MustCompile("`([^`]*)`")

// docRows reads the rows of docs/operations.md's tables whose first cell is
// a backticked metric name starting with kbus_ and whose second is a metric
// type: | `name` | type | `l1`, `l2` | …
func docRows() (map[string]docRow, error) {
	path, err := docPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rows := map[string]docRow{}
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`kbus_") {
			continue
		}
		typ := strings.TrimSpace(cells[2])
		if !slices.Contains([]string{"counter", "gauge", "histogram", "summary"}, typ) {
			continue // another table naming metrics, such as the renames
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if _, dup := rows[name]; dup {
			return nil, fmt.Errorf("%s: %s has two rows", path, name)
		}
		row := docRow{typ: typ, labels: []string{}}
		for _, m := range backticked.FindAllStringSubmatch(cells[3], -1) {
			row.labels = append(row.labels, m[1])
		}
		sort.Strings(row.labels)
		rows[name] = row
	}
	return rows, nil
}

// docPath finds docs/operations.md in the module that holds the working
// directory (a package's tests run in its directory).
func docPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "docs", "operations.md"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("opscheck: no go.mod above the working directory")
		}
		dir = parent
	}
}
