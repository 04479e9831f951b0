// Package configedit edits one entry of gateway.config.yml (an
// apiEndpoint, a serviceEndpoint, a pipeline, the enabled policies) the
// way a careful person would: only the edited entry's lines are rewritten,
// so comments, blank lines, quoting and indentation elsewhere stay
// byte for byte, and inside the entry the comments of the keys that stay
// are kept. It also writes the result with a compare-and-swap on the
// file's content (write.go) and describes the config as JSON Schemas
// (schema.go), for Express Gateway's config-editing Admin API.
//
// The file is edited raw: ${VAR} references are text here, never
// substituted, so that a secret taken from the environment stays there.
package configedit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Sections that hold named entries, as Express Gateway's Admin API
// edits them.
const (
	APIEndpoints     = "apiEndpoints"
	ServiceEndpoints = "serviceEndpoints"
	Pipelines        = "pipelines"
	// Policies is the list of enabled policy names.
	Policies = "policies"
)

// ErrNotFound is returned when the entry (or enabled policy) to remove is
// not in the file.
var ErrNotFound = errors.New("not found")

// UnsafeError is an edit that cannot be written without changing more
// than the entry: the entry comes from a YAML merge key, or it holds an
// anchor other parts of the file refer to.
type UnsafeError struct{ Msg string }

func (e *UnsafeError) Error() string { return e.Msg }

// FileError is a file that cannot be edited at all: not YAML, or its
// top level is not a mapping.
type FileError struct{ Msg string }

func (e *FileError) Error() string { return e.Msg }

// Result says what an edit did.
type Result struct {
	// Created is true when a new entry was added (201), false when one was
	// replaced (204).
	Created bool
	// Changed is false when the file already held the value (nothing to
	// write).
	Changed bool
	// Reformatted, when not empty, says what of the file's layout the
	// edit could not keep: the whole file was written by the YAML (or
	// JSON) encoder rather than only the entry's lines.
	Reformatted string
}

// Reformatted reasons.
const (
	ReformattedJSON = "gateway.config.json is written as indented JSON"
	ReformattedYAML = "the whole file was re-encoded: comments are kept, but blank lines, indentation and the spacing before comments are normalized"
)

// doc is a parsed file and its lines.
type doc struct {
	src   []byte
	json  bool
	lines []string // src split after each "\n"
	root  *yaml.Node
	docN  *yaml.Node
}

func parse(src []byte, isJSON bool) (*doc, error) {
	var dn yaml.Node
	if err := yaml.Unmarshal(src, &dn); err != nil {
		return nil, &FileError{Msg: fmt.Sprintf("the file is not valid YAML: %v", err)}
	}
	d := &doc{src: src, json: isJSON, docN: &dn, lines: strings.SplitAfter(string(src), "\n")}
	if len(d.lines) > 0 && d.lines[len(d.lines)-1] == "" {
		d.lines = d.lines[:len(d.lines)-1]
	}
	if dn.Kind == 0 { // empty file
		dn = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	d.root = resolve(&dn)
	if d.root == nil || d.root.Kind != yaml.MappingNode {
		return nil, &FileError{Msg: "the file's top level is not a mapping of keys (http, apiEndpoints, ...)"}
	}
	return d, nil
}

// Section returns one section of src as a JSON object, entries in file
// order: {} when the section is absent or empty.
func Section(src []byte, section string) ([]byte, error) {
	d, err := parse(src, false)
	if err != nil {
		return nil, err
	}
	v, ok := lookup(d.root, section)
	if !ok || resolve(v) == nil || resolve(v).ShortTag() == "!!null" {
		return []byte("{}"), nil
	}
	if resolve(v).Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s is not a mapping of names", section)
	}
	return ToJSON(v)
}

// Entry returns one entry of a section as JSON; found is false when there
// is none.
func Entry(src []byte, section, name string) (out []byte, found bool, err error) {
	d, err := parse(src, false)
	if err != nil {
		return nil, false, err
	}
	s, ok := lookup(d.root, section)
	if s = resolve(s); !ok || s == nil || s.Kind != yaml.MappingNode {
		return nil, false, nil
	}
	v, ok := lookup(s, name)
	if !ok {
		return nil, false, nil
	}
	out, err = ToJSON(v)
	return out, err == nil, err
}

