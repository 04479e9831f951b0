package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Node is a part of a config file whose shape is known only to the code that
// uses it (a policy's action, a condition). It keeps the file and key path so
// that its own decode errors still say where they are.
type Node struct {
	File string
	Path string
	Y    *yaml.Node // nil when the key was absent
}

// IsZero reports whether the key was absent or null.
func (n Node) IsZero() bool { return n.Y == nil || isNull(n.Y) }

// Line is the line of the node, or 0 when it is absent.
func (n Node) Line() int {
	if n.Y == nil {
		return 0
	}
	return n.Y.Line
}

// Decode decodes the node strictly into v (a pointer). A null or absent node
// leaves v as it is, so defaults set before the call survive.
func (n Node) Decode(v any) error {
	if n.IsZero() {
		return nil
	}
	d := &decoder{file: n.File}
	d.decode(n.Y, n.Path, reflect.ValueOf(v).Elem())
	return d.errs.Err()
}

// Errorf returns an error placed at the child key of this node (or at the node
// itself when key is empty).
func (n Node) Errorf(key, format string, args ...any) error {
	line, path := n.Line(), n.Path
	if key != "" {
		path = joinPath(path, key)
		if n.Y != nil && n.Y.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Y.Content); i += 2 {
				if n.Y.Content[i].Value == key {
					line = n.Y.Content[i].Line
				}
			}
		}
	}
	return &Error{File: n.File, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Child returns the node under key of a mapping, absent when there is none.
func (n Node) Child(key string) Node {
	c := Node{File: n.File, Path: joinPath(n.Path, key)}
	if n.Y != nil && n.Y.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Y.Content); i += 2 {
			if n.Y.Content[i].Value == key {
				c.Y = resolve(n.Y.Content[i+1])
			}
		}
	}
	return c
}

// Pos records the line a mapping started on; the decoder fills a field of
// this type in any struct it decodes.
type Pos struct{ Line int }

// Ref is a string value that remembers its line, for names that are checked
// against other parts of the file later (pipelines naming apiEndpoints...).
type Ref struct {
	Name string
	Line int
}

// Duration is a time span written as a number of milliseconds (as Express
// Gateway does) or as a Go duration string such as "1.5s".
type Duration time.Duration

// Or returns the duration, or def when d is nil (the key was absent).
func (d *Duration) Or(def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return time.Duration(*d)
}

// StringList accepts a single string or a list of strings.
type StringList []string

// Named keeps a YAML mapping's entries in file order: routes, pipelines and
// service endpoints are reported and matched in the order the user wrote them.
type Named[T any] []Entry[T]

// Entry is one name and value of a Named mapping.
type Entry[T any] struct {
	Name  string
	Line  int
	Value T
}

// Get returns the value for name.
func (m Named[T]) Get(name string) (T, bool) {
	for _, e := range m {
		if e.Name == name {
			return e.Value, true
		}
	}
	var zero T
	return zero, false
}

// Names lists the keys in file order.
func (m Named[T]) Names() []string {
	out := make([]string, len(m))
	for i, e := range m {
		out[i] = e.Name
	}
	return out
}

// nodeDecoder is implemented by types that decode themselves from YAML
// (alternative shapes, ordered maps).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

type decoder struct {
	file string
	errs Errors
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var (
	nodeType     = reflect.TypeFor[Node]()
	posType      = reflect.TypeFor[Pos]()
	durationType = reflect.TypeFor[Duration]()
	decoderType  = reflect.TypeFor[nodeDecoder]()
)

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return resolve(n.Content[0])
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// decode fills v from n, appending every problem to d.errs.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = resolve(n)
	if n == nil {
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(decoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	switch v.Type() {
	case nodeType:
		v.Set(reflect.ValueOf(Node{File: d.file, Path: path, Y: n}))
		return
	case durationType:
		d.decodeDuration(n, path, v)
		return
	}
	if isNull(n) {
		return // keep the default
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, path, v.Elem())
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.decodeScalar(n, path, v)
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected %s, got %s", scalarWant(v.Kind()), kindName(n))
		return
	}
	s := n.Value
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		// Express Gateway coerces "true"/"false" strings (Ajv coerceTypes), and
		// ${VAR} substitution always yields strings: accept both.
		b, err := strconv.ParseBool(strings.ToLower(s))
		if err != nil {
			d.errorf(n, path, "expected true or false, got %q", s)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || f != math.Trunc(f) {
				d.errorf(n, path, "expected a whole number, got %q", s)
				return
			}
			i = int64(f)
		}
		if v.OverflowInt(i) {
			d.errorf(n, path, "number %s is out of range", s)
			return
		}
		v.SetInt(i)
	case reflect.Float64, reflect.Float32:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			d.errorf(n, path, "expected a number, got %q", s)
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "cannot decode into %s", v.Type())
	}
}

func scalarWant(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a value"
}

func (d *decoder) decodeDuration(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected milliseconds or a duration such as \"5s\", got %s", kindName(n))
		return
	}
	if ms, err := strconv.ParseFloat(n.Value, 64); err == nil {
		if ms < 0 {
			d.errorf(n, path, "must not be negative")
			return
		}
		v.SetInt(int64(ms * float64(time.Millisecond)))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil || dur < 0 {
		d.errorf(n, path, "expected milliseconds or a duration such as \"5s\", got %q", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

type fieldInfo struct {
	index    []int
	required bool
}

// structFields lists the YAML keys of t, flattening `yaml:",inline"` embedded
// structs, and the indexes of its Pos fields.
func structFields(t reflect.Type) (fields map[string]fieldInfo, names []string, pos [][]int) {
	fields = map[string]fieldInfo{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int(nil), prefix...), i)
			if f.Type == posType {
				pos = append(pos, idx)
				continue
			}
			tag := f.Tag.Get("yaml")
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" && opts == "inline" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			fields[name] = fieldInfo{index: idx, required: strings.Contains(opts, "required")}
			names = append(names, name)
		}
	}
	walk(t, nil)
	return fields, names, pos
}

