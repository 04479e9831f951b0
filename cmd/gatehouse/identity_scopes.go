package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/adminclient"
)

func newScopesCmd(env cliEnv) *cobra.Command {
	cmd, o := group(env, "scopes", []string{"scope"}, "Manage scopes (create, list, info, update, remove)")
	cmd.AddCommand(scopesCreateVerb(o), scopesListVerb(o), scopeInfoVerb(o), scopeUpdateVerb(o), scopesRemoveVerb(o))
	return cmd
}

// scopesCreateVerb is scopes create: all the scopes or none.
func scopesCreateVerb(o *identityOpts) *cobra.Command {
	var description string
	create := &cobra.Command{
		Use:   "create <scope>...",
		Short: "Create scopes (all or none: if one exists, the error names it and none is created)",
		Example: "  gatehouse scopes create read write\n" +
			"  gatehouse scopes create profile:read --description \"See your profile\"",
		Args: someArgs("scope name"),
		RunE: func(cmd *cobra.Command, scopes []string) error {
			described := cmd.Flags().Changed("description")
			if described && len(scopes) != 1 {
				return errors.New("scopes create: --description describes one scope: create the scopes one by one")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			if described {
				err = c.CreateScope(ctx(cmd), scopes[0], description)
			} else {
				err = c.CreateScopes(ctx(cmd), scopes...)
			}
			if err != nil {
				return o.explain(err)
			}
			switch {
			case o.json && described:
				return o.printJSON([]adminclient.Scope{{Name: scopes[0], Description: description}})
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
	create.Flags().StringVarP(&description, "description", "d", "", "what the scope lets an application do, shown on the consent page (one scope only)")
	return create
}

// scopeUpdateVerb is scopes update: a new description.
func scopeUpdateVerb(o *identityOpts) *cobra.Command {
	var description string
	update := &cobra.Command{
		Use:     "update <scope> --description TEXT",
		Short:   "Change a scope's description (an empty one removes it)",
		Example: "  gatehouse scopes update profile:read --description \"See your name and email\"",
		Args:    exactArg("scope name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("description") {
				return errors.New("scopes update: missing --description (an empty one removes the description)")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			sc, err := c.DescribeScope(ctx(cmd), args[0], description)
			if err != nil {
				return o.explain(err)
			}
			switch {
			case o.json:
				return o.printJSON(sc)
			case o.quiet:
				fmt.Fprintln(o.stdout, sc.Name)
			default:
				fmt.Fprintf(o.stdout, "Updated %s\n", sc.Name)
			}
			return nil
		},
	}
	update.Flags().StringVarP(&description, "description", "d", "", "the new description")
	return update
}

// scopesListVerb is scopes list: names, as EG, or a table when some scope
// has a description.
func scopesListVerb(o *identityOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List scopes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			scopes, err := c.ListScopeDetails(ctx(cmd))
			if err != nil {
				return o.explain(err)
			}
			described := false
			for _, s := range scopes {
				described = described || s.Description != ""
			}
			switch {
			case o.json:
				return o.printJSON(scopes)
			case len(scopes) == 0 && !o.quiet:
				fmt.Fprintln(o.stdout, "You have no scopes")
			case o.quiet || !described:
				// One name per line, as Express Gateway printed them.
				for _, s := range scopes {
					fmt.Fprintln(o.stdout, s.Name)
				}
			default:
				rows := make([][]string, 0, len(scopes))
				for _, s := range scopes {
					rows = append(rows, []string{s.Name, s.Description})
				}
				o.printTable([]string{"SCOPE", "DESCRIPTION"}, rows)
			}
			return nil
		},
	}
}

// scopeInfoVerb is scopes info.
func scopeInfoVerb(o *identityOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "info <scope>",
		Short: "Show a scope and its description (fails if it does not exist)",
		Args:  exactArg("scope name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			s, err := c.GetScopeDetails(ctx(cmd), args[0])
			if err != nil {
				return o.explain(err)
			}
			switch {
			case o.json:
				return o.printJSON(s)
			case s.Description != "" && !o.quiet:
				fmt.Fprintf(o.stdout, "%s: %s\n", s.Name, s.Description)
			default:
				fmt.Fprintln(o.stdout, s.Name)
			}
			return nil
		},
	}
}

// scopesRemoveVerb is scopes remove.
func scopesRemoveVerb(o *identityOpts) *cobra.Command {
	return &cobra.Command{
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
}
