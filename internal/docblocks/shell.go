package docblocks

import (
	"fmt"
	"regexp"
	"strings"
)

// Simple is one simple command of a shell line: the leading NAME=value
// assignments, then the words, with quotes removed. Variables stay as
// written ($APP), and a substitution stands as the one word "$(...)".
type Simple struct {
	Env  []string
	Args []string
}

// Split parses a command line far enough to check it, not to run it: into
// the simple commands that sh would run. The operators | || && ; & end a
// command, a redirection is dropped with its target, $(...) and `...`
// substitutions are parsed as commands of their own (after the command
// that holds them), a word starting with # starts a comment, and the
// keywords do, then, else, ! and { before a command are dropped.
func Split(line string) ([]Simple, error) {
	p := &splitter{s: line}
	cmds, err := p.list(0)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", line, err)
	}
	return cmds, nil
}

type splitter struct {
	s string
	i int
}

// command is the simple command being read: its finished words, the word
// being read, and the commands of the substitutions inside it, which
// follow it in the output.
type command struct {
	out, inner []Simple
	words      []string
	cur        strings.Builder
	inWord     bool
	dropNext   bool // the next word is a redirection's target
}

func (c *command) endWord() {
	if c.inWord {
		if c.dropNext {
			c.dropNext = false
		} else {
			c.words = append(c.words, c.cur.String())
		}
	}
	c.cur.Reset()
	c.inWord = false
}

func (c *command) endCmd() {
	c.endWord()
	if s, ok := simple(c.words); ok {
		c.out = append(c.out, s)
	}
	c.out = append(c.out, c.inner...)
	c.words, c.inner = nil, nil
}

// substituted adds a substitution's commands; it stands as "$(...)" in
// the word.
func (c *command) substituted(cmds []Simple) {
	c.inner = append(c.inner, cmds...)
	c.cur.WriteString("$(...)")
	c.inWord = true
}

// list reads commands until the end of the line, or until the closing
// parenthesis of a $( substitution when depth > 0.
func (p *splitter) list(depth int) ([]Simple, error) {
	var cmd command
	for p.i < len(p.s) {
		c := p.s[p.i]
		var err error
		switch {
		case c == ' ' || c == '\t':
			cmd.endWord()
			p.i++
		case c == '\'':
			err = p.singleQuoted(&cmd)
		case c == '"':
			err = p.doubleQuoted(&cmd, depth)
		case c == '\\':
			if p.i+1 < len(p.s) {
				cmd.cur.WriteByte(p.s[p.i+1])
			}
			cmd.inWord = true
			p.i += 2
		case c == '$' && p.i+1 < len(p.s) && p.s[p.i+1] == '(':
			err = p.sub(&cmd, depth)
		case c == '`':
			err = p.backquoted(&cmd)
		case c == '#' && !cmd.inWord:
			p.i = len(p.s)
		case c == ')' && depth > 0:
			p.i++
			cmd.endCmd()
			return cmd.out, nil
		case c == '|' || c == '&' || c == ';' || c == '(' || c == ')':
			cmd.endCmd()
			p.i++
		case c == '>' || c == '<':
			p.redirect(&cmd)
		default:
			cmd.cur.WriteByte(c)
			cmd.inWord = true
			p.i++
		}
		if err != nil {
			return nil, err
		}
	}
	if depth > 0 {
		return nil, fmt.Errorf("unterminated $( substitution")
	}
	cmd.endCmd()
	return cmd.out, nil
}

// sub reads a $( substitution, at "$(", to its matching ")".
func (p *splitter) sub(cmd *command, depth int) error {
	p.i += 2
	cmds, err := p.list(depth + 1)
	if err != nil {
		return err
	}
	cmd.substituted(cmds)
	return nil
}

// singleQuoted reads a '...' string: everything in it as it is.
func (p *splitter) singleQuoted(cmd *command) error {
	end := strings.IndexByte(p.s[p.i+1:], '\'')
	if end < 0 {
		return fmt.Errorf("unterminated ' quote")
	}
	cmd.cur.WriteString(p.s[p.i+1 : p.i+1+end])
	cmd.inWord = true
	p.i += end + 2
	return nil
}

