package configedit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const base = `# Gateway config
http:
  port: ${EG_HTTP_PORT:-8080}   # from the environment

# Routes
apiEndpoints:
  # the public API
  api:
    host: '*'
    paths: ['/api/*']   # everything under /api

  status: {paths: /status}

serviceEndpoints:
  backend:
    url: 'http://localhost:9100'

policies:
  - proxy
  - terminate

pipelines:
  default:
    apiEndpoints: [api]
    policies:
      - proxy:
          action: {serviceEndpoint: backend}
`

func TestSet(t *testing.T) {
	tests := []struct {
		name, src, section, entry, entity string
		isJSON                            bool
		want                              string // whole file
		created                           bool
		reformatted                       string
	}{
		{
			name: "replace keeps every other line and the comments of kept keys",
			src:  base, section: APIEndpoints, entry: "api", entity: `{"host":"*","paths":["/api/*","/v2/*"],"methods":["GET"]}`,
			want: strings.Replace(base, "    host: '*'\n    paths: ['/api/*']   # everything under /api\n",
				"    host: '*'\n    paths: ['/api/*', '/v2/*'] # everything under /api\n    methods:\n      - GET\n", 1),
		},
		{
			name: "a new entry goes after the last one, before the blank line",
			src:  base, section: ServiceEndpoints, entry: "other", entity: `{"url":"http://127.0.0.1:9200","proxyOptions":{"secure":false}}`,
			want: strings.Replace(base, "    url: 'http://localhost:9100'\n",
				"    url: 'http://localhost:9100'\n  other:\n    url: http://127.0.0.1:9200\n    proxyOptions:\n      secure: false\n", 1),
			created: true,
		},
		{
			name: "a flow entry stays flow",
			src:  base, section: APIEndpoints, entry: "status", entity: `{"paths":["/status","/health"]}`,
			want: strings.Replace(base, "  status: {paths: /status}\n", "  status: {paths: [/status, /health]}\n", 1),
		},
		{
			name: "a missing section is added at the end",
			src:  "http: {port: 0}\n", section: Pipelines, entry: "p", entity: `{"apiEndpoints":["a"],"policies":[{"proxy":[{"action":{"serviceEndpoint":"s"}}]}]}`,
			want:    "http: {port: 0}\npipelines:\n  p:\n    apiEndpoints:\n      - a\n    policies:\n      - proxy:\n          - action:\n              serviceEndpoint: s\n",
			created: true,
		},
		{
			name: "a null section becomes a mapping",
			src:  "http: {port: 0}\napiEndpoints:\n# end\n", section: APIEndpoints, entry: "a", entity: `{"paths":"/a"}`,
			want:    "http: {port: 0}\napiEndpoints:\n  a:\n    paths: /a\n# end\n",
			created: true,
		},
		{
			name: "a flow section is rewritten as one entry",
			src:  "http: {port: 0}\nserviceEndpoints: {s: {url: 'http://a'}}\n", section: ServiceEndpoints, entry: "t", entity: `{"url":"http://b"}`,
			want:    "http: {port: 0}\nserviceEndpoints: {s: {url: 'http://a'}, t: {url: 'http://b'}}\n",
			created: true,
		},
		{
			name: "${VAR} text is written as sent and strings that look like numbers stay strings",
			src:  "http: {port: 0}\nserviceEndpoints:\n  s:\n    url: ${UP}\n", section: ServiceEndpoints, entry: "s", entity: `{"url":"${UP}","x":"8080","y":"true"}`,
			want: "http: {port: 0}\nserviceEndpoints:\n  s:\n    url: ${UP}\n    x: \"8080\"\n    y: \"true\"\n",
		},
		{
			name: "the same value changes nothing",
			src:  base, section: APIEndpoints, entry: "api", entity: `{"host":"*","paths":["/api/*"]}`,
			want: base,
		},
		{
			name: "four-space files stay four-space",
			src:  "http:\n    port: 0\napiEndpoints:\n    a:\n        paths: /a\n", section: APIEndpoints, entry: "b", entity: `{"paths":"/b","methods":"GET"}`,
			want:    "http:\n    port: 0\napiEndpoints:\n    a:\n        paths: /a\n    b:\n        paths: /b\n        methods: GET\n",
			created: true,
		},
		{
			name: "a flow mapping over several lines falls back to re-encoding the file",
			src:  "http: {port: 0}\n\napiEndpoints:\n  a: {\n    paths: /a\n  }\n", section: APIEndpoints, entry: "a", entity: `{"paths":"/b"}`,
			want:        "http: {port: 0}\napiEndpoints:\n  a: {paths: /b}\n",
			reformatted: ReformattedYAML,
		},
		{
			name: "JSON files are written as JSON",
			src:  `{"http": {"port": 0}, "apiEndpoints": {"a": {"paths": "/a"}}}`, isJSON: true,
			section: APIEndpoints, entry: "b", entity: `{"paths":"/b"}`,
			want:        "{\n  \"http\": {\n    \"port\": 0\n  },\n  \"apiEndpoints\": {\n    \"a\": {\n      \"paths\": \"/a\"\n    },\n    \"b\": {\n      \"paths\": \"/b\"\n    }\n  }\n}\n",
			created:     true,
			reformatted: ReformattedJSON,
		},
		{
			name: "keys are written in the order sent",
			src:  "http: {port: 0}\n", section: ServiceEndpoints, entry: "s", entity: `{"urls":["http://b","http://a"],"proxyOptions":{"target":{"keyFile":"k"},"secure":true}}`,
			want:    "http: {port: 0}\nserviceEndpoints:\n  s:\n    urls:\n      - http://b\n      - http://a\n    proxyOptions:\n      target:\n        keyFile: k\n      secure: true\n",
			created: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, res, err := Set([]byte(tt.src), tt.isJSON, tt.section, tt.entry, []byte(tt.entity))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", out, tt.want)
			}
			if res.Created != tt.created || res.Reformatted != tt.reformatted {
				t.Errorf("result %+v, want created %v reformatted %q", res, tt.created, tt.reformatted)
			}
			got, found, err := Entry(out, tt.section, tt.entry)
			if err != nil || !found || !sameJSON(t, got, []byte(tt.entity)) {
				t.Errorf("Entry after Set = %s %v %v, want %s", got, found, err, tt.entity)
			}
		})
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name, src, section, entry string
		want                      string
		err                       error
		unsafe                    bool
	}{
		{
			name: "the entry and the comment above it go, nothing else",
			src:  base, section: APIEndpoints, entry: "api",
			want: strings.Replace(base, "  # the public API\n  api:\n    host: '*'\n    paths: ['/api/*']   # everything under /api\n", "", 1),
		},
		{
			name: "a flow entry",
			src:  base, section: APIEndpoints, entry: "status",
			want: strings.Replace(base, "  status: {paths: /status}\n", "", 1),
		},
		{
			name: "the last entry leaves an empty mapping",
			src:  base, section: ServiceEndpoints, entry: "backend",
			want: strings.Replace(base, "serviceEndpoints:\n  backend:\n    url: 'http://localhost:9100'\n", "serviceEndpoints: {}\n", 1),
		},
		{name: "absent", src: base, section: Pipelines, entry: "nope", err: ErrNotFound},
		{name: "absent section", src: "http: {port: 0}\n", section: Pipelines, entry: "p", err: ErrNotFound},
		{
			name: "an entry that only a merge key brings in",
			src:  "common: &c {a: {paths: /a}}\napiEndpoints:\n  <<: *c\n  b: {paths: /b}\n", section: APIEndpoints, entry: "a", unsafe: true,
		},
		{
			name: "an entry whose anchor is used elsewhere",
			src:  "apiEndpoints:\n  a: &x {paths: /a}\n  b: *x\n", section: APIEndpoints, entry: "a", unsafe: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := Delete([]byte(tt.src), false, tt.section, tt.entry)
			var ue *UnsafeError
			switch {
			case tt.err != nil || tt.unsafe:
				if tt.err != nil && !errors.Is(err, tt.err) || tt.unsafe && !errors.As(err, &ue) {
					t.Fatalf("err %v, want %v (unsafe %v)", err, tt.err, tt.unsafe)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", out, tt.want)
			}
			if _, found, _ := Entry(out, tt.section, tt.entry); found {
				t.Error("still there")
			}
		})
	}
}

