package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/adminclient"
)

// consumerKind describes users and apps, whose verbs are the same.
type consumerKind struct {
	one, many string // "user", "users"
	idArg     string // what an argument is: "user id or username"
	list      func(c *adminclient.Client, cmd *cobra.Command, all bool) ([]adminclient.Object, string, error)
	get       func(c *adminclient.Client, cmd *cobra.Command, id string) (adminclient.Object, error)
	update    func(c *adminclient.Client, cmd *cobra.Command, id string, props map[string]any) (adminclient.Object, error)
	setActive func(c *adminclient.Client, cmd *cobra.Command, id string, active bool) (string, error)
	// setStatus, when set, replaces setActive: it returns the result
	// (for --json) and the line to print.
	setStatus func(c *adminclient.Client, cmd *cobra.Command, id string, active bool) (any, string, error)
	remove    func(c *adminclient.Client, cmd *cobra.Command, id string) error
	quietList func(adminclient.Object) string // what -q prints for each listed entry
	table     func([]adminclient.Object) ([]string, [][]string)
}

var userKind = consumerKind{
	one: "user", many: "users", idArg: "user id or username",
	list: func(c *adminclient.Client, cmd *cobra.Command, all bool) ([]adminclient.Object, string, error) {
		if all {
			users, err := c.AllUsers(ctx(cmd))
			return users, "", err
		}
		p, err := c.ListUsers(ctx(cmd), "", adminclient.DefaultPageSize)
		return p.Items, p.NextKey, err
	},
	get: func(c *adminclient.Client, cmd *cobra.Command, id string) (adminclient.Object, error) {
		return c.GetUser(ctx(cmd), id)
	},
	update: func(c *adminclient.Client, cmd *cobra.Command, id string, props map[string]any) (adminclient.Object, error) {
		return c.UpdateUser(ctx(cmd), id, props)
	},
	// A user's status change says what it did to the user's apps.
	setStatus: func(c *adminclient.Client, cmd *cobra.Command, id string, active bool) (any, string, error) {
		st, err := c.SetUserStatus(ctx(cmd), id, active)
		res := map[string]any{"id": id, "status": st.Status}
		switch st.Status {
		case "Deactivated":
			res["deactivatedApps"] = refs(st.DeactivatedApps)
		case "Activated":
			res["activatedApps"], res["inactiveApps"] = refs(st.ActivatedApps), refs(st.InactiveApps)
		}
		return res, userStatusLine(st, id), err
	},
	remove: func(c *adminclient.Client, cmd *cobra.Command, id string) error {
		return c.DeleteUser(ctx(cmd), id)
	},
	// Express Gateway's `users list -q` prints usernames.
	quietList: func(u adminclient.Object) string { return u.Str("username") },
	table: func(users []adminclient.Object) ([]string, [][]string) {
		rows := make([][]string, 0, len(users))
		for _, u := range users {
			rows = append(rows, []string{
				u.Str("id"), u.Str("username"), u.Str("firstname"), u.Str("lastname"), u.Str("email"),
				yesNo(u.Bool("isActive")), display("createdAt", u["createdAt"]),
			})
		}
		return []string{"ID", "USERNAME", "FIRSTNAME", "LASTNAME", "EMAIL", "ACTIVE", "CREATED"}, rows
	},
}

func newUsersCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd, o := group(stdout, stderr, "users", []string{"user"}, "Manage users (create, list, info, update, activate, deactivate, remove)")

	var props []string
	var stdin bool
	create := &cobra.Command{
		Use:   "create -p key=value ... | --stdin",
		Short: "Create users: -p username=... -p firstname=... -p lastname=..., or NDJSON on stdin",
		Example: `  gatehouse users create -p username=jdoe -p firstname=John -p lastname=Doe -p email=jdoe@example.com
  printf '{"username":"a","firstname":"A","lastname":"Z"}\n' | gatehouse users create --stdin`,
		Args: cobra.NoArgs,
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
				for _, in := range inputs {
					for k, v := range p {
						in[k] = v
					}
				}
			} else {
				if len(p) == 0 {
					return errors.New("users create: give the user's properties with -p key=value (username, firstname and lastname are required), or --stdin")
				}
				inputs = []map[string]any{p}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return o.createEach(inputs, stdin, func(in map[string]any) (adminclient.Object, error) {
				return c.CreateUser(ctx(cmd), in)
			})
		},
	}
	create.Flags().StringArrayVarP(&props, "property", "p", nil, "a user property, key=value, or key:=JSON for a number, boolean or list (repeatable)")
	create.Flags().BoolVar(&stdin, "stdin", false, "read users as newline-delimited JSON from standard input (-p values are added to each)")

	cmd.AddCommand(create)
	addConsumerVerbs(cmd, o, userKind)
	return cmd
}

