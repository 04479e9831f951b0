package configedit

import "go.yaml.in/yaml/v3"

// merge makes old hold the value of nw while keeping what a person wrote
// around it: a mapping keeps its keys' nodes (and so their comments), its
// order and its style, dropping the keys nw lacks and appending nw's new
// keys; a list is merged item by item; a scalar that means the same
// (0x10 and 16, '*' and "*", ${VAR} and ${VAR}) is kept as written.
//
// old is changed in place rather than replaced so that an anchor on it,
// and the aliases that point at it, stay one node. Merge keys (<<) in an
// edited mapping are dropped: nw lists every key it means to have.
func merge(old, nw *yaml.Node) {
	if old.Kind == yaml.AliasNode {
		replace(old, nw)
		return
	}
	switch {
	case old.Kind == yaml.MappingNode && nw.Kind == yaml.MappingNode:
		want := map[string]*yaml.Node{}
		for i := 0; i+1 < len(nw.Content); i += 2 {
			want[nw.Content[i].Value] = nw.Content[i+1]
		}
		kept := map[string]bool{}
		var content []*yaml.Node
		for i := 0; i+1 < len(old.Content); i += 2 {
			k, v := old.Content[i], old.Content[i+1]
			nv, ok := want[k.Value]
			if isMerge(k) || !ok || kept[k.Value] {
				continue
			}
			kept[k.Value] = true
			merge(v, nv)
			content = append(content, k, v)
		}
		for i := 0; i+1 < len(nw.Content); i += 2 {
			if !kept[nw.Content[i].Value] {
				content = append(content, nw.Content[i], nw.Content[i+1])
			}
		}
		old.Content = content
		old.Tag = "!!map"
	case old.Kind == yaml.SequenceNode && nw.Kind == yaml.SequenceNode:
		content := make([]*yaml.Node, 0, len(nw.Content))
		for i, nv := range nw.Content {
			if i < len(old.Content) {
				merge(old.Content[i], nv)
				content = append(content, old.Content[i])
				continue
			}
			// A new item is quoted as the items before it are.
			if last := len(old.Content) - 1; last >= 0 && nv.Kind == yaml.ScalarNode && nv.Tag == "!!str" && old.Content[last].Kind == yaml.ScalarNode {
				nv.Style = old.Content[last].Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle)
			}
			content = append(content, nv)
		}
		old.Content = content
		old.Tag = "!!seq"
	case old.Kind == yaml.ScalarNode && nw.Kind == yaml.ScalarNode:
		if scalarJSON(old) == scalarJSON(nw) {
			return
		}
		style := yaml.Style(0)
		if nw.Tag == "!!str" {
			// Keep the quotes a person chose; a literal block only for
			// text that still has lines.
			switch {
			case old.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
				style = old.Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle)
			case old.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 && containsNewline(nw.Value):
				style = old.Style & (yaml.LiteralStyle | yaml.FoldedStyle)
			}
		}
		old.Tag, old.Value, old.Style = nw.Tag, nw.Value, style
	default:
		replace(old, nw)
	}
}

// replace makes n hold nw, keeping n's comments and anchor.
func replace(n, nw *yaml.Node) {
	head, line, foot, anchor := n.HeadComment, n.LineComment, n.FootComment, n.Anchor
	*n = *nw
	n.HeadComment, n.LineComment, n.FootComment = head, line, foot
	if n.Kind != yaml.AliasNode {
		n.Anchor = anchor
	}
}

func containsNewline(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return true
		}
	}
	return false
}