func TestPolicies(t *testing.T) {
	out, res, err := EnablePolicy([]byte(base), false, "cors")
	if err != nil || !res.Created {
		t.Fatal(err, res)
	}
	if want := strings.Replace(base, "  - terminate\n", "  - terminate\n  - cors\n", 1); string(out) != want {
		t.Errorf("enable:\n%s", out)
	}
	if again, res, _ := EnablePolicy(out, false, "cors"); res.Changed || !bytes.Equal(again, out) {
		t.Error("enabling twice changed the file")
	}
	out, _, err = DisablePolicy(out, false, "terminate")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(base, "  - terminate\n", "  - cors\n", 1); string(out) != want {
		t.Errorf("disable:\n%s", out)
	}
	if names, _ := EnabledPolicies(out); strings.Join(names, ",") != "proxy,cors" {
		t.Errorf("EnabledPolicies = %v", names)
	}
	if _, _, err := DisablePolicy(out, false, "terminate"); !errors.Is(err, ErrNotFound) {
		t.Errorf("disable absent: %v", err)
	}
	out, _, err = EnablePolicy([]byte("http: {port: 0}\npolicies: [proxy]\n"), false, "log")
	if err != nil || string(out) != "http: {port: 0}\npolicies: [proxy, log]\n" {
		t.Errorf("flow list: %q %v", out, err)
	}
	out, _, err = EnablePolicy([]byte("http: {port: 0}"), false, "log")
	if err != nil || string(out) != "http: {port: 0}\npolicies:\n  - log\n" {
		t.Errorf("no list and no final newline: %q %v", out, err)
	}
}

