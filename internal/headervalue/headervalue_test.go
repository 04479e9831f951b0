package headervalue

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain value", "plain value"},
		{"tab\tkept", "tab\tkept"},
		{"a\r\nX-Injected: 1", "aX-Injected: 1"},
		{"\x00nul\x1fus\x7fdel", "nulusdel"},
		{"ünïcode ✓", "ünïcode ✓"},
		{"obs-text \x80\xff kept", "obs-text \x80\xff kept"},
		{"bad utf-8 \xff\n dropped", "bad utf-8 \xff dropped"},
		{"\r\n", ""},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in); got != tt.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSanitizeCleanDoesNotAllocate(t *testing.T) {
	v := "c1-application-with-a-longer-value"
	if n := testing.AllocsPerRun(100, func() { Sanitize(v) }); n != 0 {
		t.Errorf("Sanitize of a clean value allocates %v times", n)
	}
}

// runeSanitize is the proxy's former rune-based copy: the same result for
// valid UTF-8 (the unified byte-based one also keeps invalid bytes as they
// are, where strings.Map wrote U+FFFD for them).
func runeSanitize(v string) string {
	if strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) < 0 {
		return v
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, v)
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\t", "\x7f", "ü\x00", "\xff\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := Sanitize(v)
		for i := 0; i < len(got); i++ {
			if isControl(got[i]) {
				t.Fatalf("Sanitize(%q) = %q keeps control byte %#x", v, got, got[i])
			}
		}
		if Sanitize(got) != got {
			t.Fatalf("Sanitize is not idempotent on %q", v)
		}
		if utf8.ValidString(v) && got != runeSanitize(v) {
			t.Fatalf("Sanitize(%q) = %q, rune-based %q", v, got, runeSanitize(v))
		}
	})
}

// decode decodes JSON the way the jwt policy does (json.Number), or as
// float64 when num is false (introspection, the authorization server).
func decode(t *testing.T, src string, num bool) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(src))
	if num {
		d.UseNumber()
	}
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFromClaim(t *testing.T) {
	when := time.Date(2031, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	tests := []struct {
		name string
		v    any
		// header is the jwt policy's claimsToHeaders (","), expr the
		// expression language's consumer.<claim> (", ").
		header, expr string
	}{
		{"string", "a b", "a b", "a b"},
		{"empty string", "", "", ""},
		{"json.Number", json.Number("3"), "3", "3"},
		{"json.Number fraction", json.Number("1.50"), "1.50", "1.50"},
		{"float64", 3.0, "3", "3"},
		{"float64 fraction", 0.5, "0.5", "0.5"},
		{"float64 large", 1e21, "1000000000000000000000", "1000000000000000000000"},
		{"bool true", true, "true", "true"},
		{"bool false", false, "false", "false"},
		{"nil", nil, "", ""},
		{"list of strings", []any{"a", "b"}, "a,b", "a, b"},
		{"empty list", []any{}, "", ""},
		{"list of numbers", []any{json.Number("1"), 2.5}, "1,2.5", "1, 2.5"},
		{"list of mixed", []any{"a", true, nil}, "a,true,null", "a, true, null"},
		{"nested list", []any{"a", []any{"b", "c"}}, `a,["b","c"]`, `a, ["b","c"]`},
		{"list of objects", []any{map[string]any{"k": "v"}}, `{"k":"v"}`, `{"k":"v"}`},
		{"[]string", []string{"x", "y"}, "x,y", "x, y"},
		{"object", map[string]any{"k": "v", "n": json.Number("1")}, `{"k":"v","n":1}`, `{"k":"v","n":1}`},
		{"empty object", map[string]any{}, "{}", "{}"},
		{"time", when, "2030-12-31T23:00:00Z", "2030-12-31T23:00:00Z"},
		{"string with a newline", "a\nb", "a\nb", "a\nb"}, // Sanitize's job
	}
	for _, tt := range tests {
		if got := FromClaim(tt.v, ","); got != tt.header {
			t.Errorf("%s: FromClaim(%#v, \",\") = %q, want %q", tt.name, tt.v, got, tt.header)
		}
		if got := FromClaim(tt.v, ", "); got != tt.expr {
			t.Errorf("%s: FromClaim(%#v, \", \") = %q, want %q", tt.name, tt.v, got, tt.expr)
		}
	}
}

// jwtClaimString is the jwt policy's claimString before it used FromClaim.
func jwtClaimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				parts = append(parts, s)
				continue
			}
			b, _ := json.Marshal(e)
			parts = append(parts, string(b))
		}
		return strings.Join(parts, ",")
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// exprClaimString is the expression language's claimString before it used
// FromClaim.
func exprClaimString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = exprClaimString(e)
		}
		return strings.Join(s, ", ")
	case []string:
		return strings.Join(x, ", ")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(v)
}

var claimSamples = []string{
	`"s"`, `""`, `"<&>"`, `3`, `-0.25`, `1e21`, `1e-7`, `123456789012345678901234`, `true`, `false`, `null`,
	`[]`, `["a","b"]`, `["a",1,true]`, `[null]`, `["a",["b"]]`, `[{"k":"<v>"}]`, `[1.5e300]`,
	`{}`, `{"k":"v"}`, `{"b":[1,2],"a":null}`,
}

// TestFromClaimKeepsJWTHeaders: for every value the jwt policy's decoder
// (json.Number) produces, claimsToHeaders renders exactly what it did.
func TestFromClaimKeepsJWTHeaders(t *testing.T) {
	for _, src := range claimSamples {
		v := decode(t, src, true)
		if got, want := FromClaim(v, ","), jwtClaimString(v); got != want {
			t.Errorf("%s: FromClaim = %q, the jwt policy rendered %q", src, got, want)
		}
	}
}

// TestFromClaimExprChanges pins where expressions render a claim
// differently than before the two renderings were one: objects (top level
// or in a list), lists inside lists and null inside a list are now compact
// JSON, as docs/policies/jwt.md describes for claims, where the expression
// language used Go's fmt syntax (map[k:v]) or flattened them. Every other
// value, and everything docs/expressions.md describes, renders as before.
func TestFromClaimExprChanges(t *testing.T) {
	changed := map[string]string{
		`[null]`:               "null",
		`["a",["b"]]`:          `a, ["b"]`,
		`[{"k":"<v>"}]`:        `{"k":"\u003cv\u003e"}`,
		`{}`:                   "{}",
		`{"k":"v"}`:            `{"k":"v"}`,
		`{"b":[1,2],"a":null}`: `{"a":null,"b":[1,2]}`,
	}
	for _, num := range []bool{false, true} {
		for _, src := range claimSamples {
			v := decode(t, src, num)
			got := FromClaim(v, ", ")
			want, ok := changed[src]
			if !ok {
				want = exprClaimString(v)
			}
			if got != want {
				t.Errorf("%s (json.Number %v): FromClaim = %q, want %q (before: %q)", src, num, got, want, exprClaimString(v))
			}
		}
	}
	for _, v := range []any{[]string{"x", "y"}, time.Date(2031, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))} {
		if got, want := FromClaim(v, ", "), exprClaimString(v); got != want {
			t.Errorf("FromClaim(%#v) = %q, before %q", v, got, want)
		}
	}
}
