package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/docblocks"
)

// TestDocsFreshCloneQuickstart is the README's promise to a newcomer
// (issue #12), kept by running it: in a fresh clone (the files git tracks,
// as `git clone` gives them), the README's start command as written, by sh,
// with the ports moved by the variables the README names; its curls, each
// answering the status its comment gives; then docs/cli.md's Example
// session, command by command in one shell, with the binary the start
// command built on PATH, each output compared line by line with the page's.
// Generated ids, secrets and times are matched by their shape, and an id
// the page shows is replaced by the real one in later commands, so the
// session runs as printed. It ends with a request through the gateway
// that the session's API key opens.
func TestDocsFreshCloneQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the quickstart; skipped with -short")
	}
	clone := freshClone(t)
	readme := readDoc(t, clone, "README.md")

	// The README's two commands: the test command is the one CI runs.
	start := onlyCommand(t, firstShellBlock(t, readme, "## Quickstart"))
	test := onlyCommand(t, firstShellBlock(t, readme, "## Tests"))
	ci, err := os.ReadFile(filepath.Join(clone, ".ci/run"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(ci)), "\n"); lines[len(lines)-1] != test {
		t.Errorf(".ci/run ends with %q; the README's test command is %q", lines[len(lines)-1], test)
	}

	httpAddr, adminAddr, echoAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	env := append(os.Environ(),
		"EG_HTTP_PORT="+port(httpAddr), "EG_ADMIN_PORT="+port(adminAddr), "EG_ECHO_PORT="+port(echoAddr))
	gw := startShell(t, clone, env, start)
	// Progress first (a cold build is half a minute), then one line per
	// listener with its URL.
	out := gw.until(t, "gatehouse: ready", 3*time.Minute)
	for _, want := range []string{
		"building bin/gatehouse",
		"gatehouse: gateway listening on http://" + httpAddr,
		"gatehouse: Admin API listening on http://" + adminAddr,
		"gatehouse: demo echo upstream listening on http://" + echoAddr,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the start command's output lacks %q:\n%s", want, out)
		}
	}
	if t.Failed() {
		return
	}

	// The quickstart's curls, as written but for the port.
	moved := strings.NewReplacer("127.0.0.1:8080", httpAddr, "127.0.0.1:9876", adminAddr)
	wantStatus := regexp.MustCompile(`#\D*(\d{3})\b`)
	curls := firstShellBlock(t, readme, "Try it from another terminal").Commands()
	if len(curls) < 3 {
		t.Fatalf("the README quickstart shows %d curls", len(curls))
	}
	for _, c := range curls {
		m := wantStatus.FindStringSubmatch(c.Text)
		if m == nil {
			t.Errorf("README.md:%d: %s: the comment should say the status it answers", c.Line, c.Text)
			continue
		}
		cmd := exec.Command("sh", "-c", moved.Replace(c.Text))
		cmd.Dir = clone
		got, err := cmd.Output() // stderr: curl's progress meter
		if err != nil {
			t.Errorf("README.md:%d: %s: %v\n%s", c.Line, c.Text, err, got)
			continue
		}
		if status := strings.Fields(string(got) + " x x"); status[1] != m[1] {
			t.Errorf("README.md:%d: %s: answered\n%s\nwant status %s", c.Line, c.Text, got, m[1])
		}
	}

	// docs/cli.md's session, in one shell as a person would type it.
	cli := readDoc(t, clone, "docs/cli.md")
	session := firstShellBlock(t, cli, "### Example session")
	sh := newSessionShell(t, clone, append(env,
		"PATH="+filepath.Join(clone, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"EG_CONFIG_DIR="+filepath.Join(clone, "examples/quickstart"), // where the CLI finds the Admin API
		"EG_ADMIN_URL=", "GATEHOUSE_ADMIN_KEY="))
	vals := &generated{real: map[string]string{}}
	for _, c := range session.Commands() {
		text := moved.Replace(vals.substitute(c.Text))
		got := sh.run(t, text)
		if err := vals.match(c.Output, got); err != nil {
			t.Errorf("docs/cli.md:%d: $ %s\n%v\ngot:\n%s\nwant (the page):\n%s", c.Line, c.Text, err,
				strings.Join(got, "\n"), strings.Join(c.Output, "\n"))
		}
	}

	// The walkthrough leaves a working client: the key it created opens
	// the quickstart's key-auth route.
	keyID, secret := vals.real["HftkQubQR9wirmIqK7OsBD"], vals.real["2ERz3OHUzsQqyRf1vyitBtYABroBAPEE"]
	if keyID == "" || secret == "" {
		t.Fatalf("the session no longer shows the key-auth credential this test uses (%v)", vals.real)
	}
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/private/hello", nil)
	req.Header.Set("Authorization", "apiKey "+keyID+":"+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if e := decodeEcho(t, resp); resp.StatusCode != 200 || e.Path != "/hello" || http.Header(e.Headers).Get("Eg-Consumer-Name") != "jdoe" {
		t.Errorf("/private/hello with the session's key = %d, reached the echo as %q for %q", resp.StatusCode, e.Path, http.Header(e.Headers).Get("Eg-Consumer-Name"))
	}
	gw.stop(t)
}

// freshClone copies what a clone holds (the tracked files, and new files
// not ignored, as they are in the work tree) to a temporary directory, so
// nothing built or stored here (bin/, data/) leaks into the test.
func freshClone(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "-C", "..", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("git ls-files: %v (CI runs on a clone)", err)
		}
		t.Skipf("not a git work tree: %v", err)
	}
	dst := t.TempDir()
	n := 0
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join("..", f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 50 {
		t.Fatalf("the clone has only %d files", n)
	}
	return dst
}