func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	fields, names, pos := structFields(v.Type())
	for _, idx := range pos {
		v.FieldByIndex(idx).Set(reflect.ValueOf(Pos{Line: n.Line}))
	}
	seen := map[string]bool{}
	d.checkDuplicates(n, path)
	for _, kv := range pairs(n) {
		k, val := kv[0], kv[1]
		key := k.Value
		f, ok := fields[key]
		if !ok {
			d.errorf(k, joinPath(path, key), "unknown key (expected one of: %s)", strings.Join(names, ", "))
			continue
		}
		seen[key] = true
		d.decode(val, joinPath(path, key), v.FieldByIndex(f.index))
	}
	for _, name := range names {
		if fields[name].required && !seen[name] {
			d.errorf(n, joinPath(path, name), "is required")
		}
	}
}

// pairs returns the key/value nodes of a mapping with YAML merge keys (<<)
// expanded, the mapping's own keys winning.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	own := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "<<" {
			own[n.Content[i].Value] = true
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.Tag == "!!merge" {
			merged := resolve(val)
			var sources []*yaml.Node
			if merged.Kind == yaml.SequenceNode {
				sources = merged.Content
			} else {
				sources = []*yaml.Node{merged}
			}
			for _, src := range sources {
				src = resolve(src)
				if src.Kind != yaml.MappingNode {
					continue
				}
				for _, p := range pairs(src) {
					if !own[p[0].Value] {
						out = append(out, p)
					}
				}
			}
			continue
		}
		out = append(out, [2]*yaml.Node{k, val})
	}
	return out
}

// checkDuplicates reports a key written twice in one mapping: YAML forbids
// it, and silently keeping one of them hides mistakes.
func (d *decoder) checkDuplicates(n *yaml.Node, path string) {
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Value == "<<" && k.Tag == "!!merge" {
			continue
		}
		if line, dup := first[k.Value]; dup {
			d.errorf(k, joinPath(path, k.Value), "duplicate key (first written at line %d)", line)
			continue
		}
		first[k.Value] = k.Line
	}
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	d.checkDuplicates(n, path)
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, kv := range pairs(n) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(kv[1], joinPath(path, kv[0].Value), elem)
		v.SetMapIndex(reflect.ValueOf(kv[0].Value).Convert(v.Type().Key()), elem)
	}
}

func (r *Ref) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "expected a name, got %s", kindName(n))
		return
	}
	*r = Ref{Name: n.Value, Line: n.Line}
}

func (l *StringList) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch {
	case isNull(n):
	case n.Kind == yaml.ScalarNode:
		*l = StringList{n.Value}
	case n.Kind == yaml.SequenceNode:
		out := make(StringList, 0, len(n.Content))
		for i, c := range n.Content {
			c = resolve(c)
			if c.Kind != yaml.ScalarNode || isNull(c) {
				d.errorf(c, fmt.Sprintf("%s[%d]", path, i), "expected a string, got %s", kindName(c))
				continue
			}
			out = append(out, c.Value)
		}
		*l = out
	default:
		d.errorf(n, path, "expected a string or a list of strings, got %s", kindName(n))
	}
}

// decodeChecked decodes the mapping n into fields (a struct's fields-only
// alias, so that its own decodeNode is not called again) as any struct,
// then calls check for each key that decoded without error, so that a rule
// on its value is reported at the key's line.
func decodeChecked(d *decoder, n *yaml.Node, path string, fields reflect.Value, check func(key string, v *yaml.Node, kpath string)) {
	before := len(d.errs)
	d.decode(n, path, fields)
	if n.Kind != yaml.MappingNode {
		return
	}
	for _, kv := range pairs(n) {
		kpath := joinPath(path, kv[0].Value)
		if isNull(kv[1]) || hasErrorUnder(d.errs[before:], kpath) {
			continue
		}
		check(kv[0].Value, kv[1], kpath)
	}
}

// decodeEntries reads a list of entries (a YAML list, or one string of
// entries separated by commas, for ${VAR}) and parses each, reporting a bad
// one at its line and index.
func decodeEntries[T any](d *decoder, n *yaml.Node, path string, parse func(string) (T, error)) []T {
	var raw StringList
	raw.decodeNode(d, n, path)
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []T
	for i, item := range items {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			continue // reported by StringList
		}
		ipath := path
		if n.Kind == yaml.SequenceNode {
			ipath = fmt.Sprintf("%s[%d]", path, i)
		}
		for _, e := range strings.Split(item.Value, ",") {
			if e = strings.TrimSpace(e); e == "" {
				continue
			}
			v, err := parse(e)
			if err != nil {
				d.errorf(item, ipath, "%v", err)
				continue
			}
			out = append(out, v)
		}
	}
	return out
}

func (m *Named[T]) decodeNode(d *decoder, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of names, got %s", kindName(n))
		return
	}
	d.checkDuplicates(n, path)
	for _, kv := range pairs(n) {
		e := Entry[T]{Name: kv[0].Value, Line: kv[0].Line}
		d.decode(kv[1], joinPath(path, e.Name), reflect.ValueOf(&e.Value).Elem())
		*m = append(*m, e)
	}
}
