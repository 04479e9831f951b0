package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

func newScopesCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd, o := group(stdout, stderr, "scopes", []string{"scope"}, "Manage scopes (create, list, info, remove)")

	create := &cobra.Command{
		Use:     "create <scope>...",
		Short:   "Create scopes",
		Example: "  gatehouse scopes create read write",
		Args:    someArgs("scope name"),
		RunE: func(cmd *cobra.Command, scopes []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if err := c.CreateScopes(ctx(cmd), scopes...); err != nil {
				return o.explain(err)
			}
			switch {
			case o.json:
				return o.printJSON(scopes)
			case o.quiet:
				fmt.Fprintln(o.stdout, strings.Join(scopes, "\n"))
			default:
				fmt.Fprintf(o.stdout, "Created %s\n", strings.Join(scopes, ","))
			}
			return nil
		},
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List scopes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			scopes, err := c.ListScopes(ctx(cmd))
			if err != nil {
				return o.explain(err)
			}
			switch {
			case o.json:
				if scopes == nil {
					scopes = []string{}
				}
				return o.printJSON(scopes)
			case len(scopes) == 0 && !o.quiet:
				fmt.Fprintln(o.stdout, "You have no scopes")
			default:
				for _, s := range scopes {
					fmt.Fprintln(o.stdout, s)
				}
			}
			return nil
		},
	}

	info := &cobra.Command{
		Use:   "info <scope>",
		Short: "Check that a scope exists",
		Args:  exactArg("scope name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			s, err := c.GetScope(ctx(cmd), args[0])
			if err != nil {
				return o.explain(err)
			}
			if o.json {
				return o.printJSON(map[string]string{"scope": s})
			}
			fmt.Fprintln(o.stdout, s)
			return nil
		},
	}

	remove := &cobra.Command{
		Use:     "remove <scope>...",
		Aliases: []string{"rm"},
		Short:   "Remove scopes (and take them away from every credential)",
		Args:    someArgs("scope name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			return o.each(args, func(s string) (any, string, string, error) {
				err := c.DeleteScope(ctx(cmd), s)
				return map[string]any{"scope": s, "removed": true}, "Removed " + s, s, err
			})
		},
	}
	cmd.AddCommand(create, list, info, remove)
	return cmd
}
