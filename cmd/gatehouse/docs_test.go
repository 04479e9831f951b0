package main

// The documentation's examples, checked against the code (issue #12): every
// gatehouse command line in a shell block must parse with the real command
// tree, every make target must exist, every curl must use options that
// exist and, against the Admin API, a route that exists; every
// gateway.config.yml or system.config.yml fragment must decode strictly,
// and every relative link must reach a file (and its heading). A block that
// cannot be checked is marked in the Markdown with
// <!-- docs-test: skip (reason) -->. e2e/docs_test.go runs the README
// quickstart and the cli.md session against a real gateway.

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/docblocks"
)

// repoRoot is where the Markdown lives, from this package's directory.
const repoRoot = "../.."

// docFiles are the pages the docs test reads: the README and docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{filepath.Join(repoRoot, "README.md")}
	for _, g := range []string{"docs/*.md", "docs/policies/*.md"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, g))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d doc pages: run from cmd/gatehouse", len(files))
	}
	return files
}

type page struct {
	path   string // as read
	name   string // relative to the repository, for messages
	blocks []docblocks.Block
	links  []docblocks.Link
}

func readPages(t *testing.T) []page {
	t.Helper()
	var pages []page
	for _, f := range docFiles(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(repoRoot, f)
		blocks, links, err := docblocks.Parse(name, src)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page{path: f, name: name, blocks: blocks, links: links})
	}
	return pages
}

// TestDocsShellExamples checks every command of every shell block.
func TestDocsShellExamples(t *testing.T) {
	targets, routes := makeTargets(t), adminRoutes()
	checked := map[string]int{}
	for _, p := range readPages(t) {
		for _, b := range p.blocks {
			if b.Skip != "" || !b.IsShell() {
				continue
			}
			for _, c := range b.Commands() {
				where := p.name + ":" + itoa(c.Line)
				if docblocks.IsSynopsis(c.Text) {
					if alts := docblocks.SynopsisWords(c.Text); len(alts) > 0 && isGatehouse(alts[0]) != nil {
						report(t, where, checkSynopsis(alts))
						checked["gatehouse synopsis"]++
					}
					continue
				}
				cmds, err := docblocks.Split(c.Text)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				for _, s := range cmds {
					args := s.Args
					if len(args) > 0 && args[0] == "sudo" {
						args = args[1:]
					}
					switch {
					case len(args) == 0:
					case isGatehouse(args) != nil:
						report(t, where, checkCommand(isGatehouse(args)))
						checked["gatehouse"]++
					case args[0] == "make":
						for _, a := range args[1:] {
							if !strings.HasPrefix(a, "-") && !strings.Contains(a, "=") && !targets[a] {
								t.Errorf("%s: make %s: the Makefile has no target %q", where, a, a)
							}
						}
						checked["make"]++
					case args[0] == "curl":
						report(t, where, checkCurl(args[1:], routes))
						checked["curl"]++
					}
				}
			}
		}
	}
	// The test must keep seeing the examples it is about.
	for _, k := range []string{"gatehouse", "gatehouse synopsis", "make", "curl"} {
		if checked[k] < 3 {
			t.Errorf("checked only %d %s command lines: is the extraction broken? (%v)", checked[k], k, checked)
		}
	}
}

// adminRoutes is a mux with the Admin API's routes, to look paths up in.
func adminRoutes() *http.ServeMux {
	routes := http.NewServeMux()
	for _, r := range admin.Routes {
		routes.HandleFunc(r, func(http.ResponseWriter, *http.Request) {})
	}
	return routes
}