// EnabledPolicies lists the names in the top-level policies list.
func EnabledPolicies(src []byte) ([]string, error) {
	d, err := parse(src, false)
	if err != nil {
		return nil, err
	}
	v, ok := lookup(d.root, Policies)
	v = resolve(v)
	if !ok || v == nil || v.Kind != yaml.SequenceNode {
		return []string{}, nil
	}
	out := []string{}
	for _, c := range v.Content {
		if c = resolve(c); c != nil && c.Kind == yaml.ScalarNode {
			out = append(out, c.Value)
		}
	}
	return out, nil
}

// CheckName refuses names that cannot be written as a YAML key a person
// can read back: empty, not UTF-8, or holding control characters.
func CheckName(name string) error {
	if name == "" || len(name) > 256 || !utf8.ValidString(name) {
		return badEntity("the name must be 1 to 256 bytes of UTF-8 text")
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == utf8.RuneError || r == '\ufeff' {
			return badEntity("the name %q holds a control character", name)
		}
	}
	return nil
}

// Set makes section.name hold entity (one JSON value) in src.
func Set(src []byte, isJSON bool, section, name string, entity []byte) ([]byte, Result, error) {
	if err := CheckName(name); err != nil {
		return nil, Result{}, err
	}
	nw, err := FromJSON(entity)
	if err != nil {
		return nil, Result{}, err
	}
	d, err := parse(src, isJSON)
	if err != nil {
		return nil, Result{}, err
	}
	before, _ := ToJSON(d.docN)
	sec, secNew := d.section(section)
	_, exists := lookup(sec, name)
	res := Result{Created: !exists}
	var sp splice
	switch i := ownIndex(sec, name); {
	case i >= 0:
		merge(sec.Content[i+1], nw)
		sp = d.entrySplice(sec, i, secNew, section)
	default:
		sec.Content = append(sec.Content, str(name), nw)
		sp = d.entrySplice(sec, len(sec.Content)-2, secNew, section)
		sp.insert = true
	}
	out, err := d.finish(sp, before, &res)
	return out, res, err
}

// Delete removes section.name from src; ErrNotFound when it is not there.
func Delete(src []byte, isJSON bool, section, name string) ([]byte, Result, error) {
	d, err := parse(src, isJSON)
	if err != nil {
		return nil, Result{}, err
	}
	s, ok := lookup(d.root, section)
	if s = resolve(s); !ok || s == nil || s.Kind != yaml.MappingNode {
		return nil, Result{}, ErrNotFound
	}
	if _, ok := lookup(s, name); !ok {
		return nil, Result{}, ErrNotFound
	}
	i := ownIndex(s, name)
	if i < 0 {
		return nil, Result{}, &UnsafeError{Msg: fmt.Sprintf("%s.%s comes from a YAML merge key (<<): edit the file by hand", section, name)}
	}
	before, _ := ToJSON(d.docN)
	sec, secNew := d.section(section)
	sp := d.entrySplice(sec, i, secNew, section)
	sp.remove = sp.entry // a whole-section splice renders the section without it
	sec.Content = append(sec.Content[:i:i], sec.Content[i+2:]...)
	if len(sec.Content) == 0 {
		// An empty block mapping would read back as null: rewrite the
		// section as {}.
		sec.Style = yaml.FlowStyle
		sp = d.rootSplice(section)
	}
	res := Result{}
	out, err := d.finish(sp, before, &res)
	if err == nil {
		if _, still, _ := Entry(out, section, name); still {
			return nil, Result{}, &UnsafeError{Msg: fmt.Sprintf("%s.%s is also brought in by a YAML merge key (<<): edit the file by hand", section, name)}
		}
	}
	return out, res, err
}

// EnablePolicy adds name to the policies list (no change when it is
// there already).
func EnablePolicy(src []byte, isJSON bool, name string) ([]byte, Result, error) {
	if err := CheckName(name); err != nil {
		return nil, Result{}, err
	}
	d, err := parse(src, isJSON)
	if err != nil {
		return nil, Result{}, err
	}
	list, err := d.policyList()
	if err != nil {
		return nil, Result{}, err
	}
	for _, c := range list.Content {
		if resolve(c) != nil && resolve(c).Value == name {
			return src, Result{}, nil
		}
	}
	before, _ := ToJSON(d.docN)
	list.Content = append(list.Content, str(name))
	res := Result{Created: true}
	out, err := d.finish(d.rootSplice(Policies), before, &res)
	return out, res, err
}