// doubleQuoted reads a "..." string: \ escapes only " \ $ and `, and
// $( substitutions are parsed.
func (p *splitter) doubleQuoted(cmd *command, depth int) error {
	cmd.inWord = true
	p.i++
	for {
		if p.i >= len(p.s) {
			return fmt.Errorf("unterminated \" quote")
		}
		d := p.s[p.i]
		if d == '"' {
			p.i++
			return nil
		}
		if d == '\\' && p.i+1 < len(p.s) && strings.IndexByte("\"\\$`", p.s[p.i+1]) >= 0 {
			cmd.cur.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		}
		if d == '$' && p.i+1 < len(p.s) && p.s[p.i+1] == '(' {
			if err := p.sub(cmd, depth); err != nil {
				return err
			}
			continue
		}
		cmd.cur.WriteByte(d)
		p.i++
	}
}

// backquoted reads a `...` substitution.
func (p *splitter) backquoted(cmd *command) error {
	end := strings.IndexByte(p.s[p.i+1:], '`')
	if end < 0 {
		return fmt.Errorf("unterminated ` substitution")
	}
	cmds, err := Split(p.s[p.i+1 : p.i+1+end])
	if err != nil {
		return err
	}
	cmd.substituted(cmds)
	p.i += end + 2
	return nil
}

// redirect reads a redirection operator (> >> < 2> &> >&1): a file
// descriptor before it is no word, and its target word is dropped.
func (p *splitter) redirect(cmd *command) {
	if cmd.inWord && isDigits(cmd.cur.String()) { // 2>&1: the fd is no word
		cmd.cur.Reset()
		cmd.inWord = false
	}
	cmd.endWord()
	p.i++
	for p.i < len(p.s) && (p.s[p.i] == '>' || p.s[p.i] == '&') {
		p.i++
	}
	if p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' && p.s[p.i-1] == '&' {
		p.i++ // >&1
		return
	}
	cmd.dropNext = true
}

var assignRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func simple(words []string) (Simple, bool) {
	for len(words) > 0 && (words[0] == "do" || words[0] == "then" || words[0] == "else" || words[0] == "!" || words[0] == "{") {
		words = words[1:]
	}
	var c Simple
	for len(words) > 0 && assignRE.MatchString(words[0]) {
		c.Env = append(c.Env, words[0])
		words = words[1:]
	}
	c.Args = words
	return c, len(c.Env)+len(c.Args) > 0
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// synopsisRE finds the usage grammar of a synopsis line, outside quotes:
// a <placeholder>, an [optional part], alternatives a|b written without
// spaces, or a trailing "...".
var synopsisRE = regexp.MustCompile(`<[A-Za-z]|\[[-<A-Za-z]|[A-Za-z0-9]\|[-A-Za-z]|\S\.\.\.|\s\.\.\.`)

// IsSynopsis reports whether a command line is a usage synopsis
// ("gatehouse users info <id|username>") rather than a command to run: it
// has placeholders, optional parts or alternatives. Quoted text and
// comments do not count.
func IsSynopsis(line string) bool {
	return synopsisRE.MatchString(unquoted(line))
}

// unquoted is line without its quoted parts and its comment.
func unquoted(line string) string {
	var b strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'' || c == '"':
			if end := strings.IndexByte(line[i+1:], c); end >= 0 {
				i += end + 1
				b.WriteString("Q")
				inWord = true
				continue
			}
		case c == '#' && !inWord:
			return b.String()
		}
		inWord = c != ' ' && c != '\t'
		b.WriteByte(c)
	}
	return b.String()
}

// SynopsisWords splits a synopsis into its alternatives (the parts
// between " | ", as in "apps list [-a] | info <id|name>"), each a list of
// words. A <placeholder> is one word even with spaces inside, brackets are
// removed, a trailing "..." is dropped, and the comment is cut.
func SynopsisWords(line string) [][]string {
	var (
		out   [][]string
		words []string
		cur   strings.Builder
	)
	flush := func() {
		if w := strings.TrimSuffix(cur.String(), "..."); w != "" {
			words = append(words, w)
		}
		cur.Reset()
	}
	s := line
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			if end := strings.IndexByte(s[i+1:], c); end >= 0 {
				cur.WriteString(s[i+1 : i+1+end])
				i += end + 1
				continue
			}
			cur.WriteByte(c)
		case c == '<':
			if end := strings.IndexByte(s[i:], '>'); end >= 0 {
				cur.WriteString(s[i : i+end+1])
				i += end
				continue
			}
			cur.WriteByte(c)
		case c == '#' && cur.Len() == 0:
			i = len(s)
		case c == '[' || c == ']':
		case c == ' ' || c == '\t':
			flush()
		case c == '|' && cur.Len() == 0 && (i+1 == len(s) || s[i+1] == ' '):
			flush()
			if len(words) > 0 {
				out = append(out, words)
			}
			words = nil
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	if len(words) > 0 {
		out = append(out, words)
	}
	return out
}