// doc is a Markdown page: its lines and its code blocks.
type doc struct {
	lines  []string
	blocks []docblocks.Block
}

func readDoc(t *testing.T, root, name string) doc {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	blocks, _, err := docblocks.Parse(name, src)
	if err != nil {
		t.Fatal(err)
	}
	return doc{lines: strings.Split(string(src), "\n"), blocks: blocks}
}

// firstShellBlock is the first shell block after the first line of the
// page that starts with after.
func firstShellBlock(t *testing.T, d doc, after string) docblocks.Block {
	t.Helper()
	at := -1
	for i, l := range d.lines {
		if strings.HasPrefix(l, after) {
			at = i + 1
			break
		}
	}
	if at < 0 {
		t.Fatalf("the page has no line starting with %q", after)
	}
	for _, b := range d.blocks {
		if b.Line > at && b.IsShell() {
			return b
		}
	}
	t.Fatalf("no shell block after %q", after)
	return docblocks.Block{}
}

func onlyCommand(t *testing.T, b docblocks.Block) string {
	t.Helper()
	cmds := b.Commands()
	if len(cmds) != 1 {
		t.Fatalf("line %d: want one command, the block has %d", b.Line, len(cmds))
	}
	text := cmds[0].Text
	if i := strings.Index(text, " #"); i >= 0 {
		text = strings.TrimSpace(text[:i])
	}
	return text
}

func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// shellProc is a command run by sh in its own process group (make starts
// children), its output read line by line.
type shellProc struct {
	cmd   *exec.Cmd
	lines chan string
	seen  strings.Builder
}

func startShell(t *testing.T, dir string, env []string, command string) *shellProc {
	t.Helper()
	p := &shellProc{cmd: exec.Command("sh", "-c", command), lines: make(chan string, 10000)} // never full: the gateway must not block on its log
	p.cmd.Dir, p.cmd.Env = dir, env
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			p.lines <- s.Text()
		}
		close(p.lines)
	}()
	go func() { p.cmd.Wait(); w.Close() }()
	t.Cleanup(func() { syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) })
	return p
}

// until returns the output up to the first line containing want.
func (p *shellProc) until(t *testing.T, want string, d time.Duration) string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%q exited before printing %q:\n%s", p.cmd.Args[2], want, p.seen.String())
			}
			p.seen.WriteString(l + "\n")
			if strings.Contains(l, want) {
				return p.seen.String()
			}
			if strings.Contains(l, "msg=listening listener=admin") {
				// Serving: what is left to print comes at once, not
				// after a build.
				timeout = time.After(10 * time.Second)
			}
		case <-timeout:
			t.Fatalf("%q did not print %q within %v:\n%s", p.cmd.Args[2], want, d, p.seen.String())
		}
	}
}

