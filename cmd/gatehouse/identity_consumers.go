package main

// users and apps: Express Gateway's two consumer kinds have the same verbs
// (create, list, info, update, activate, deactivate, remove). One
// implementation builds both command groups from a consumerKind, which
// holds what differs: names, help, the Admin API client's calls, how a
// created one is checked, and the columns of the list.

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/adminclient"
)

// consumerKind describes users or apps.
type consumerKind struct {
	one, many string   // "user", "users": the verb's words, and its group's name
	aliases   []string // of the group: "user"
	short     string   // the group's help line
	idArg     string   // what an argument is: "user id or username"

	// create's help, and its check of each object to create.
	create createHelp
	// ownerHelp, when set, adds create's -u/--user flag (an app's owner).
	ownerHelp string
	// fromFlags checks (and completes) the object -p built; owner is -u.
	fromFlags func(props map[string]any, owner string) error
	// fromStdin checks (and completes) the n-th object read with --stdin,
	// -p values already added; nil accepts every object.
	fromStdin func(in map[string]any, owner string, n int) error

	// The Admin API client's calls for the kind (method expressions).
	add      func(*adminclient.Client, context.Context, map[string]any) (adminclient.Object, error)
	listPage func(*adminclient.Client, context.Context, string, int) (adminclient.Page, error)
	listAll  func(*adminclient.Client, context.Context) ([]adminclient.Object, error)
	get      func(*adminclient.Client, context.Context, string) (adminclient.Object, error)
	update   func(*adminclient.Client, context.Context, string, map[string]any) (adminclient.Object, error)
	remove   func(*adminclient.Client, context.Context, string) error
	// setStatus activates or deactivates one and returns the result (for
	// --json) and the line to print.
	setStatus func(c *adminclient.Client, ctx context.Context, id string, active bool) (any, string, error)

	quietList string   // the field `list -q` prints for each entry
	columns   []column // of the list table
}

// createHelp is the help of a create verb.
type createHelp struct {
	use, short, example, property, stdin string
}

// column is one column of a list table: the header over a field of each
// object, shown with display, or as yes/no for a boolean.
type column struct {
	header, field string
	yesNo         bool
}

// table lays objects out in the columns.
func table(cols []column, objs []adminclient.Object) ([]string, [][]string) {
	headers := make([]string, 0, len(cols))
	for _, c := range cols {
		headers = append(headers, c.header)
	}
	rows := make([][]string, 0, len(objs))
	for _, obj := range objs {
		row := make([]string, 0, len(cols))
		for _, c := range cols {
			if c.yesNo {
				row = append(row, yesNo(obj.Bool(c.field)))
			} else {
				row = append(row, display(c.field, obj[c.field]))
			}
		}
		rows = append(rows, row)
	}
	return headers, rows
}

// activeStatus is setStatus over a call that returns only EG's status.
func activeStatus(set func(*adminclient.Client, context.Context, string, bool) (string, error)) func(*adminclient.Client, context.Context, string, bool) (any, string, error) {
	return func(c *adminclient.Client, ctx context.Context, id string, active bool) (any, string, error) {
		st, err := set(c, ctx, id, active)
		return map[string]any{"id": id, "status": st}, statusLine(st, id), err
	}
}

// newConsumerCmd is the users or apps command group.
func newConsumerCmd(env cliEnv, k consumerKind) *cobra.Command {
	cmd, o := group(env, k.many, k.aliases, k.short)
	cmd.AddCommand(consumerCreateVerb(o, k), consumerListVerb(o, k), consumerInfoVerb(o, k), consumerUpdateVerb(o, k),
		consumerStatusVerb(o, k, "activate", true), consumerStatusVerb(o, k, "deactivate", false), consumerRemoveVerb(o, k))
	return cmd
}

// propertyFlag adds the repeatable -p/--property key=value flag.
func propertyFlag(cmd *cobra.Command, props *[]string, usage string) {
	cmd.Flags().StringArrayVarP(props, "property", "p", nil, usage)
}

// stdinFlag adds --stdin: read the objects as NDJSON from standard input.
func stdinFlag(cmd *cobra.Command, stdin *bool, usage string) {
	cmd.Flags().BoolVar(stdin, "stdin", false, usage)
}

// consumerCreateVerb is create: from -p flags, or NDJSON on stdin with the
// -p values added to each object.
func consumerCreateVerb(o *identityOpts, k consumerKind) *cobra.Command {
	var (
		owner string
		props []string
		stdin bool
	)
	create := &cobra.Command{
		Use:     k.create.use,
		Short:   k.create.short,
		Example: k.create.example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := parseProps(props, false)
			if err != nil {
				return err
			}
			var inputs []map[string]any
			if stdin {
				if inputs, err = readNDJSON(cmd.InOrStdin()); err != nil {
					return err
				}
				for i, in := range inputs {
					for key, v := range p {
						in[key] = v
					}
					if k.fromStdin == nil {
						continue
					}
					if err := k.fromStdin(in, owner, i+1); err != nil {
						return err
					}
				}
			} else {
				if err := k.fromFlags(p, owner); err != nil {
					return err
				}
				inputs = []map[string]any{p}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return o.createEach(inputs, stdin, func(in map[string]any) (adminclient.Object, error) {
				return k.add(c, ctx(cmd), in)
			})
		},
	}
	if k.ownerHelp != "" {
		create.Flags().StringVarP(&owner, "user", "u", "", k.ownerHelp)
	}
	propertyFlag(create, &props, k.create.property)
	stdinFlag(create, &stdin, k.create.stdin)
	return create
}

