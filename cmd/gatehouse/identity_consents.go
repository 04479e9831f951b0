package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/adminclient"
)

// newConsentsCmd is `gatehouse consents`: the remembered consents of the
// OpenID Provider (OpenID Connect Core 1.0 §3.1.2.4), listed and revoked
// through the Admin API's /consents and /users/{id}/consents routes.
func newConsentsCmd(env cliEnv) *cobra.Command {
	cmd, o := group(env, "consents", []string{"consent"}, "List and revoke the consents users gave clients")

	var user, client string
	list := &cobra.Command{
		Use:   "list [--user <user>] [--client <client>]",
		Short: "List remembered consents, every one or a user's and/or a client's",
		Example: `  gatehouse consents list
  gatehouse consents list --user jdoe
  gatehouse consents list --client my-app --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if user != "" {
				q.Set("userId", user)
			}
			if client != "" {
				q.Set("clientId", client)
			}
			var out map[string]any
			if _, err := c.Do(ctx(cmd), http.MethodGet, "/consents", q, nil, &out); err != nil {
				return o.explain(err)
			}
			consents, err := consentObjects(out["consents"])
			if err != nil {
				return err
			}
			switch {
			case o.json:
				return o.printJSON(consents)
			case o.quiet:
				for _, k := range consents {
					fmt.Fprintln(o.stdout, k.Str("userId")+" "+k.Str("clientId"))
				}
			case len(consents) == 0:
				fmt.Fprintln(o.stdout, "No consents")
			default:
				rows := make([][]string, 0, len(consents))
				for _, k := range consents {
					rows = append(rows, []string{k.Str("userId"), k.Str("clientId"), strings.Join(k.Strings("scopes"), ","),
						display("createdAt", k["createdAt"]), display("updatedAt", k["updatedAt"])})
				}
				o.printTable([]string{"USER", "CLIENT", "SCOPES", "GIVEN", "UPDATED"}, rows)
			}
			return nil
		},
	}
	list.Flags().StringVarP(&user, "user", "u", "", "only this user's consents: a user id or username")
	list.Flags().StringVar(&client, "client", "", "only the consents given to this client: an app id or name")

	var ruser, rclient string
	revoke := &cobra.Command{
		Use:     "revoke --user <user> --client <client>",
		Short:   "Forget a user's consent to a client and revoke the client's tokens for that user",
		Example: `  gatehouse consents revoke --user jdoe --client my-app`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ruser == "" || rclient == "" {
				return errors.New("consents revoke: --user and --client are both required: the user who consented and the client (app) it was given to")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			var out adminclient.Object
			p := "/users/" + url.PathEscape(ruser) + "/consents/" + url.PathEscape(rclient)
			if _, err := c.Do(ctx(cmd), http.MethodDelete, p, nil, nil, &out); err != nil {
				return o.explain(err)
			}
			switch {
			case o.json:
				return o.printJSON(out)
			case o.quiet:
				fmt.Fprintln(o.stdout, out.Str("userId")+" "+out.Str("clientId"))
			default:
				fmt.Fprintf(o.stdout, "Revoked the consent of %s to %s (%s refresh tokens revoked)\n",
					ruser, rclient, adminclient.Format(out["revokedRefreshTokens"]))
			}
			return nil
		},
	}
	revoke.Flags().StringVarP(&ruser, "user", "u", "", "the user who consented: a user id or username (required)")
	revoke.Flags().StringVar(&rclient, "client", "", "the client the consent was given to: an app id or name (required)")
	cmd.AddCommand(list, revoke)
	return cmd
}

func consentObjects(v any) ([]adminclient.Object, error) {
	out := []adminclient.Object{}
	if v == nil {
		return out, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, errors.New("the Admin API sent \"consents\" that is not a list")
	}
	for _, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, errors.New("the Admin API sent an entry of \"consents\" that is not an object")
		}
		out = append(out, adminclient.Object(m))
	}
	return out, nil
}

// credentialsClientVerb is `credentials set-client`: replace an oauth2
// credential's OpenID Connect client registration (PUT
// /credentials/oauth2/{id}/client). Fields left out go back to their
// defaults, so the flags are the whole registration.
func credentialsClientVerb(o *identityOpts) *cobra.Command {
	var props []string
	set := &cobra.Command{
		Use:   "set-client <id> [-p key=value ...]",
		Short: "Replace an oauth2 client's OpenID Connect registration (post_logout_redirect_uris, grant_types, ...)",
		Example: `  gatehouse credentials set-client my-app -p 'post_logout_redirect_uris=["https://app.example/bye"]' \
      -p backchannel_logout_uri=https://app.example/backchannel -p subject_type=pairwise \
      -p 'grant_types=["authorization_code","refresh_token"]' -p token_endpoint_auth_method=client_secret_basic`,
		Args: exactArg("the oauth2 credential's id (its app's id or name)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parseProps(props, true)
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			var obj adminclient.Object
			id, err := credentialCall(cmd, c, "oauth2", args[0], func(id string) error {
				obj = nil
				_, err := c.Do(ctx(cmd), http.MethodPut, "/credentials/oauth2/"+url.PathEscape(id)+"/client", nil, p, &obj)
				return err
			})
			if err != nil {
				return o.explain(err)
			}
			switch {
			case o.json:
				return o.printJSON(obj)
			case o.quiet:
				fmt.Fprintln(o.stdout, id)
			default:
				fmt.Fprintf(o.stdout, "Updated %s\n", id)
				o.printObject(obj)
			}
			return nil
		},
	}
	propertyFlag(set, &props, "a registration field, key=value (a value that looks like JSON is decoded; key:=JSON forces it): "+clientFieldList)
	return set
}

const clientFieldList = "post_logout_redirect_uris, backchannel_logout_uri, backchannel_logout_session_required, subject_type, sector_identifier_uri, id_token_signed_response_alg, token_endpoint_auth_method, grant_types, response_types"