func TestSectionJSON(t *testing.T) {
	got, err := Section([]byte(base), APIEndpoints)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"api":{"host":"*","paths":["/api/*"]},"status":{"paths":"/status"}}`; string(got) != want {
		t.Errorf("Section = %s, want %s (file order, raw text)", got, want)
	}
	if got, _ := Section([]byte(base), "nope"); string(got) != "{}" {
		t.Errorf("absent section = %s", got)
	}
	got, _, _ = Entry([]byte("http:\n  port: ${P:-1}\nserviceEndpoints:\n  s: {url: '${UP}', n: 0x10, f: 1.5, b: yes, z: ~}\n"), ServiceEndpoints, "s")
	if want := `{"url":"${UP}","n":16,"f":1.5,"b":"yes","z":null}`; string(got) != want {
		t.Errorf("Entry = %s, want %s", got, want)
	}
	got, _, _ = Entry([]byte("d: &d {host: h}\napiEndpoints:\n  a: {<<: *d, paths: /a}\n"), APIEndpoints, "a")
	if want := `{"host":"h","paths":"/a"}`; string(got) != want {
		t.Errorf("merge keys are expanded: %s", got)
	}
}

func TestBadEntity(t *testing.T) {
	for _, body := range []string{``, `{`, `{"a":1}x`, `{"a":1,"a":2}`, strings.Repeat("[", 100) + strings.Repeat("]", 100)} {
		_, _, err := Set([]byte(base), false, APIEndpoints, "x", []byte(body))
		var be *BadEntityError
		if !errors.As(err, &be) {
			t.Errorf("Set(%.20q) = %v, want a BadEntityError", body, err)
		}
	}
}
