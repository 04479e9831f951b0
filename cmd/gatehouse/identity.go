package main

// Identity commands: users, apps, credentials, scopes and tokens, over the
// Admin API, with Express Gateway's `eg` verbs, aliases and flags.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/adminclient"
)

// identityCommands are the Admin API verbs, registered on the root.
func identityCommands(env cliEnv) []*cobra.Command {
	return []*cobra.Command{
		newConsumerCmd(env, userKind),
		newConsumerCmd(env, appKind),
		newCredentialsCmd(env),
		newCredentialScopesCmd(env),
		newScopesCmd(env),
		newTokensCmd(env),
		newConsentsCmd(env),
	}
}

// identityOpts are the flags shared by every identity command, and where
// they print.
type identityOpts struct {
	cliEnv
	configDir, adminURL, adminKey string
	headers                       []string
	json, quiet, verbose          bool
}

// group builds a command group (users, apps, ...) with the shared flags.
func group(env cliEnv, use string, aliases []string, short string) (*cobra.Command, *identityOpts) {
	o := &identityOpts{cliEnv: env}
	cmd := &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   short,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.configDir, "config-dir", configDirDefault(env), "folder holding gateway.config.yml and system.config.yml, used to find the Admin API (env EG_CONFIG_DIR)")
	f.StringVar(&o.adminURL, "admin-url", "", "Admin API base URL (default: env EG_ADMIN_URL, system.config.yml cli.url, gateway.config.yml admin, http://localhost:9876)")
	f.StringVar(&o.adminKey, "admin-key", "", "Admin API key (default: env GATEHOUSE_ADMIN_KEY)")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "extra header on every Admin API call, 'Name: value' (repeatable)")
	f.BoolVar(&o.json, "json", false, "print machine-readable JSON")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only ids (and, at creation, id:secret)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log each Admin API call on stderr")
	return cmd, o
}

// client builds the Admin API client from the flags, the environment and
// the config directory.
func (o *identityOpts) client() (*adminclient.Client, error) {
	if o.json && o.quiet {
		return nil, errors.New("--json and -q/--quiet cannot be used together")
	}
	t := adminclient.Resolve(o.adminURL, o.configDir, o.lookup)
	key := o.adminKey
	if key == "" {
		key = o.getenv("GATEHOUSE_ADMIN_KEY")
	}
	if key == "" {
		key = t.APIKey
	}
	h := t.Header
	if h == nil {
		h = http.Header{}
	}
	for _, raw := range o.headers {
		name, value, err := parseHeader(raw)
		if err != nil {
			return nil, err
		}
		h.Set(name, value)
	}
	opts := adminclient.Options{URL: t.URL, APIKey: key, Header: h}
	if o.verbose || t.Verbose {
		opts.Trace = o.stderr
	}
	c, err := adminclient.New(opts)
	if err != nil {
		return nil, fmt.Errorf("%v (from %s)", err, t.Source)
	}
	return c, nil
}

// parseHeader reads a -H value, 'Name: value' or 'Name:value' as EG.
func parseHeader(raw string) (string, string, error) {
	name, value, ok := strings.Cut(raw, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return "", "", fmt.Errorf("-H %q: want 'Name: value'", raw)
	}
	value = strings.TrimSpace(value)
	if strings.ContainsAny(value, "\r\n") {
		return "", "", fmt.Errorf("-H %q: the value must be on one line", raw)
	}
	return http.CanonicalHeaderKey(name), value, nil
}

// explain adds what to do to errors a person can fix from the CLI.
func (o *identityOpts) explain(err error) error {
	if err == nil {
		return nil
	}
	if adminclient.IsUnauthorized(err) && o.adminKey == "" && o.getenv("GATEHOUSE_ADMIN_KEY") == "" {
		return fmt.Errorf("%w (set GATEHOUSE_ADMIN_KEY or pass --admin-key)", err)
	}
	return err
}

// parseProps reads -p key=value flags; values are strings. -p key:=JSON
// sends a JSON value (a number, boolean, list or object), e.g. -p age:=42.
// With jsonValues, a value that looks like JSON (starts with [ { or ", or is
// true, false or null) is decoded too, as Express Gateway's `credentials
// create` does: -p 'scopes=["a","b"]'.
func parseProps(flags []string, jsonValues bool) (map[string]any, error) {
	props := map[string]any{}
	for _, p := range flags {
		key, value, ok := strings.Cut(p, "=")
		raw := strings.HasSuffix(key, ":")
		key = strings.TrimSpace(strings.TrimSuffix(key, ":"))
		if !ok || key == "" {
			return nil, fmt.Errorf("-p %q: want key=value (or key:=JSON)", p)
		}
		if raw || jsonValues && looksLikeJSON(value) {
			dec := json.NewDecoder(strings.NewReader(value))
			dec.UseNumber()
			var v any
			err := dec.Decode(&v)
			if err == nil && dec.More() {
				err = errors.New("more than one JSON value")
			}
			if err != nil {
				return nil, fmt.Errorf(`-p %s: %q is not valid JSON (%v); quote lists and strings, e.g. -p '%s=["a","b"]' or -p '%s="[text"'`, key, value, err, key, key)
			}
			props[key] = v
			continue
		}
		props[key] = value
	}
	return props, nil
}

