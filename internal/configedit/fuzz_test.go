package configedit

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzSet edits arbitrary files with arbitrary entities. Whatever the
// input, Set either refuses or writes a file that parses, holds the
// entity under its name, and leaves the other top-level keys and the
// section's other entries as they were.
func FuzzSet(f *testing.F) {
	f.Add(base, "api", `{"host":"*","paths":["/a"]}`)
	f.Add(base, "new", `{"url":"http://x"}`)
	f.Add("http: {port: 0}\n", "p", `[{"paths":"/a"},{"host":"h"}]`)
	f.Add("a: &x {b: 1}\napiEndpoints:\n  e: *x\n", "e", `{"b":2}`)
	f.Add("apiEndpoints:\n  a: |\n    text\n  # c\n  b: 1\n", "a", `"line\nline"`)
	f.Add("apiEndpoints: {\n  a: 1,\n}\n", "a", `null`)
	f.Fuzz(func(t *testing.T, src, name, entity string) {
		for _, isJSON := range []bool{false, true} {
			out, _, err := Set([]byte(src), isJSON, APIEndpoints, name, []byte(entity))
			if err != nil {
				var be *BadEntityError
				var ue *UnsafeError
				if errors.As(err, &be) || errors.As(err, &ue) {
					continue
				}
				if _, perr := parse([]byte(src), isJSON); perr == nil {
					t.Fatalf("Set failed on a file that parses: %v", err)
				}
				continue
			}
			got, found, err := Entry(out, APIEndpoints, name)
			if err != nil || !found {
				t.Fatalf("entry %q missing after Set (%v):\n%s", name, err, out)
			}
			nw, _ := FromJSON([]byte(entity))
			want, _ := ToJSON(nw)
			if !bytes.Equal(got, want) {
				t.Fatalf("entry = %s, want %s\n%s", got, want, out)
			}
			for _, other := range []string{"http", ServiceEndpoints, Pipelines, Policies} {
				a, aerr := Section([]byte(src), other)
				b, berr := Section(out, other)
				if aerr == nil && berr == nil && !bytes.Equal(a, b) {
					t.Fatalf("%s changed: %s -> %s", other, a, b)
				}
			}
		}
	})
}