// DisablePolicy removes name from the policies list; ErrNotFound when it
// is not listed.
func DisablePolicy(src []byte, isJSON bool, name string) ([]byte, Result, error) {
	d, err := parse(src, isJSON)
	if err != nil {
		return nil, Result{}, err
	}
	list, err := d.policyList()
	if err != nil {
		return nil, Result{}, err
	}
	before, _ := ToJSON(d.docN)
	var kept []*yaml.Node
	for _, c := range list.Content {
		if r := resolve(c); r == nil || r.Value != name {
			kept = append(kept, c)
		}
	}
	if len(kept) == len(list.Content) {
		return nil, Result{}, ErrNotFound
	}
	list.Content = kept
	if len(kept) == 0 {
		list.Style = yaml.FlowStyle
	}
	res := Result{}
	out, err := d.finish(d.rootSplice(Policies), before, &res)
	return out, res, err
}

// section returns the mapping of a section, creating it (at the end of
// the file) when absent or null; created reports that.
func (d *doc) section(name string) (sec *yaml.Node, created bool) {
	if i := ownIndex(d.root, name); i >= 0 {
		v := d.root.Content[i+1]
		if r := resolve(v); r != nil && r.Kind == yaml.MappingNode {
			if v.Kind == yaml.AliasNode { // edit a copy, not what the alias names
				cp := *r
				cp.Anchor = ""
				cp.Content = append([]*yaml.Node(nil), r.Content...)
				d.root.Content[i+1] = &cp
				return &cp, true
			}
			return v, false
		}
		replace(v, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
		v.Style = 0
		return v, true
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	d.root.Content = append(d.root.Content, str(name), m)
	return m, true
}

func (d *doc) policyList() (*yaml.Node, error) {
	if i := ownIndex(d.root, Policies); i >= 0 {
		v := d.root.Content[i+1]
		switch {
		case v.Kind == yaml.SequenceNode:
			return v, nil
		case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
			replace(v, &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"})
			return v, nil
		}
		return nil, &UnsafeError{Msg: "the top-level policies is not a list written in the file: edit the file by hand"}
	}
	l := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	d.root.Content = append(d.root.Content, str(Policies), l)
	return l, nil
}

// finish writes the edited tree: the splice when it reads back as the
// edited tree, else the whole tree re-encoded. before is the file's JSON
// view before the edit, to tell a no-op.
func (d *doc) finish(sp splice, before []byte, res *Result) ([]byte, error) {
	want, err := ToJSON(d.docN)
	if err != nil {
		return nil, err
	}
	res.Changed = !bytes.Equal(before, want)
	if !res.Changed {
		return d.src, nil
	}
	if d.json {
		out, err := indentJSON(want)
		if err != nil || !readsAs(out, want) {
			return nil, &UnsafeError{Msg: "the edited file cannot be written as JSON that reads back the same: edit the file by hand"}
		}
		res.Reformatted = ReformattedJSON
		return out, nil
	}
	if !sp.none {
		if out, err := d.apply(sp); err == nil && readsAs(out, want) {
			return out, nil
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(d.indent(d.root))
	if err := enc.Encode(d.docN); err != nil {
		return nil, &UnsafeError{Msg: fmt.Sprintf("the edited file cannot be written as YAML: %v", err)}
	}
	enc.Close()
	if !readsAs(b.Bytes(), want) {
		return nil, &UnsafeError{Msg: "the edit would change other parts of the file (an anchor in the entry is used elsewhere): edit the file by hand"}
	}
	res.Reformatted = ReformattedYAML
	return b.Bytes(), nil
}

// readsAs reports whether out parses to the JSON view want.
func readsAs(out, want []byte) bool {
	var n yaml.Node
	if yaml.Unmarshal(out, &n) != nil {
		return false
	}
	got, err := ToJSON(&n)
	return err == nil && bytes.Equal(got, want)
}

func indentJSON(compact []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Indent(&b, compact, "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}
