// Package docblocks reads the examples out of the Markdown documentation:
// fenced code blocks, the shell commands in them, and relative links, so
// tests can check every example against the real program (issue #12: the
// docs must not drift from the code again).
//
// A block that cannot be checked is marked in the Markdown, on the line
// before its opening fence (blank lines between are allowed):
//
//	<!-- docs-test: skip (why it cannot be checked) -->
//
// The reason is required, so a skip says why it is one.
package docblocks

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Block is one fenced code block.
type Block struct {
	File string
	Line int    // line of the opening fence, 1-based
	Lang string // the info string's first word: "sh", "yaml", "" ...
	Body string // the lines between the fences, each ending in "\n"
	// Skip is the reason of a docs-test: skip marker before the block, ""
	// when the block is not marked.
	Skip string
}

// Where is "file:line" of the block's opening fence, for test messages.
func (b Block) Where() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// Link is a Markdown link [text](target).
type Link struct {
	File   string
	Line   int
	Target string
}

var (
	marker   = regexp.MustCompile(`^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$`)
	skipRE   = regexp.MustCompile(`^skip\s*\((.+)\)$`)
	linkRE   = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	inlineRE = regexp.MustCompile("`[^`]*`")
)

// Parse returns the fenced blocks (``` or ~~~ fences, CommonMark style) and
// the links outside them. A marker that is not "skip (reason)" is an error,
// as is a marker that precedes no block or a fence left open.
func Parse(file string, src []byte) ([]Block, []Link, error) {
	var (
		blocks  []Block
		links   []Link
		open    *Block
		fence   string
		body    strings.Builder
		pending string // skip reason waiting for the next fence
		pendAt  int
	)
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trim := strings.TrimLeft(line, " ")
		if open != nil {
			if strings.HasPrefix(trim, fence) && strings.TrimSpace(strings.TrimLeft(trim, fence[:1])) == "" {
				open.Body = body.String()
				blocks = append(blocks, *open)
				open = nil
				continue
			}
			body.WriteString(line)
			body.WriteByte('\n')
			continue
		}
		if f := fenceOf(trim); f != "" {
			info := strings.Fields(strings.TrimLeft(trim, f[:1]))
			b := &Block{File: file, Line: n, Skip: pending}
			if len(info) > 0 {
				b.Lang = info[0]
			}
			open, fence, pending = b, f, ""
			body.Reset()
			continue
		}
		if m := marker.FindStringSubmatch(line); m != nil {
			s := skipRE.FindStringSubmatch(m[1])
			if s == nil || strings.TrimSpace(s[1]) == "" {
				return nil, nil, fmt.Errorf("%s:%d: docs-test marker %q: want \"skip (reason)\"", file, n, m[1])
			}
			if pending != "" {
				return nil, nil, fmt.Errorf("%s:%d: docs-test marker precedes no code block", file, pendAt)
			}
			pending, pendAt = strings.TrimSpace(s[1]), n
			continue
		}
		if pending != "" && strings.TrimSpace(line) != "" {
			return nil, nil, fmt.Errorf("%s:%d: docs-test marker precedes no code block", file, pendAt)
		}
		for _, m := range linkRE.FindAllStringSubmatch(inlineRE.ReplaceAllString(line, ""), -1) {
			links = append(links, Link{File: file, Line: n, Target: m[1]})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	if open != nil {
		return nil, nil, fmt.Errorf("%s:%d: code block is never closed", file, open.Line)
	}
	if pending != "" {
		return nil, nil, fmt.Errorf("%s:%d: docs-test marker precedes no code block", file, pendAt)
	}
	return blocks, links, nil
}

// fenceOf returns the opening fence of line (``` or ~~~, three or more),
// or "".
func fenceOf(trim string) string {
	for _, c := range []string{"`", "~"} {
		n := 0
		for n < len(trim) && trim[n:n+1] == c {
			n++
		}
		if n >= 3 {
			return strings.Repeat(c, n)
		}
	}
	return ""
}

// Command is one shell command line of a block, with the lines it printed
// when the block is a session (a "$ " prompt followed by output).
type Command struct {
	Line   int    // line in the Markdown file
	Text   string // the command, continuation lines joined
	Output []string
}

// IsShell reports whether b holds shell commands: an sh, bash, shell or
// console block, or an unlabelled one whose first line is a "$ " prompt
// (a session: commands and what they print).
func (b Block) IsShell() bool {
	switch b.Lang {
	case "sh", "bash", "shell", "console", "shell-session":
		return true
	case "":
		first, _, _ := strings.Cut(strings.TrimLeft(b.Body, "\n"), "\n")
		return strings.HasPrefix(first, "$ ")
	}
	return false
}

// Session reports whether the block's commands are the "$ " lines, the
// rest being their output (a console block or an unlabelled session).
func (b Block) Session() bool {
	return b.Lang == "console" || b.Lang == "shell-session" || b.Lang == "" ||
		strings.HasPrefix(strings.TrimLeft(b.Body, "\n"), "$ ")
}

// Commands returns the block's commands. In a script block (sh, bash)
// every line that is not blank or a comment is a command; in a session
// the "$ " lines are, and the lines up to the next prompt are their
// output. A line ending in a backslash continues on the next.
func (b Block) Commands() []Command {
	var out []Command
	session := b.Session()
	lines := strings.Split(strings.TrimSuffix(b.Body, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if session {
			rest, ok := strings.CutPrefix(line, "$ ")
			if !ok {
				if len(out) > 0 {
					out[len(out)-1].Output = append(out[len(out)-1].Output, line)
				}
				continue
			}
			line = rest
		} else if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		c := Command{Line: b.Line + 1 + i}
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			c.Text += strings.TrimRight(strings.TrimSuffix(line, `\`), " \t") + " "
			i++
			line = strings.TrimLeft(lines[i], " ")
		}
		c.Text += line
		out = append(out, c)
	}
	return out
}