// printCreated prints, with --json, what was created: the object, or for
// --stdin (many) an array; nothing otherwise (the text lines were printed
// as each was created).
func (o *identityOpts) printCreated(created []adminclient.Object, many bool) error {
	switch {
	case !o.json || len(created) == 0:
		return nil
	case many:
		return o.printJSON(created)
	}
	return o.printJSON(created[0])
}

// createEach creates every input in order and prints "Created <id>" and the
// object (EG), or the id with -q. With --json it prints the object, or, for
// --stdin (many), an array.
func (o *identityOpts) createEach(inputs []map[string]any, many bool, create func(map[string]any) (adminclient.Object, error)) error {
	var created []adminclient.Object
	for _, in := range inputs {
		obj, err := create(in)
		if err != nil {
			_ = o.printCreated(created, many)
			return o.explain(err)
		}
		created = append(created, obj)
		switch {
		case o.json:
		case o.quiet:
			fmt.Fprintln(o.stdout, obj.Str("id"))
		default:
			fmt.Fprintf(o.stdout, "Created %s\n", obj.Str("id"))
			o.printObject(obj)
		}
	}
	return o.printCreated(created, many)
}

// consumerListVerb is list: the first page, or every page with -a.
func consumerListVerb(o *identityOpts, k consumerKind) *cobra.Command {
	var all bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List " + k.many + " (the first page; -a for all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			var items []adminclient.Object
			var next string
			if all {
				items, err = k.listAll(c, ctx(cmd))
			} else {
				var p adminclient.Page
				p, err = k.listPage(c, ctx(cmd), "", adminclient.DefaultPageSize)
				items, next = p.Items, p.NextKey
			}
			if err != nil {
				return o.explain(err)
			}
			switch {
			case o.json:
				if items == nil {
					items = []adminclient.Object{}
				}
				return o.printJSON(items)
			case o.quiet:
				for _, it := range items {
					fmt.Fprintln(o.stdout, it.Str(k.quietList))
				}
			case len(items) == 0:
				fmt.Fprintf(o.stdout, "You have no %s\n", k.many)
			default:
				o.printTable(table(k.columns, items))
			}
			if next != "" && !o.json && !o.quiet {
				fmt.Fprintf(o.stderr, "(more %s: add -a/--all to list them all)\n", k.many)
			}
			return nil
		},
	}
	list.Flags().BoolVarP(&all, "all", "a", false, "list every page, not only the first")
	return list
}

// consumerInfoVerb is info: one by id or name.
func consumerInfoVerb(o *identityOpts, k consumerKind) *cobra.Command {
	return &cobra.Command{
		Use:   "info <" + k.one + ">",
		Short: "Show one " + k.one + " (by id or name)",
		Args:  exactArg(k.idArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			obj, err := k.get(c, ctx(cmd), args[0])
			if err != nil {
				return o.explain(err)
			}
			return o.printOne(obj, obj.Str("id"))
		},
	}
}

// consumerUpdateVerb is update: change the -p properties.
func consumerUpdateVerb(o *identityOpts, k consumerKind) *cobra.Command {
	var props []string
	update := &cobra.Command{
		Use:   "update <" + k.one + "> -p key=value ...",
		Short: "Change properties of a " + k.one,
		Args:  exactArg(k.idArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parseProps(props, false)
			if err != nil {
				return err
			}
			if len(p) == 0 {
				return fmt.Errorf("%s update: nothing to change: give -p key=value", k.many)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			obj, err := k.update(c, ctx(cmd), args[0], p)
			if err != nil {
				return o.explain(err)
			}
			id := obj.Str("id")
			if id == "" {
				id = args[0]
			}
			switch {
			case o.json:
				return o.printJSON(obj)
			case o.quiet:
				fmt.Fprintln(o.stdout, id)
			default:
				fmt.Fprintf(o.stdout, "Updated %s\n", id)
			}
			return nil
		},
	}
	propertyFlag(update, &props, "a property to change, key=value, or key:=JSON (repeatable)")
	return update
}

// consumerStatusVerb is activate or deactivate.
func consumerStatusVerb(o *identityOpts, k consumerKind, verb string, active bool) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " <" + k.one + ">...",
		Short: titleCase(verb) + " " + k.many,
		Args:  someArgs(k.idArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			return o.each(args, func(id string) (any, string, string, error) {
				res, line, err := k.setStatus(c, ctx(cmd), id, active)
				return res, line, id, err
			})
		},
	}
}

// consumerRemoveVerb is remove.
func consumerRemoveVerb(o *identityOpts, k consumerKind) *cobra.Command {
	return &cobra.Command{
		Use:     "remove <" + k.one + ">...",
		Aliases: []string{"rm"},
		Short:   "Remove " + k.many,
		Args:    someArgs(k.idArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			return o.each(args, func(id string) (any, string, string, error) {
				err := k.remove(c, ctx(cmd), id)
				return map[string]any{"id": id, "removed": true}, "Removed " + id, id, err
			})
		},
	}
}

// printOne prints a single object: a key: value block, its id with -q, or
// JSON.
func (o *identityOpts) printOne(obj adminclient.Object, id string) error {
	switch {
	case o.json:
		return o.printJSON(obj)
	case o.quiet:
		fmt.Fprintln(o.stdout, id)
	default:
		o.printObject(obj)
	}
	return nil
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