// TestDocsCheckers: each checker refuses the drift it is there for, and
// passes the forms the docs use.
func TestDocsCheckers(t *testing.T) {
	routes := adminRoutes()
	tests := []struct {
		line string
		bad  bool
	}{
		{"gatehouse users create -p username=a -p firstname=b -p lastname=c -q", false},
		{"go run ./cmd/gatehouse serve --config-dir examples/quickstart --echo-upstream 127.0.0.1:9100", false},
		{"EG_HTTP_PORT=1 bin/gatehouse config validate --config-dir x", false},
		{"gatehouse credentials create -c $APP -t oauth2 -p scopes=read -q", false},
		{"gatehouse users create --username a", true},         // no such flag
		{"gatehouse users enable jdoe", true},                 // no such verb
		{"gatehouse version now", true},                       // version takes no argument
		{"gatehouse serve --log-format", true},                // the flag needs a value
		{"gatehouse users info <id|username>", false},         // synopsis
		{"gatehouse users activate|enable <id>...", true},     // one alternative is no verb
		{"gatehouse users list [-a|--every]", true},           // one alternative is no flag
		{"gatehouse apps list [-a] | info <id> | nope", true}, // verbs after " | " belong to apps
		{"curl -si -X PUT $ADMIN/users/ann/status -d '{}'", false},
		{"curl -s -X PATCH $ADMIN/users/ann", true},     // no such route
		{"curl -s http://localhost:9876/user", true},    // no such route
		{"curl --data-urlencoded a=b http://h/x", true}, // no such option
		{"curl -s -u 'a:b' http://127.0.0.1:8080/anything", false},
	}
	for _, tt := range tests {
		var errs []string
		if docblocks.IsSynopsis(tt.line) {
			errs = checkSynopsis(docblocks.SynopsisWords(tt.line))
		} else {
			cmds, err := docblocks.Split(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			args := cmds[0].Args
			if g := isGatehouse(args); g != nil {
				errs = checkCommand(g)
			} else {
				errs = checkCurl(args[1:], routes)
			}
		}
		if bad := len(errs) > 0; bad != tt.bad {
			t.Errorf("%s: errors %q, want bad=%v", tt.line, errs, tt.bad)
		}
	}
}

func report(t *testing.T, where string, errs []string) {
	t.Helper()
	for _, e := range errs {
		t.Errorf("%s: %s", where, e)
	}
}

// isGatehouse returns the arguments of a gatehouse invocation
// (gatehouse, bin/gatehouse, go run ./cmd/gatehouse), or nil.
func isGatehouse(args []string) []string {
	switch {
	case len(args) == 0:
		return nil
	case filepath.Base(args[0]) == "gatehouse":
		return append([]string{}, args[1:]...)
	case len(args) >= 3 && args[0] == "go" && args[1] == "run" && strings.TrimSuffix(args[2], "/") == "./cmd/gatehouse":
		return append([]string{}, args[3:]...)
	}
	return nil
}

// docRoot is the real command tree, with the help and completion
// commands cobra adds when it runs.
func docRoot() *cobra.Command {
	root := newRoot(cliEnv{stdout: io.Discard, stderr: io.Discard, lookup: os.LookupEnv})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	return root
}

// checkCommand parses a concrete command line as cobra would run it: the
// command path, the flags and their values, and the argument count.
func checkCommand(args []string) []string {
	root := docRoot()
	c, rest, err := root.Find(args)
	if err == nil {
		err = c.ParseFlags(rest)
	}
	if err == nil {
		err = c.ValidateArgs(c.Flags().Args())
	}
	if err != nil {
		return []string{"gatehouse " + strings.Join(args, " ") + ": " + err.Error()}
	}
	return nil
}

// checkSynopsis checks a usage line: each verb (every alternative of
// activate|deactivate) exists, each flag exists on its command; the parts
// after " | " are verbs of the same group.
func checkSynopsis(alts [][]string) (errs []string) {
	root := docRoot()
	var group *cobra.Command
	for i, words := range alts {
		c := root
		if i == 0 {
			words = isGatehouse(words)
		} else {
			c = group
		}
		for j := 0; j < len(words); j++ {
			w := words[j]
			switch {
			case strings.HasPrefix(w, "<") || isPlaceholder(w):
			case strings.HasPrefix(w, "-"):
				for _, f := range strings.Split(w, "|") {
					name, _, hasValue := strings.Cut(f, "=")
					fl := lookupFlag(c, name)
					if fl == nil {
						errs = append(errs, c.CommandPath()+" has no flag "+name)
						continue
					}
					if fl.Value.Type() != "bool" && !hasValue {
						j++ // the flag's value
					}
				}
			case c.HasSubCommands():
				var next *cobra.Command
				for _, v := range strings.Split(w, "|") {
					sub := findSub(c, v)
					if sub == nil {
						errs = append(errs, c.CommandPath()+" has no command "+strconv.Quote(v))
						continue
					}
					if next == nil {
						next = sub
					}
				}
				if next == nil {
					return errs
				}
				group, c = c, next
			}
		}
	}
	return errs
}

func isPlaceholder(w string) bool {
	return regexp.MustCompile(`^[A-Z][A-Z_]*$`).MatchString(w) || strings.Contains(w, "=")
}

func findSub(c *cobra.Command, name string) *cobra.Command {
	for _, s := range c.Commands() {
		if s.Name() == name || slices.Contains(s.Aliases, name) {
			return s
		}
	}
	return nil
}

// lookupFlag finds --name or -n on c, its persistent flags or its
// parents'.
func lookupFlag(c *cobra.Command, name string) *pflag.Flag {
	if long, ok := strings.CutPrefix(name, "--"); ok {
		return c.Flag(long)
	}
	if len(name) != 2 {
		return nil
	}
	if f := c.Flags().ShorthandLookup(name[1:]); f != nil {
		return f
	}
	return c.InheritedFlags().ShorthandLookup(name[1:])
}

// curlOptions are the curl options the docs use, and whether each takes
// a value. An option missing here fails the test: check it exists in
// curl(1), then add it.
var curlOptions = map[string]bool{
	"-s": false, "--silent": false, "-i": false, "--include": false, "-v": false, "-f": false, "-L": false,
	"-X": true, "--request": true, "-H": true, "--header": true, "-d": true, "--data": true,
	"--data-urlencode": true, "-u": true, "--user": true, "-c": true, "--cookie-jar": true,
	"-b": true, "--cookie": true, "-o": true, "--output": true, "-w": true, "--write-out": true,
	"--cacert": true, "--cert": true, "--key": true, "-k": false, "--http1.1": false,
}

// checkCurl checks the options of a curl line and, for a call to the Admin
// API ($ADMIN or port 9876), that the method and path have a route.
func checkCurl(args []string, routes *http.ServeMux) (errs []string) {
	method, url := "GET", ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			url = a
			continue
		}
		opts := []string{a}
		if !strings.HasPrefix(a, "--") && len(a) > 2 { // -si: -s -i
			opts = nil
			for _, c := range a[1:] {
				opts = append(opts, "-"+string(c))
			}
		}
		for k, o := range opts {
			takes, ok := curlOptions[o]
			if !ok {
				errs = append(errs, "curl option "+o+" is not one the docs test knows (curlOptions)")
				continue
			}
			if takes {
				if k != len(opts)-1 || i+1 >= len(args) {
					errs = append(errs, "curl "+o+" needs a value")
					continue
				}
				i++
				if o == "-X" || o == "--request" {
					method = args[i]
				}
				if (o == "-d" || o == "--data" || o == "--data-urlencode") && method == "GET" {
					method = "POST"
				}
			}
		}
	}
	if url == "" {
		return append(errs, "curl without a URL")
	}
	if !strings.HasPrefix(url, "$ADMIN") && !strings.Contains(url, ":9876") {
		return errs
	}
	u := strings.NewReplacer("$ADMIN", "http://127.0.0.1:9876", "http://localhost:9876", "http://127.0.0.1:9876").Replace(url)
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		return append(errs, "curl "+url+": "+err.Error())
	}
	if _, pattern := routes.Handler(req); pattern == "" {
		errs = append(errs, "curl -X "+method+" "+url+": the Admin API has no such route (admin.Routes)")
	}
	return errs
}