// createEach creates every input in order and prints "Created <id>" and the
// object (EG), or the id with -q. With --json it prints the object, or, for
// --stdin (many), an array.
func (o *identityOpts) createEach(inputs []map[string]any, many bool, create func(map[string]any) (adminclient.Object, error)) error {
	var created []adminclient.Object
	flush := func() error {
		switch {
		case !o.json || len(created) == 0:
			return nil
		case many:
			return o.printJSON(created)
		}
		return o.printJSON(created[0])
	}
	for _, in := range inputs {
		obj, err := create(in)
		if err != nil {
			_ = flush()
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
	return flush()
}

// addConsumerVerbs adds list, info, update, activate, deactivate and remove
// to the users or apps group.
func addConsumerVerbs(cmd *cobra.Command, o *identityOpts, k consumerKind) {
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
			items, next, err := k.list(c, cmd, all)
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
					fmt.Fprintln(o.stdout, k.quietList(it))
				}
			case len(items) == 0:
				fmt.Fprintf(o.stdout, "You have no %s\n", k.many)
			default:
				o.printTable(k.table(items))
			}
			if next != "" && !o.json && !o.quiet {
				fmt.Fprintf(o.stderr, "(more %s: add -a/--all to list them all)\n", k.many)
			}
			return nil
		},
	}
	list.Flags().BoolVarP(&all, "all", "a", false, "list every page, not only the first")

	info := &cobra.Command{
		Use:   "info <" + k.one + ">",
		Short: "Show one " + k.one + " (by id or name)",
		Args:  exactArg(k.idArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			obj, err := k.get(c, cmd, args[0])
			if err != nil {
				return o.explain(err)
			}
			return o.printOne(obj, obj.Str("id"))
		},
	}

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
			obj, err := k.update(c, cmd, args[0], p)
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
	update.Flags().StringArrayVarP(&props, "property", "p", nil, "a property to change, key=value, or key:=JSON (repeatable)")

	status := func(verb string, active bool) *cobra.Command {
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
					if k.setStatus != nil {
						res, line, err := k.setStatus(c, cmd, id, active)
						return res, line, id, err
					}
					st, err := k.setActive(c, cmd, id, active)
					return map[string]any{"id": id, "status": st}, statusLine(st, id), id, err
				})
			},
		}
	}

	remove := &cobra.Command{
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
				err := k.remove(c, cmd, id)
				return map[string]any{"id": id, "removed": true}, "Removed " + id, id, err
			})
		},
	}
	cmd.AddCommand(list, info, update, status("activate", true), status("deactivate", false), remove)
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

// userStatusLine is the line of `users activate|deactivate`: the status,
// and what it did to the user's applications, so that nobody wonders why
// a client stopped (or did not start) working.
func userStatusLine(st adminclient.UserStatus, id string) string {
	line := statusLine(st.Status, id)
	switch st.Status {
	case "Deactivated":
		if len(st.DeactivatedApps) == 0 {
			return line + " (it has no active applications)"
		}
		return line + " and " + appList(st.DeactivatedApps, "its application", "its %d applications")
	case "Activated":
		if len(st.ActivatedApps) == 0 {
			line += " (no application was deactivated with it)"
		} else {
			line += " and " + appList(st.ActivatedApps, "its application", "its %d applications") + ", deactivated with it"
		}
		if n := len(st.InactiveApps); n == 1 {
			line += "; " + appList(st.InactiveApps, "application", "") + ", deactivated on its own, stays inactive (gatehouse apps activate)"
		} else if n > 1 {
			line += "; " + appList(st.InactiveApps, "", "%d applications") + ", deactivated on their own, stay inactive (gatehouse apps activate)"
		}
	}
	return line
}

// appList is "its application web" or "its 2 applications web, cli".
func appList(apps []adminclient.AppRef, one, many string) string {
	names := make([]string, 0, len(apps))
	for _, a := range apps {
		names = append(names, cmp.Or(a.Name, a.ID))
	}
	if len(apps) == 1 {
		return one + " " + names[0]
	}
	return fmt.Sprintf(many, len(apps)) + " " + strings.Join(names, ", ")
}

func refs(apps []adminclient.AppRef) []adminclient.AppRef {
	if apps == nil {
		return []adminclient.AppRef{}
	}
	return apps
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
