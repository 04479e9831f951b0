// Package configtest builds config.Node values from YAML text for the tests
// of policies and conditions.
package configtest

import (
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/internal/config"
)

// File is the file name the nodes report in their errors.
const File = "gateway.config.yml"

// Node parses src as one YAML value placed at path in gateway.config.yml
// (line 1 is src's first line). An empty src gives an absent node.
func Node(t testing.TB, path, src string) config.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("test YAML %q: %v", src, err)
	}
	n := config.Node{File: File, Path: path}
	if len(doc.Content) > 0 {
		n.Y = doc.Content[0]
	}
	return n
}

// Action is Node at the path "action", where policy options live.
func Action(t testing.TB, src string) config.Node { return Node(t, "action", src) }
