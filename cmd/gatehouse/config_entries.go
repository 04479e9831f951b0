package main

// Config-editing commands over the Admin API: api-endpoints,
// service-endpoints and pipelines (list, get, set, delete) and policies
// (list, enable, disable). Express Gateway's CLI has no such verbs: its
// users call the Admin API routes with curl.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// configEntryCommands are registered on the root.
func configEntryCommands(env cliEnv) []*cobra.Command {
	return []*cobra.Command{
		newEntriesCmd(env, entryKind{"api-endpoints", "apiEndpoint", `{"host":"*","paths":["/api/*"]}`}),
		newEntriesCmd(env, entryKind{"service-endpoints", "serviceEndpoint", `{"url":"http://localhost:3000"}`}),
		newEntriesCmd(env, entryKind{"pipelines", "pipeline", `{"apiEndpoints":["api"],"policies":[{"proxy":[{"action":{"serviceEndpoint":"backend"}}]}]}`}),
		newPoliciesCmd(env),
	}
}

// entryKind is one section of gateway.config.yml as the CLI edits it.
type entryKind struct {
	collection string // the Admin API's collection and the command: "api-endpoints"
	what       string // one entry: "apiEndpoint"
	example    string // an entry's JSON, for set's help
}

func newEntriesCmd(env cliEnv, k entryKind) *cobra.Command {
	singular := strings.TrimSuffix(k.collection, "s")
	cmd, o := group(env, k.collection, []string{singular}, fmt.Sprintf("Edit the %ss of gateway.config.yml (list, get, set, delete)", k.what))
	cmd.AddCommand(entriesListVerb(o, k), entryGetVerb(o, k), entrySetVerb(o, k), entriesDeleteVerb(o, k))
	return cmd
}

// entriesListVerb is list: the section of the serving config.
func entriesListVerb(o *identityOpts, k entryKind) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: fmt.Sprintf("List the %ss of the serving config", k.what),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			entries, err := c.ConfigEntries(ctx(cmd), k.collection)
			if err != nil {
				return o.explain(err)
			}
			switch {
			case o.json:
				obj := bytes.NewBufferString("{")
				for i, e := range entries {
					if i > 0 {
						obj.WriteByte(',')
					}
					name, _ := json.Marshal(e.Name)
					obj.Write(name)
					obj.WriteByte(':')
					obj.Write(e.Value)
				}
				obj.WriteByte('}')
				return o.printRaw(obj.Bytes())
			case len(entries) == 0 && !o.quiet:
				fmt.Fprintf(o.stdout, "You have no %ss\n", k.what)
			case o.quiet:
				for _, e := range entries {
					fmt.Fprintln(o.stdout, e.Name)
				}
			default:
				rows := make([][]string, 0, len(entries))
				for _, e := range entries {
					var b bytes.Buffer
					_ = json.Compact(&b, e.Value)
					rows = append(rows, []string{e.Name, b.String()})
				}
				o.printTable([]string{"NAME", "DEFINITION"}, rows)
			}
			return nil
		},
	}
}

// entryGetVerb is get: one entry as JSON.
func entryGetVerb(o *identityOpts, k entryKind) *cobra.Command {
	return &cobra.Command{
		Use:   "get <name>",
		Short: fmt.Sprintf("Print one %s of the serving config as JSON", k.what),
		Args:  exactArg(k.what + " name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			v, err := c.ConfigEntry(ctx(cmd), k.collection, args[0])
			if err != nil {
				return o.explain(err)
			}
			if o.quiet {
				fmt.Fprintln(o.stdout, args[0])
				return nil
			}
			return o.printRaw(v)
		},
	}
}

