package configedit

import (
	"bytes"
	"strings"

	"go.yaml.in/yaml/v3"
)

// splice replaces the lines of one mapping entry of the original text
// with the entry rendered from the edited tree, leaving every other line
// as it was. finish checks that the result reads back as the edited
// tree and falls back to re-encoding the whole file when it does not
// (a flow mapping spread over lines, odd indentation), so a splice can
// cost layout but never change meaning.
type splice struct {
	none   bool // no splice: re-encode the whole file
	key    *yaml.Node
	val    *yaml.Node
	col    int // column of the key (1-based)
	indent int // indentation of the entry's children
	start  int // first line replaced (0-based)
	end    int // line after the last one replaced
	insert bool
	remove bool
	entry  bool // one entry of a section, not a whole top-level key
}

// entrySplice is the splice of entry i (key index in sec.Content) of a
// section's block mapping; the whole section's entry in the root when the
// section is new, empty or written in flow style.
func (d *doc) entrySplice(sec *yaml.Node, i int, secNew bool, section string) splice {
	if d.json || secNew || sec.Style&yaml.FlowStyle != 0 || d.root.Style&yaml.FlowStyle != 0 {
		return d.rootSplice(section)
	}
	key, val := sec.Content[i], sec.Content[i+1]
	sp := splice{key: key, val: val, indent: d.childIndent(sec, key, val), entry: true}
	if key.Line > 0 {
		sp.col, sp.start, sp.end = key.Column, key.Line-1, d.entryEnd(key, val)
		return sp
	}
	// A new entry goes after the last one written.
	for j := i - 2; j >= 0; j -= 2 {
		if k := sec.Content[j]; k.Line > 0 {
			sp.col, sp.insert = k.Column, true
			sp.start = d.entryEnd(k, sec.Content[j+1])
			sp.end = sp.start
			return sp
		}
	}
	return d.rootSplice(section)
}

// rootSplice is the splice of a whole top-level entry (or, for a new one,
// an addition at the end of the file).
func (d *doc) rootSplice(name string) splice {
	if d.json || d.root.Style&yaml.FlowStyle != 0 {
		return splice{none: true}
	}
	i := ownIndex(d.root, name)
	if i < 0 {
		return splice{none: true}
	}
	key, val := d.root.Content[i], d.root.Content[i+1]
	sp := splice{key: key, val: val, col: 1, indent: d.indent(d.root)}
	if key.Line > 0 && key.Column == 1 {
		sp.start, sp.end = key.Line-1, d.entryEnd(key, val)
		return sp
	}
	if key.Line > 0 {
		return splice{none: true}
	}
	sp.insert, sp.start, sp.end = true, len(d.lines), len(d.lines)
	return sp
}

// apply builds the new text.
func (d *doc) apply(sp splice) ([]byte, error) {
	var b bytes.Buffer
	start := sp.start
	if sp.remove {
		start = d.headStart(sp.key)
	}
	for _, l := range d.lines[:start] {
		b.WriteString(l)
	}
	if !sp.remove {
		text, err := renderEntry(sp.key, sp.val, sp.col, sp.indent)
		if err != nil {
			return nil, err
		}
		if b.Len() > 0 && b.Bytes()[b.Len()-1] != '\n' {
			b.WriteByte('\n')
		}
		b.WriteString(text)
	}
	for _, l := range d.lines[sp.end:] {
		b.WriteString(l)
	}
	return b.Bytes(), nil
}

// renderEntry writes key: val as YAML with the key at column col. The
// key's head and foot comments are left out: they stay in the text
// around the replaced lines.
func renderEntry(key, val *yaml.Node, col, indent int) (string, error) {
	k := *key
	k.HeadComment, k.FootComment = "", ""
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{&k, val}}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(indent)
	if err := enc.Encode(m); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	pad := strings.Repeat(" ", col-1)
	var out strings.Builder
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		if l == "" {
			continue
		}
		if strings.TrimSpace(l) != "" {
			out.WriteString(pad)
		}
		out.WriteString(l)
	}
	return out.String(), nil
}

// entryEnd is the line after the last one of the entry whose key is key:
// the entry goes on while lines are blank or indented deeper than the key;
// trailing blank lines are left to what follows.
func (d *doc) entryEnd(key, val *yaml.Node) int {
	c := key.Column - 1
	j := max(key.Line, lastLine(val, 0))
	for j < len(d.lines) {
		l := d.lines[j]
		if strings.TrimSpace(l) != "" && indentOf(l) <= c {
			break
		}
		j++
	}
	for j > key.Line && strings.TrimSpace(d.lines[j-1]) == "" {
		j--
	}
	return j
}

// headStart is the first line of the comment block written right above
// key at its indentation (the comment that goes with the entry).
func (d *doc) headStart(key *yaml.Node) int {
	i := key.Line - 1
	c := key.Column - 1
	for i > 0 {
		l := d.lines[i-1]
		if t := strings.TrimSpace(l); !strings.HasPrefix(t, "#") || indentOf(l) != c {
			break
		}
		i--
	}
	return i
}

// lastLine is the last line any node under n starts on.
func lastLine(n *yaml.Node, depth int) int {
	if n == nil || depth > maxDepth {
		return 0
	}
	line := n.Line
	if n.Kind == yaml.AliasNode {
		return line
	}
	for _, c := range n.Content {
		line = max(line, lastLine(c, depth+1))
	}
	return line
}

func indentOf(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// childIndent is the indentation an entry's children are written with:
// as its own children are, else as the section's entries are, else 2.
func (d *doc) childIndent(sec, key, val *yaml.Node) int {
	if v := resolve(val); v != nil && v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 && v.Content[0].Line > key.Line && v.Content[0].Column > key.Column {
		return clampIndent(v.Content[0].Column - key.Column)
	}
	return d.indent(d.root)
}

// indent is the file's indentation step: how far the first block mapping
// under the top level is indented.
func (d *doc) indent(root *yaml.Node) int {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if v.Kind == yaml.MappingNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 && v.Content[0].Line > k.Line {
			return clampIndent(v.Content[0].Column - k.Column)
		}
	}
	return 2
}

func clampIndent(n int) int { return min(max(n, 2), 9) }
