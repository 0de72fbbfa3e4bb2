package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"
)

//go:embed catalog
var embedded embed.FS

// Registry holds the Avro schemas of a catalog: for each event type, its
// versions in order.
//
// A Registry is immutable once loaded and safe for concurrent use by
// several goroutines. Its only internal state is a cache of resolved
// writer/reader schema pairs, filled on first use by DecodeAvro and
// ResolveJSON.
type Registry struct {
	types map[string]*eventType
	names []string // sorted

	resolved sync.Map // resolveKey -> resolveResult
}

type eventType struct {
	name     string
	versions []*version // sorted, oldest first
	byName   map[string]*version
}

type version struct {
	name         string // "1.10"
	major, minor int
	path         string // file the schema came from, for messages
	schema       *avro.RecordSchema
}

// Default loads the catalog embedded in the kbus binary: payment.completed,
// payment.failed and refund.created, each in versions 1.0 and 1.1.
//
// Each call parses the catalog afresh and returns a new Registry; load it
// once and share it.
func Default() (*Registry, error) {
	return Load(DefaultCatalog())
}

// DefaultCatalog returns the catalog embedded in kbus as a read-only file
// system in the layout Load reads, for tools that copy or extend it.
func DefaultCatalog() fs.FS {
	sub, err := fs.Sub(embedded, "catalog")
	if err != nil {
		panic(err) // "catalog" is a valid path: cannot happen
	}
	return sub
}

// Load reads a catalog from fsys. The root of fsys holds one directory per
// event type, named as the type (and its Kafka topic); each directory holds
// one file per version, named "<major>.<minor>.avsc", whose content is an
// Avro schema whose top-level type is a record:
//
//	payment.completed/1.0.avsc
//	payment.completed/1.1.avsc
//	refund.created/1.0.avsc
//
// Anything else (a file at the root, a subdirectory in a type's directory,
// a file name that is not a version, an empty directory, schema text that
// does not parse) is an error wrapping ErrBadCatalog and naming the path.
//
// Each version is parsed with its own avro.SchemaCache, so versions may
// (and should) reuse the same record and enum names. Use os.DirFS to load a
// directory on disk.
func Load(fsys fs.FS) (*Registry, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCatalog, err)
	}
	r := &Registry{types: make(map[string]*eventType)}
	for _, e := range entries {
		if !e.IsDir() {
			return nil, fmt.Errorf("%w: %s: expected a directory named after an event type", ErrBadCatalog, e.Name())
		}
		t, err := loadType(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		r.types[t.name] = t
		r.names = append(r.names, t.name)
	}
	if len(r.names) == 0 {
		return nil, fmt.Errorf("%w: no event type directories", ErrBadCatalog)
	}
	slices.Sort(r.names)
	return r, nil
}

func loadType(fsys fs.FS, name string) (*eventType, error) {
	if !validTypeName(name) {
		return nil, fmt.Errorf("%w: %s: not a valid event type name", ErrBadCatalog, name)
	}
	entries, err := fs.ReadDir(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadCatalog, name, err)
	}
	t := &eventType{name: name, byName: make(map[string]*version)}
	for _, e := range entries {
		p := path.Join(name, e.Name())
		vs, ok := strings.CutSuffix(e.Name(), ".avsc")
		if e.IsDir() || !ok {
			return nil, fmt.Errorf("%w: %s: expected a file named <major>.<minor>.avsc", ErrBadCatalog, p)
		}
		major, minor, ok := parseVersion(vs)
		if !ok {
			return nil, fmt.Errorf("%w: %s: %q is not a version <major>.<minor>", ErrBadCatalog, p, vs)
		}
		text, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadCatalog, p, err)
		}
		s, err := avro.ParseWithCache(string(text), "", &avro.SchemaCache{})
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadCatalog, p, err)
		}
		rec, ok := s.(*avro.RecordSchema)
		if !ok {
			return nil, fmt.Errorf("%w: %s: top-level schema is %s, want a record", ErrBadCatalog, p, s.Type())
		}
		v := &version{name: vs, major: major, minor: minor, path: p, schema: rec}
		t.versions = append(t.versions, v)
		t.byName[vs] = v
	}
	if len(t.versions) == 0 {
		return nil, fmt.Errorf("%w: %s: no versions", ErrBadCatalog, name)
	}
	slices.SortFunc(t.versions, func(a, b *version) int { return compareVersions(a, b) })
	return t, nil
}

func compareVersions(a, b *version) int {
	if a.major != b.major {
		return a.major - b.major
	}
	return a.minor - b.minor
}

// parseVersion parses "<major>.<minor>": decimal numbers without sign or
// leading zeros, so that each version has one spelling.
func parseVersion(s string) (major, minor int, ok bool) {
	a, b, found := strings.Cut(s, ".")
	if !found {
		return 0, 0, false
	}
	major, ok1 := parseNumber(a)
	minor, ok2 := parseNumber(b)
	return major, minor, ok1 && ok2
}

func parseNumber(s string) (int, bool) {
	if s == "" || len(s) > 9 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// validTypeName reports whether s is usable as an event type: a legal Kafka
// topic name (1-249 characters of [a-zA-Z0-9._-], not "." or "..").
func validTypeName(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Types returns the event types of the catalog, sorted.
func (r *Registry) Types() []string {
	return slices.Clone(r.names)
}

// Versions returns the versions of eventType, oldest first (versions
// compare numerically: "1.9" < "1.10" < "2.0"). It returns nil for an
// unknown type.
func (r *Registry) Versions(eventType string) []string {
	t, ok := r.types[eventType]
	if !ok {
		return nil
	}
	out := make([]string, len(t.versions))
	for i, v := range t.versions {
		out[i] = v.name
	}
	return out
}

// Latest returns the newest version of eventType.
func (r *Registry) Latest(eventType string) (string, error) {
	t, ok := r.types[eventType]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownType, eventType)
	}
	return t.versions[len(t.versions)-1].name, nil
}

// Schema returns the schema of eventType at version (e.g. "1.0"). The
// schema is always an *avro.RecordSchema; it is shared, so do not modify it.
func (r *Registry) Schema(eventType, version string) (avro.Schema, error) {
	v, err := r.lookup(eventType, version)
	if err != nil {
		return nil, err
	}
	return v.schema, nil
}

func (r *Registry) lookup(eventType, ver string) (*version, error) {
	t, ok := r.types[eventType]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, eventType)
	}
	v, ok := t.byName[ver]
	if !ok {
		return nil, fmt.Errorf("%w: %s has no version %q (have %s)", ErrUnknownVersion, eventType, ver,
			strings.Join(r.Versions(eventType), ", "))
	}
	return v, nil
}
