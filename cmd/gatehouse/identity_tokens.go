package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/adminclient"
)

func newTokensCmd(env cliEnv) *cobra.Command {
	cmd, o := group(env, "tokens", []string{"token"}, "List and revoke OAuth 2.0 tokens")

	var consumer string
	list := &cobra.Command{
		Use:   "list -c <consumer>",
		Short: "List a consumer's live tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if consumer == "" {
				return errors.New("tokens list: missing -c/--consumer: the client (app) id, or a user id")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			tokens, err := c.ListTokens(ctx(cmd), consumer)
			if err != nil {
				return o.explain(err)
			}
			switch {
			case o.json:
				if tokens == nil {
					tokens = []adminclient.Object{}
				}
				return o.printJSON(tokens)
			case o.quiet:
				for _, t := range tokens {
					fmt.Fprintln(o.stdout, t.Str("id"))
				}
			case len(tokens) == 0:
				fmt.Fprintf(o.stdout, "Consumer %s has no tokens\n", consumer)
			default:
				rows := make([][]string, 0, len(tokens))
				for _, t := range tokens {
					rows = append(rows, []string{
						t.Str("id"), t.Str("kind"), strings.Join(t.Strings("scopes"), ","), t.Str("authenticatedUserId"),
						display("createdAt", t["createdAt"]), display("expiresAt", t["expiresAt"]), yesNo(t.Bool("revoked")),
					})
				}
				o.printTable([]string{"ID", "KIND", "SCOPES", "USER", "CREATED", "EXPIRES", "REVOKED"}, rows)
			}
			return nil
		},
	}
	consumerFlag(list, &consumer, "the consumer whose tokens to list: an app (client) id, or a user id (required)")

	revoke := &cobra.Command{
		Use:   "revoke <token>...",
		Short: "Revoke tokens, given whole (<id>|<secret>) or by id",
		Args:  someArgs("token (or token id)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			return o.each(args, func(tok string) (any, string, string, error) {
				res, err := c.RevokeToken(ctx(cmd), tok)
				id := res.Str("id")
				if id == "" {
					id, _, _ = strings.Cut(tok, "|") // never echo a token's secret
					if err == nil {
						res = adminclient.Object{"id": id, "revoked": true}
					}
				}
				return res, "Revoked " + id, id, err
			})
		},
	}
	cmd.AddCommand(list, revoke)
	return cmd
}