// stop ends the gateway as Ctrl-C does, and checks it stops cleanly.
func (p *shellProc) stop(t *testing.T) {
	t.Helper()
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
	timeout := time.After(15 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return
			}
			p.seen.WriteString(l + "\n")
		case <-timeout:
			t.Fatalf("the gateway did not stop on SIGINT:\n%s", p.seen.String())
		}
	}
}

// sessionShell is one sh reading commands from stdin, as a terminal
// session: variables and $? carry from one command to the next.
type sessionShell struct {
	in  io.Writer
	out *bufio.Reader
	n   int
}

func newSessionShell(t *testing.T, dir string, env []string) *sessionShell {
	t.Helper()
	cmd := exec.Command("sh")
	cmd.Dir, cmd.Env = dir, env
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	return &sessionShell{in: in, out: bufio.NewReader(r)}
}

// run types one command and returns what it printed (stdout and stderr,
// in order). A marker line after it, which keeps $? for the next command,
// says where the output ends.
func (s *sessionShell) run(t *testing.T, command string) []string {
	t.Helper()
	s.n++
	marker := fmt.Sprintf("__docs_test_done_%d__", s.n)
	fmt.Fprintf(s.in, "%s\n__s=$?; printf '\\n%s\\n'; (exit $__s)\n", command, marker)
	var lines []string
	done := make(chan error, 1)
	go func() {
		for {
			l, err := s.out.ReadString('\n')
			if err != nil {
				done <- err
				return
			}
			l = strings.TrimSuffix(l, "\n")
			if l == marker {
				done <- nil
				return
			}
			lines = append(lines, l)
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("$ %s: the shell ended: %v", command, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("$ %s: no end within 20s", command)
	}
	// The marker starts on a new line: drop the empty line it makes after
	// output that ended with one.
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// generated matches a page's sample output against real output: the
// values the gateway generates (UUIDs, 22-character ids, 32-character
// secrets, times) can differ, but one value on the page is one real value
// everywhere, and real maps each to it for later commands.
type generated struct {
	real map[string]string // the page's value -> the real one
}

var generatedRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|` +
	`\d{4}-\d\d-\d\d(?: |T)\d\d:\d\d:\d\d(?:\.\d{3}Z| UTC)|\b[A-Za-z0-9]{32}\b|\b[A-Za-z0-9]{22}\b`)

func isTime(s string) bool { return strings.Contains(s, ":") }

// pattern turns one line of the page into a regexp: generated values
// become a group of their shape, or the real value already bound.
func (g *generated) pattern(line string) (*regexp.Regexp, []string) {
	var b strings.Builder
	var groups []string
	last := 0
	for _, m := range generatedRE.FindAllStringIndex(line, -1) {
		v := line[m[0]:m[1]]
		b.WriteString(regexp.QuoteMeta(line[last:m[0]]))
		last = m[1]
		if r, ok := g.real[v]; ok {
			b.WriteString(regexp.QuoteMeta(r))
			continue
		}
		shape := `[A-Za-z0-9]{` + strconv.Itoa(len(v)) + `}`
		switch {
		case isTime(v):
			shape = `\d{4}-\d\d-\d\d(?: |T)\d\d:\d\d:\d\d(?:\.\d{3}Z| UTC)`
		case strings.Count(v, "-") == 4:
			shape = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
		}
		b.WriteString("(" + shape + ")")
		groups = append(groups, v)
	}
	b.WriteString(regexp.QuoteMeta(line[last:]))
	return regexp.MustCompile("^" + b.String() + "$"), groups
}

func (g *generated) match(want, got []string) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d lines, the page shows %d", len(got), len(want))
	}
	for i, w := range want {
		re, groups := g.pattern(w)
		m := re.FindStringSubmatch(got[i])
		if m == nil {
			return fmt.Errorf("line %d differs:\n got %s\nwant %s", i+1, got[i], w)
		}
		for k, v := range groups {
			if isTime(v) {
				continue
			}
			if r, ok := g.real[v]; ok && r != m[k+1] {
				return fmt.Errorf("line %d: %s is %s here but %s before", i+1, v, m[k+1], r)
			}
			g.real[v] = m[k+1]
		}
	}
	return nil
}

// substitute puts the real values in place of the page's in a command.
func (g *generated) substitute(command string) string {
	return generatedRE.ReplaceAllStringFunc(command, func(v string) string {
		if r, ok := g.real[v]; ok {
			return r
		}
		return v
	})
}