// entrySetVerb is set: create or replace an entry.
func entrySetVerb(o *identityOpts, k entryKind) *cobra.Command {
	var file string
	var props []string
	set := &cobra.Command{
		Use:   "set <name>",
		Short: fmt.Sprintf("Create or replace a %s (JSON from -f FILE, stdin, or -p key=value)", k.what),
		Long: fmt.Sprintf(`Create or replace a %s in gateway.config.yml through the Admin API. The
whole entry is given, as JSON: with -f FILE (- for stdin), on stdin, or
built from -p key=value flags (values that look like JSON are decoded,
-p key:=JSON always is). The change is checked as a reload would check it
and is live when the command returns.`, k.what),
		Example: fmt.Sprintf("  gatehouse %s set NAME -f entry.json\n  echo '%s' | gatehouse %s set NAME", k.collection, k.example, k.collection),
		Args:    exactArg(k.what + " name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := entityBody(cmd, file, props, k.what)
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			created, err := c.SetConfigEntry(ctx(cmd), k.collection, args[0], body)
			if err != nil {
				return o.explain(err)
			}
			switch {
			case o.json:
				return o.printJSON(map[string]any{"name": args[0], "created": created})
			case o.quiet:
				fmt.Fprintln(o.stdout, args[0])
			case created:
				fmt.Fprintf(o.stdout, "Created %s\n", args[0])
			default:
				fmt.Fprintf(o.stdout, "Updated %s\n", args[0])
			}
			return nil
		},
	}
	set.Flags().StringVarP(&file, "file", "f", "", "read the entry's JSON from this file (- for stdin)")
	propertyFlag(set, &props, "a property of the entry, key=value or key:=JSON (repeatable)")
	return set
}

// entriesDeleteVerb is delete: remove entries from the file.
func entriesDeleteVerb(o *identityOpts, k entryKind) *cobra.Command {
	return &cobra.Command{
		Use:     "delete <name>...",
		Aliases: []string{"remove", "rm"},
		Short:   fmt.Sprintf("Remove %ss from gateway.config.yml", k.what),
		Args:    someArgs(k.what + " name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			return o.each(args, func(name string) (any, string, string, error) {
				err := c.DeleteConfigEntry(ctx(cmd), k.collection, name)
				return map[string]any{"name": name, "removed": true}, "Removed " + name, name, err
			})
		},
	}
}

// entityBody is the JSON of set: from -f, from -p, or from stdin.
func entityBody(cmd *cobra.Command, file string, props []string, what string) (json.RawMessage, error) {
	verb := verbName(cmd)
	if file != "" && len(props) > 0 {
		return nil, fmt.Errorf("%s: give the %s with -f or with -p, not both", verb, what)
	}
	var data []byte
	var err error
	switch {
	case len(props) > 0:
		m, err := parseProps(props, true)
		if err != nil {
			return nil, err
		}
		return json.Marshal(m)
	case file != "" && file != "-":
		data, err = os.ReadFile(file)
	default:
		data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4<<20))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", verb, err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: no %s given: pass its JSON with -f FILE or on stdin, or build it with -p key=value", verb, what)
	}
	if !json.Valid(data) {
		var v any
		return nil, fmt.Errorf("%s: the %s is not valid JSON: %v", verb, what, json.Unmarshal(data, &v))
	}
	return data, nil
}

func newPoliciesCmd(env cliEnv) *cobra.Command {
	cmd, o := group(env, "policies", []string{"policy"}, "List, enable and disable the policies of gateway.config.yml")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the enabled policies (the top-level policies list)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			names, err := c.EnabledPolicies(ctx(cmd))
			if err != nil {
				return o.explain(err)
			}
			if o.json {
				if names == nil {
					names = []string{}
				}
				return o.printJSON(names)
			}
			if len(names) == 0 && !o.quiet {
				fmt.Fprintln(o.stdout, "You have no enabled policies")
			}
			for _, n := range names {
				fmt.Fprintln(o.stdout, n)
			}
			return nil
		},
	}
	toggle := func(use string, aliases []string, short, done string, fn func(cmd *cobra.Command, name string) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " <policy>...", Aliases: aliases, Short: short, Args: someArgs("policy name"),
			RunE: func(cmd *cobra.Command, args []string) error {
				return o.each(args, func(name string) (any, string, string, error) {
					err := fn(cmd, name)
					return map[string]any{"policy": name, strings.ToLower(done): true}, done + " " + name, name, err
				})
			},
		}
	}
	enable := toggle("enable", []string{"add"}, "Add policies to the policies list", "Enabled", func(cmd *cobra.Command, name string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		return c.EnablePolicy(ctx(cmd), name)
	})
	disable := toggle("disable", []string{"remove", "rm"}, "Remove policies from the policies list", "Disabled", func(cmd *cobra.Command, name string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		return c.DisablePolicy(ctx(cmd), name)
	})
	cmd.AddCommand(list, enable, disable)
	return cmd
}

// printRaw writes JSON from the Admin API indented, keys in its order.
func (o *identityOpts) printRaw(v json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, v, "", "  "); err != nil {
		return errors.New("the Admin API sent an answer that is not JSON")
	}
	b.WriteByte('\n')
	_, err := o.stdout.Write(b.Bytes())
	return err
}
