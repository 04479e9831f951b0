package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/adminclient"
)

var appKind = consumerKind{
	one: "app", many: "apps", idArg: "app id or name",
	list: func(c *adminclient.Client, cmd *cobra.Command, all bool) ([]adminclient.Object, string, error) {
		if all {
			apps, err := c.AllApps(ctx(cmd))
			return apps, "", err
		}
		p, err := c.ListApps(ctx(cmd), "", adminclient.DefaultPageSize)
		return p.Items, p.NextKey, err
	},
	get: func(c *adminclient.Client, cmd *cobra.Command, id string) (adminclient.Object, error) {
		return c.GetApp(ctx(cmd), id)
	},
	update: func(c *adminclient.Client, cmd *cobra.Command, id string, props map[string]any) (adminclient.Object, error) {
		return c.UpdateApp(ctx(cmd), id, props)
	},
	setActive: func(c *adminclient.Client, cmd *cobra.Command, id string, active bool) (string, error) {
		return c.SetAppActive(ctx(cmd), id, active)
	},
	remove: func(c *adminclient.Client, cmd *cobra.Command, id string) error {
		return c.DeleteApp(ctx(cmd), id)
	},
	quietList: func(a adminclient.Object) string { return a.Str("id") },
	table: func(apps []adminclient.Object) ([]string, [][]string) {
		rows := make([][]string, 0, len(apps))
		for _, a := range apps {
			rows = append(rows, []string{
				a.Str("id"), a.Str("name"), a.Str("userId"), a.Str("redirectUri"),
				yesNo(a.Bool("isActive")), display("createdAt", a["createdAt"]),
			})
		}
		return []string{"ID", "NAME", "USER ID", "REDIRECT URI", "ACTIVE", "CREATED"}, rows
	},
}

func newAppsCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd, o := group(stdout, stderr, "apps", []string{"app"}, "Manage applications (create, list, info, update, activate, deactivate, remove)")

	var (
		user  string
		props []string
		stdin bool
	)
	create := &cobra.Command{
		Use:   "create -u <user> -p name=... [-p redirectUri=...] | --stdin",
		Short: "Create applications owned by a user",
		Example: `  gatehouse apps create -u jdoe -p name=my-app -p redirectUri=https://app.example.com/cb
  printf '{"name":"a1"}\n{"name":"a2"}\n' | gatehouse apps create -u jdoe --stdin
  printf '{"userId":"jdoe","name":"a3"}\n' | gatehouse apps create --stdin`,
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
				for i, in := range inputs {
					for k, v := range p {
						in[k] = v
					}
					if u, ok := in["user"]; ok { // EG's stdin field name
						if _, has := in["userId"]; !has {
							in["userId"] = u
						}
						delete(in, "user")
					}
					if user != "" {
						in["userId"] = user
					}
					if adminclient.Format(in["userId"]) == "" {
						return fmt.Errorf("apps create --stdin: object %d has no userId: add \"userId\" to it, or give -u <user>", i+1)
					}
				}
			} else {
				if user == "" {
					return errors.New("apps create: missing -u/--user: the id or username of the app's owner")
				}
				if _, ok := p["name"]; !ok {
					return errors.New("apps create: missing -p name=<app name>")
				}
				p["userId"] = user
				inputs = []map[string]any{p}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return o.createEach(inputs, stdin, func(in map[string]any) (adminclient.Object, error) {
				return c.CreateApp(ctx(cmd), in)
			})
		},
	}
	create.Flags().StringVarP(&user, "user", "u", "", "the owner: a user id or username (required unless each stdin line has userId)")
	create.Flags().StringArrayVarP(&props, "property", "p", nil, "an app property, key=value or key:=JSON (repeatable): name (required), redirectUri")
	create.Flags().BoolVar(&stdin, "stdin", false, "read apps as newline-delimited JSON from standard input")

	cmd.AddCommand(create)
	addConsumerVerbs(cmd, o, appKind)
	return cmd
}