// makeTargets are the Makefile's targets.
func makeTargets(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+):`).FindAllStringSubmatch(string(src), -1) {
		out[m[1]] = true
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// yamlKeys are the top-level keys of a config file, from its struct.
func yamlKeys(v any) map[string]bool {
	out := map[string]bool{}
	rt := reflect.TypeOf(v)
	for i := 0; i < rt.NumField(); i++ {
		if tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			out[tag] = true
		}
	}
	return out
}

// TestDocsConfigFragments decodes every YAML block that is a piece of
// gateway.config.yml or system.config.yml with the real strict decoder:
// one whose top-level keys are all keys of one file, or a pipeline's
// policy list (decoded inside a pipeline). Errors about parts a fragment
// leaves out (an apiEndpoint declared elsewhere on the page) are allowed;
// an unknown key, a wrong type or a bad value is not. A gateway fragment
// that is whole is then checked as `gatehouse config validate` would,
// every policy's action included.
func TestDocsConfigFragments(t *testing.T) {
	gwKeys, sysKeys := yamlKeys(config.Gateway{}), yamlKeys(config.System{})
	// What a fragment may leave to the rest of its page, or to the reader
	// (a certificate file).
	partial := regexp.MustCompile(`is not declared under|is required: name one of|is not declared in the top-level policies|neither http nor https is configured|needs at least one apiEndpoint|no such file or directory`)
	n, whole := 0, 0
	for _, p := range readPages(t) {
		for _, b := range p.blocks {
			if b.Skip != "" || (b.Lang != "yaml" && b.Lang != "yml") {
				continue
			}
			body, kind, shift := configFragment(b.Body, gwKeys, sysKeys)
			var err error
			switch kind {
			case "":
				continue
			case "gateway":
				_, err = config.ParseGateway("gateway.config.yml", []byte(body), docLookup(body))
			case "system":
				_, err = config.ParseSystem("system.config.yml", []byte(body), docLookup(body))
			}
			n++
			complete := true
			for _, e := range config.AsErrors(err) {
				if partial.MatchString(e.Msg) {
					complete = complete && strings.Contains(e.Msg, "neither http nor https")
					continue
				}
				complete = false
				t.Errorf("%s, line %d of the block: %s", b.Where(), e.Line-shift, e.Msg)
			}
			if kind != "gateway" || !complete {
				continue
			}
			whole++
			dir := t.TempDir()
			if !strings.Contains(body, "\nhttp:") && !strings.HasPrefix(body, "http:") && !strings.Contains(body, "\nhttps:") {
				body += "http: {port: 0}\n" // a listener, which a page's fragment may leave out
			}
			if err := os.WriteFile(filepath.Join(dir, "gateway.config.yml"), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = app.Validate(dir, docLookup(body))
			for _, e := range config.AsErrors(err) {
				if !partial.MatchString(e.Msg) {
					t.Errorf("%s, line %d of the block: config validate: %s", b.Where(), e.Line-shift, e.Msg)
				}
			}
		}
	}
	if n < 30 || whole < 10 {
		t.Errorf("checked only %d config fragments, %d whole: is the extraction broken?", n, whole)
	}
}

// configFragment says which file a YAML block is part of ("gateway",
// "system", or "" for neither), and returns it as a document of that file.
// A policy list (a pipeline's "policies:", or its items) is put inside a
// pipeline of a whole config that declares its policies, so each step's
// action is decoded by its policy too; shift is the number of lines put
// before the block.
func configFragment(body string, gwKeys, sysKeys map[string]bool) (string, string, int) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil || len(doc.Content) == 0 {
		return "", "", 0
	}
	root := doc.Content[0]
	asPipeline := func(steps *yaml.Node, list string) (string, string, int) {
		var names []string
		for _, st := range steps.Content {
			if st.Kind == yaml.MappingNode && len(st.Content) > 0 && !slices.Contains(names, st.Content[0].Value) {
				names = append(names, st.Content[0].Value)
			}
		}
		prefix := "pipelines:\n  doc:\n    apiEndpoints: [doc]\n"
		return prefix + indent(list, "    ") +
				"http: {port: 0}\napiEndpoints: {doc: {paths: '/*'}}\npolicies: [" + strings.Join(names, ", ") + "]\n",
			"gateway", strings.Count(prefix, "\n") + strings.Count(list, "\n") - strings.Count(body, "\n")
	}
	switch root.Kind {
	case yaml.SequenceNode:
		if len(root.Content) > 0 && root.Content[0].Kind == yaml.MappingNode {
			return asPipeline(root, "policies:\n"+body)
		}
		return "", "", 0
	case yaml.MappingNode:
	default:
		return "", "", 0
	}
	isGW, isSys := true, true
	var keys []string
	for i := 0; i < len(root.Content); i += 2 {
		k := root.Content[i].Value
		keys = append(keys, k)
		isGW = isGW && gwKeys[k]
		isSys = isSys && sysKeys[k]
	}
	if len(keys) == 1 && keys[0] == "policies" {
		if v := root.Content[1]; v.Kind == yaml.SequenceNode && len(v.Content) > 0 && v.Content[0].Kind == yaml.MappingNode {
			return asPipeline(v, body) // a pipeline's steps, not the top-level list
		}
	}
	switch {
	case isGW:
		return body, "gateway", 0
	case isSys:
		return body, "system", 0
	}
	return "", "", 0
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = by + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// docLookup is the environment of an example: each ${VAR} the block
// uses has a plausible value, and nothing else is set (the gateway reads
// some variables, HTTP_PROXY say, without a ${VAR}).
func docLookup(body string) config.Lookup {
	return func(name string) (string, bool) {
		if !strings.Contains(body, "${"+name) {
			return "", false
		}
		switch {
		case strings.HasSuffix(name, "PORT"):
			return "8080", true
		case strings.HasSuffix(name, "URL"):
			return "http://127.0.0.1:3000", true
		}
		// Long enough for an HMAC key (RFC 7518 §3.2: 32 bytes for HS256).
		return "doc-value-of-" + strings.ToLower(name) + "-0123456789abcdef0123456789", true
	}
}

// TestDocsLinks checks every relative link: the file exists, and a
// #fragment names a heading of the page it points to (GitHub's anchors).
func TestDocsLinks(t *testing.T) {
	anchors := map[string]map[string]bool{}
	headingsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		a := headingAnchors(string(src))
		anchors[path] = a
		return a
	}
	n := 0
	for _, p := range readPages(t) {
		for _, l := range p.links {
			if strings.Contains(l.Target, "://") || strings.HasPrefix(l.Target, "mailto:") {
				continue
			}
			n++
			file, frag, _ := strings.Cut(l.Target, "#")
			target := p.path
			if file != "" {
				target = filepath.Join(filepath.Dir(p.path), file)
				if _, err := os.Stat(target); err != nil {
					t.Errorf("%s:%d: link %s: no such file", l.File, l.Line, l.Target)
					continue
				}
			}
			if frag == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			if !headingsOf(target)[frag] {
				t.Errorf("%s:%d: link %s: %s has no heading #%s", l.File, l.Line, l.Target, filepath.Base(target), frag)
			}
		}
	}
	if n < 50 {
		t.Errorf("checked only %d links", n)
	}
}

// headingAnchors are the anchors GitHub gives a page's headings:
// lowercased, punctuation other than - and _ removed, spaces as -, and
// -1, -2 ... after repeats. Headings inside code blocks do not count.
func headingAnchors(src string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	inCode := false
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " "), "```") || strings.HasPrefix(strings.TrimLeft(line, " "), "~~~") {
			inCode = !inCode
			continue
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if k := seen[a]; k > 0 {
			out[a+"-"+itoa(k)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}
