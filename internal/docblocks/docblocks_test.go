package docblocks

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	src := "# T\n\nSee [cli](cli.md#x) and `[not](a link)`.\n\n" +
		"<!-- docs-test: skip (needs a Redis Cluster) -->\n\n```sh\nredis-cli cluster nodes\n```\n\n" +
		"```yaml\nhttp: {port: 0}\n```\n\n" +
		"~~~\n$ gatehouse version\ngatehouse dev\n~~~\n"
	blocks, links, err := Parse("x.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 {
		t.Fatalf("got %d blocks: %+v", len(blocks), blocks)
	}
	if b := blocks[0]; b.Lang != "sh" || b.Line != 7 || b.Skip != "needs a Redis Cluster" || b.Body != "redis-cli cluster nodes\n" || !b.IsShell() {
		t.Errorf("block 0 = %+v", b)
	}
	if b := blocks[1]; b.Lang != "yaml" || b.Skip != "" || b.IsShell() {
		t.Errorf("block 1 = %+v", b)
	}
	if b := blocks[2]; !b.IsShell() || !b.Session() {
		t.Errorf("block 2 (an unlabelled session) = %+v", b)
	}
	if want := []Link{{"x.md", 3, "cli.md#x"}}; !reflect.DeepEqual(links, want) {
		t.Errorf("links = %+v, want %+v", links, want)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, src := range map[string]string{
		"no reason":        "<!-- docs-test: skip -->\n```sh\nx\n```\n",
		"unknown marker":   "<!-- docs-test: run -->\n```sh\nx\n```\n",
		"marker then text": "<!-- docs-test: skip (r) -->\ntext\n```sh\nx\n```\n",
		"marker at end":    "```sh\nx\n```\n<!-- docs-test: skip (r) -->\n",
		"open fence":       "```sh\nx\n",
	} {
		if _, _, err := Parse("x.md", []byte(src)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCommands(t *testing.T) {
	script := Block{Line: 10, Lang: "sh", Body: "# comment\ngatehouse version\n\ncurl -s \\\n  -H 'A: b' $B/x   # trailing\n"}
	want := []Command{{Line: 12, Text: "gatehouse version"}, {Line: 14, Text: "curl -s -H 'A: b' $B/x   # trailing"}}
	if got := script.Commands(); !reflect.DeepEqual(got, want) {
		t.Errorf("script: %+v\nwant %+v", got, want)
	}
	session := Block{Line: 1, Body: "$ gatehouse scopes create a\nCreated a\n$ echo $?\n0\n"}
	want = []Command{{Line: 2, Text: "gatehouse scopes create a", Output: []string{"Created a"}}, {Line: 4, Text: "echo $?", Output: []string{"0"}}}
	if got := session.Commands(); !reflect.DeepEqual(got, want) {
		t.Errorf("session: %+v\nwant %+v", got, want)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		line string
		want string // commands joined by " ; ", words by ",", Env first as "E:"
	}{
		{"gatehouse version", "gatehouse,version"},
		{`EG_HTTP_PORT=1 gatehouse config validate --config-dir ./x`, "E:EG_HTTP_PORT=1,gatehouse,config,validate,--config-dir,./x"},
		{`APP=$(gatehouse apps create -u alice -p name=web -q)`, "E:APP=$(...) ; gatehouse,apps,create,-u,alice,-p,name=web,-q"},
		{`curl -s -H "Authorization: Bearer $T" 'http://x/a?b=1&c=2' | grep -i -e ^HTTP 2>&1 > out`, "curl,-s,-H,Authorization: Bearer $T,http://x/a?b=1&c=2 ; grep,-i,-e,^HTTP"},
		{`for i in 1 2; do curl -u bob:guess$i http://h/x; done; echo`, "for,i,in,1,2 ; curl,-u,bob:guess$i,http://h/x ; done ; echo"},
		{`CSRF=$(printf %s "$PAGE" | sed -n 's/a\(b\)/\1/p')`, `E:CSRF=$(...) ; printf,%s,$PAGE ; sed,-n,s/a\(b\)/\1/p`},
		{`curl -i http://h/nope   # 404 "quoted" | not a pipe`, "curl,-i,http://h/nope"},
		{`make build && sudo install -m 0755 bin/gatehouse /usr/local/bin/gatehouse`, "make,build ; sudo,install,-m,0755,bin/gatehouse,/usr/local/bin/gatehouse"},
		{`echo "a \"b\" $(gatehouse version)"`, `echo,a "b" $(...) ; gatehouse,version`},
	}
	for _, tt := range tests {
		cmds, err := Split(tt.line)
		if err != nil {
			t.Errorf("%s: %v", tt.line, err)
			continue
		}
		var parts []string
		for _, c := range cmds {
			var w []string
			for _, e := range c.Env {
				w = append(w, "E:"+e)
			}
			parts = append(parts, strings.Join(append(w, c.Args...), ","))
		}
		if got := strings.Join(parts, " ; "); got != tt.want {
			t.Errorf("Split(%s)\n got %s\nwant %s", tt.line, got, tt.want)
		}
	}
	for _, bad := range []string{`echo 'open`, `echo "open`, `x=$(open`} {
		if _, err := Split(bad); err == nil {
			t.Errorf("Split(%s): no error", bad)
		}
	}
}

func TestSynopsis(t *testing.T) {
	tests := []struct {
		line string
		syn  bool
		want string // alternatives joined by " | ", words by ","
	}{
		{"gatehouse users info <id|username>", true, "gatehouse,users,info,<id|username>"},
		{"gatehouse users activate|deactivate <id|username>...", true, "gatehouse,users,activate|deactivate,<id|username>"},
		{"gatehouse users list [-a|--all]      # first page", true, "gatehouse,users,list,-a|--all"},
		{"gatehouse apps create -u|--user <user id|username> -p name=my-app [-p redirectUri=https://...]", true,
			"gatehouse,apps,create,-u|--user,<user id|username>,-p,name=my-app,-p,redirectUri=https://"},
		{"gatehouse apps list [-a] | info <id|name> | update <id|name> -p ...", true, "gatehouse,apps,list,-a | info,<id|name> | update,<id|name>,-p"},
		{"gatehouse scopes list   # one name per line; \"a|b\" <x>", false, "gatehouse,scopes,list"},
		{`curl -si http://h/x | grep -iE '^HTTP|^RateLimit'`, false, ""},
		{`VERIFIER=$(openssl rand -base64 48 | tr '+/' '-_')`, false, ""},
		{"gatehouse config validate [--config-dir DIR]", true, "gatehouse,config,validate,--config-dir,DIR"},
	}
	for _, tt := range tests {
		if got := IsSynopsis(tt.line); got != tt.syn {
			t.Errorf("IsSynopsis(%s) = %v", tt.line, got)
		}
		if tt.want == "" {
			continue
		}
		var parts []string
		for _, alt := range SynopsisWords(tt.line) {
			parts = append(parts, strings.Join(alt, ","))
		}
		if got := strings.Join(parts, " | "); got != tt.want {
			t.Errorf("SynopsisWords(%s)\n got %s\nwant %s", tt.line, got, tt.want)
		}
	}
}
