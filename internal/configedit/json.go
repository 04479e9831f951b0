package configedit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxDepth bounds the nesting of an entity sent as JSON (and of a node
// turned into JSON), so that a hostile body cannot exhaust the stack.
const maxDepth = 64

// BadEntityError is an entity body that is not one JSON value.
type BadEntityError struct{ Msg string }

func (e *BadEntityError) Error() string { return e.Msg }

func badEntity(format string, args ...any) error {
	return &BadEntityError{Msg: fmt.Sprintf(format, args...)}
}

// FromJSON turns one JSON value into a YAML node tree, keeping the order
// of object keys as sent (a Go map would not), so that new keys are
// written in the order the client wrote them. Strings stay strings (the
// encoder quotes "true" or "8080" when written), numbers keep their text.
func FromJSON(data []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := fromTokens(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badEntity("malformed JSON body: unexpected data after the JSON value")
	}
	return n, nil
}

func fromTokens(dec *json.Decoder, depth int) (*yaml.Node, error) {
	if depth > maxDepth {
		return nil, badEntity("the JSON body is nested more than %d levels deep", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, badEntity("malformed JSON body: unexpected end of the body")
		}
		return nil, badEntity("malformed JSON body: %v", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, badEntity("malformed JSON body: %v", err)
				}
				k, _ := kt.(string)
				if seen[k] {
					return nil, badEntity("the JSON body has the key %q twice in one object", k)
				}
				seen[k] = true
				v, err := fromTokens(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, str(k), v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, badEntity("malformed JSON body: %v", err)
			}
			return n, nil
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for dec.More() {
				v, err := fromTokens(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, badEntity("malformed JSON body: %v", err)
			}
			return n, nil
		}
		return nil, badEntity("malformed JSON body: unexpected %v", t)
	case string:
		return str(t), nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(string(t), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(t)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, badEntity("malformed JSON body: unexpected %v", tok)
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// ToJSON writes a node as JSON: aliases followed, merge keys (<<)
// expanded as the config decoder does, mapping keys in file order. It is
// the file's text as it is, without ${VAR} substitution.
func ToJSON(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, n, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// maxJSON bounds ToJSON's output: aliases of aliases can make a small
// file mean a huge document ("billion laughs").
const maxJSON = 16 << 20

func writeJSON(b *bytes.Buffer, n *yaml.Node, depth int) error {
	n = resolve(n)
	if depth > maxDepth {
		return fmt.Errorf("nested more than %d levels deep (an alias cycle?)", maxDepth)
	}
	if b.Len() > maxJSON {
		return fmt.Errorf("larger than %d bytes as JSON (aliases expanding?)", maxJSON)
	}
	if n == nil {
		b.WriteString("null")
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i, kv := range pairs(n) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonString(resolve(kv[0]).Value))
			b.WriteByte(':')
			if err := writeJSON(b, kv[1], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, c, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		b.WriteString(scalarJSON(n))
	default:
		b.WriteString("null")
	}
	return nil
}

// scalarJSON is a scalar as JSON by its resolved tag: numbers and booleans
// as such, null as null, everything else (timestamps, custom tags, .inf)
// as its text.
func scalarJSON(n *yaml.Node) string {
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!bool":
		var v bool
		if n.Decode(&v) == nil {
			return strconv.FormatBool(v)
		}
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
		var f float64
		if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	case "!!float":
		var f float64
		if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
	}
	return jsonString(n.Value)
}

// jsonString is s as a JSON string with every character YAML refuses
// raw (C0 and C1 controls, DEL, BOM, non-characters) escaped, so that the
// JSON reads back as YAML too (gateway.config.json is parsed as YAML).
func jsonString(s string) string {
	raw, _ := json.Marshal(s)
	var b strings.Builder
	for _, r := range string(raw) {
		if r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0xfeff || r == 0xfffe || r == 0xffff {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return resolve(n.Content[0])
	}
	return n
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// pairs returns a mapping's key/value nodes with merge keys expanded, the
// mapping's own keys winning (as internal/config reads them).
func pairs(n *yaml.Node) [][2]*yaml.Node { return pairsDepth(n, 0) }

func pairsDepth(n *yaml.Node, depth int) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	if depth > maxDepth {
		return nil
	}
	own := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isMerge(n.Content[i]) {
			own[n.Content[i].Value] = true
		}
	}
	have := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isMerge(k) {
			out = append(out, [2]*yaml.Node{k, v})
			continue
		}
		src := resolve(v)
		sources := []*yaml.Node{src}
		if src != nil && src.Kind == yaml.SequenceNode {
			sources = src.Content
		}
		for _, s := range sources {
			s = resolve(s)
			if s == nil || s.Kind != yaml.MappingNode {
				continue
			}
			for _, p := range pairsDepth(s, depth+1) {
				if !own[p[0].Value] && !have[p[0].Value] {
					have[p[0].Value] = true
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// lookup finds key in a mapping (merge keys included).
func lookup(m *yaml.Node, key string) (*yaml.Node, bool) {
	for _, p := range pairs(m) {
		if p[0].Value == key {
			return p[1], true
		}
	}
	return nil, false
}

// ownIndex is the index in m.Content of the key node written in m itself,
// -1 when there is none.
func ownIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMerge(m.Content[i]) && m.Content[i].Value == key {
			return i
		}
	}
	return -1
}