func looksLikeJSON(v string) bool {
	v = strings.TrimSpace(v)
	if v == "true" || v == "false" || v == "null" {
		return true
	}
	return v != "" && strings.ContainsRune("[{\"", rune(v[0]))
}

// readNDJSON reads one JSON object per non-blank line.
func readNDJSON(r io.Reader) ([]map[string]any, error) {
	var out []map[string]any
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil || m == nil {
			if err == nil {
				err = errors.New("not an object")
			}
			return nil, fmt.Errorf("stdin line %d: want one JSON object per line: %v", n, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("stdin: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("--stdin: no JSON objects on standard input")
	}
	return out, nil
}

// verbName is the command as typed after "gatehouse", e.g. "users info"
// (main already prefixes errors with "gatehouse:").
func verbName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// Argument checks with messages that say what is missing.

func exactArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%s: give one %s (see --help)", verbName(cmd), what)
		}
		return nil
	}
}

func someArgs(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return fmt.Errorf("%s: give at least one %s (see --help)", verbName(cmd), what)
		}
		return nil
	}
}

// Output.

// printJSON writes v as indented JSON. Objects from the Admin API keep the
// field order of the key: value blocks (id first), not Go's sorted maps.
func (o *identityOpts) printJSON(v any) error {
	enc := json.NewEncoder(o.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(ordered(v))
}

// ordered wraps Admin API objects, alone or in lists, so they marshal with
// sortedKeys' order.
func ordered(v any) any {
	switch v := v.(type) {
	case adminclient.Object:
		return orderedObject(v)
	case []adminclient.Object:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = orderedObject(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = ordered(e)
		}
		return out
	}
	return v
}

type orderedObject adminclient.Object

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range sortedKeys(adminclient.Object(o)) {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(o[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// fieldOrder puts the fields people look for first; the rest follow
// alphabetically.
var fieldOrder = []string{
	"id", "type", "kind", "username", "name", "firstname", "lastname", "email",
	"userId", "consumerId", "keyId", "keySecret", "password", "secret",
	"clientId", "scopes", "redirectUri", "redirectUris", "isActive", "revoked",
	"createdAt", "updatedAt", "expiresAt",
}

var fieldRank = func() map[string]int {
	m := map[string]int{}
	for i, k := range fieldOrder {
		m[k] = i + 1
	}
	return m
}()

// sortedKeys orders an object's keys: fieldOrder first, then the others
// alphabetically.
func sortedKeys(obj adminclient.Object) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := fieldRank[keys[i]], fieldRank[keys[j]]
		switch {
		case ri != 0 && rj != 0:
			return ri < rj
		case ri != 0 || rj != 0:
			return ri != 0
		}
		return keys[i] < keys[j]
	})
	return keys
}

// printObject writes one object as aligned "key: value" lines; an empty
// value reads "-".
func (o *identityOpts) printObject(obj adminclient.Object) {
	tw := tabwriter.NewWriter(o.stdout, 0, 8, 1, ' ', 0)
	for _, k := range sortedKeys(obj) {
		v := display(k, obj[k])
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", k, v)
	}
	tw.Flush()
}

// printTable writes rows under upper-case headers, aligned.
func (o *identityOpts) printTable(headers []string, rows [][]string) {
	tw := tabwriter.NewWriter(o.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, r := range rows {
		for i := range r {
			if r[i] == "" {
				r[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// display formats a field for people: dates in UTC to the second, epoch
// milliseconds (Express Gateway's expiresAt) as dates, lists joined.
func display(key string, v any) string {
	s := adminclient.Format(v)
	if !strings.HasSuffix(key, "At") || s == "" {
		return s
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	if n, ok := v.(json.Number); ok {
		if ms, err := n.Int64(); err == nil && ms > 1e11 {
			return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05 UTC")
		}
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// statusLine is EG's "<status> <id>"; an unchanged status says so.
func statusLine(status, id string) string {
	switch status {
	case "Active", "Inactive":
		return fmt.Sprintf("%s %s (unchanged)", status, id)
	}
	return status + " " + id
}

// each runs fn for every argument, in order, and prints as it goes: the
// human line, or the id with -q; with --json the results are printed
// together as one array at the end. It stops at the first error, after
// printing what succeeded.
func (o *identityOpts) each(args []string, fn func(arg string) (result any, line, id string, err error)) error {
	results := []any{}
	for _, a := range args {
		res, line, id, err := fn(a)
		if err != nil {
			if o.json && len(results) > 0 {
				_ = o.printJSON(results)
			}
			return o.explain(err)
		}
		switch {
		case o.json:
			results = append(results, res)
		case o.quiet:
			fmt.Fprintln(o.stdout, id)
		default:
			fmt.Fprintln(o.stdout, line)
		}
	}
	if o.json {
		return o.printJSON(results)
	}
	return nil
}

// ctx is the command's context.
func ctx(cmd *cobra.Command) context.Context {
	if c := cmd.Context(); c != nil {
		return c
	}
	return context.Background()
}
