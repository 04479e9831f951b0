package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/adminclient"
	"github.com/gatehouse/gatehouse/internal/store"
)

// typeFlag adds the required -t/--type flag.
func typeFlag(cmd *cobra.Command, typ *string) {
	cmd.Flags().StringVarP(typ, "type", "t", "", "credential type: "+strings.Join(store.CredentialTypes, ", ")+" (required)")
}

// checkType says what is wrong with a -t value.
func checkType(cmd *cobra.Command, typ string) error {
	types := strings.Join(store.CredentialTypes, ", ")
	if typ == "" {
		return fmt.Errorf("%s: missing -t/--type: one of %s", verbName(cmd), types)
	}
	if !slices.Contains(store.CredentialTypes, typ) {
		return fmt.Errorf("%s: -t/--type %q: want one of %s", verbName(cmd), typ, types)
	}
	return nil
}

// secretOf finds the plain secret in a credential the Admin API just
// created or rotated: password (basic-auth), secret (oauth2) or keySecret
// (key-auth, jwt); and the name of that field.
func secretOf(obj adminclient.Object) (field, value string) {
	for _, f := range []string{"keySecret", "password", "secret"} {
		if v := obj.Str(f); v != "" {
			return f, v
		}
	}
	return "", ""
}

// credentialID is how a credential is named on the command line: its keyId
// for key-auth and jwt, its consumer id for basic-auth and oauth2.
func credentialID(obj adminclient.Object) string {
	if id := obj.Str("id"); id != "" {
		return id
	}
	if id := obj.Str("keyId"); id != "" {
		return id
	}
	return obj.Str("consumerId")
}

// quietSecret is what -q prints for a new or rotated credential, ready for
// a client: keyId:keySecret (key-auth, jwt), id:password (basic-auth) or
// id:secret (oauth2). Without a secret in the answer, just the id.
func quietSecret(obj adminclient.Object) string {
	id := credentialID(obj)
	if k := obj.Str("keyId"); k != "" {
		id = k
	}
	if _, s := secretOf(obj); s != "" {
		return id + ":" + s
	}
	return id
}

// credentialCall runs fn with a credential id. basic-auth and oauth2
// credentials are named by their consumer's id, which the Admin API wants
// as such: when a username or an app name is not found, it is looked up and
// fn runs again with the consumer's id. It returns the id that worked.
func credentialCall(cmd *cobra.Command, c *adminclient.Client, typ, id string, fn func(id string) error) (string, error) {
	err := fn(id)
	if err == nil || !adminclient.IsNotFound(err) || (typ != store.BasicAuth && typ != store.OAuth2) {
		return id, err
	}
	var real string
	if u, uerr := c.GetUser(ctx(cmd), id); uerr == nil {
		real = u.Str("id")
	} else if a, aerr := c.GetApp(ctx(cmd), id); aerr == nil {
		real = a.Str("id")
	}
	if real == "" || real == id {
		return id, err
	}
	return real, fn(real)
}

func secretNote(field string) string {
	what := map[string]string{"keySecret": "key secret", "password": "password", "secret": "client secret"}[field]
	return fmt.Sprintf("Save the %s now: Gatehouse keeps only a hash of it and cannot show it again.", what)
}

func newCredentialsCmd(env cliEnv) *cobra.Command {
	cmd, o := group(env, "credentials", []string{"credential"},
		"Manage credentials (create, list, info, activate, deactivate, scopes, remove, rotate-secret, set-client)")
	cmd.AddCommand(credentialsCreateVerb(o), credentialsListVerb(o), credentialInfoVerb(o),
		credentialStatusVerb(o, "activate", true), credentialStatusVerb(o, "deactivate", false),
		scopeVerb(o, "add-scopes", nil), scopeVerb(o, "remove-scopes", []string{"rm-scopes"}), scopeVerb(o, "set-scopes", nil),
		credentialsRemoveVerb(o), rotateSecretVerb(o), credentialsClientVerb(o))
	return cmd
}

// consumerFlag adds -c/--consumer, the credentials' or tokens' owner.
func consumerFlag(cmd *cobra.Command, consumer *string, usage string) {
	cmd.Flags().StringVarP(consumer, "consumer", "c", "", usage)
}

// credentialInput is one credential to create.
type credentialInput struct {
	consumer, typ string
	cred          map[string]any
}

// credentialsCreateVerb is credentials create: one from the flags, or
// NDJSON on stdin.
func credentialsCreateVerb(o *identityOpts) *cobra.Command {
	var (
		consumer, typ string
		props         []string
		stdin         bool
	)
	create := &cobra.Command{
		Use:   "create -c <consumer> -t <type> [-p key=value ...] | --stdin",
		Short: "Create a credential for a user or an app; its secret is printed this once",
		Example: `  gatehouse credentials create -c jdoe -t basic-auth -p password=s3cret
  gatehouse credentials create -c my-app -t oauth2 -p 'scopes=["read","write"]'
  gatehouse credentials create -c jdoe -t key-auth -q        # prints keyId:keySecret
  printf '{"consumer":"jdoe","type":"key-auth","scopes":["read"]}\n' | gatehouse credentials create --stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := parseProps(props, true)
			if err != nil {
				return err
			}
			var inputs []credentialInput
			if stdin {
				if inputs, err = stdinCredentials(cmd, consumer, typ, p); err != nil {
					return err
				}
			} else {
				if consumer == "" {
					return errors.New("credentials create: missing -c/--consumer: a user id or username, or an app id or name")
				}
				if err := checkType(cmd, typ); err != nil {
					return err
				}
				inputs = []credentialInput{{consumer, typ, p}}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return o.createCredentials(cmd, c, inputs, stdin)
		},
	}
	consumerFlag(create, &consumer, "the owner: a user id or username, or an app id or name (required unless --stdin)")
	typeFlag(create, &typ)
	propertyFlag(create, &props, "a credential property, key=value (a value that looks like JSON is decoded, as EG; key:=JSON forces it): password, secret, keyId, keySecret, scopes, autoGeneratePassword, redirectUris; for oauth2 also the OpenID Connect registration: "+clientFieldList)
	stdinFlag(create, &stdin, `read credentials as newline-delimited JSON from standard input: {"consumer": ..., "type": ..., properties...}`)
	return create
}

// stdinCredentials reads create's NDJSON: each object names its consumer
// (consumer or consumerId, else -c) and type (else -t), and holds the
// credential's properties, bare or under "credential"; -p values are added.
func stdinCredentials(cmd *cobra.Command, consumer, typ string, p map[string]any) ([]credentialInput, error) {
	lines, err := readNDJSON(cmd.InOrStdin())
	if err != nil {
		return nil, err
	}
	var inputs []credentialInput
	for i, l := range lines {
		in := credentialInput{consumer: consumer, typ: typ}
		for _, k := range []string{"consumer", "consumerId"} {
			if v := adminclient.Format(l[k]); v != "" {
				in.consumer = v
			}
			delete(l, k)
		}
		if v := adminclient.Format(l["type"]); v != "" {
			in.typ = v
		}
		delete(l, "type")
		if c, ok := l["credential"].(map[string]any); ok && len(l) == 1 {
			l = c
		}
		for k, v := range p {
			l[k] = v
		}
		in.cred = l
		if in.consumer == "" {
			return nil, fmt.Errorf("credentials create --stdin: object %d has no consumer: add \"consumer\" or give -c", i+1)
		}
		if err := checkType(cmd, in.typ); err != nil {
			return nil, fmt.Errorf("object %d: %w", i+1, err)
		}
		inputs = append(inputs, in)
	}
	return inputs, nil
}

// createCredentials creates every input in order and prints each as it
// goes: "Created <id>", the credential and, for a generated secret, that it
// is shown this once; keyId:secret with -q. With --json it prints the
// credential, or, for --stdin (many), an array.
func (o *identityOpts) createCredentials(cmd *cobra.Command, c *adminclient.Client, inputs []credentialInput, many bool) error {
	var created []adminclient.Object
	for _, in := range inputs {
		obj, err := c.CreateCredential(ctx(cmd), in.consumer, in.typ, in.cred)
		if err != nil {
			_ = o.printCreated(created, many)
			return o.explain(err)
		}
		if obj.Str("type") == "" {
			obj["type"] = in.typ
		}
		created = append(created, obj)
		switch {
		case o.json:
		case o.quiet:
			fmt.Fprintln(o.stdout, quietSecret(obj))
		default:
			fmt.Fprintf(o.stdout, "Created %s\n", credentialID(obj))
			o.printObject(obj)
			if f, s := secretOf(obj); s != "" && in.cred[f] == nil {
				fmt.Fprintln(o.stdout, secretNote(f)) // generated: shown this once
			}
		}
	}
	return o.printCreated(created, many)
}

// credentialsListVerb is credentials list: a consumer's credentials, by
// default the active ones.
func credentialsListVerb(o *identityOpts) *cobra.Command {
	var consumer, filter string
	list := &cobra.Command{
		Use:   "list -c <consumer> [--filter active|inactive|all]",
		Short: "List a consumer's credentials",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if consumer == "" {
				return errors.New("credentials list: missing -c/--consumer: a user id or username, or an app id or name")
			}
			keep, err := credentialFilter(filter)
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			all, err := c.ListCredentials(ctx(cmd), consumer)
			if err != nil {
				return o.explain(err)
			}
			creds := []adminclient.Object{}
			for _, cr := range all {
				if keep(cr.Bool("isActive")) {
					creds = append(creds, cr)
				}
			}
			return o.printCredentials(creds, consumer, filter)
		},
	}
	consumerFlag(list, &consumer, "a user id or username, or an app id or name (required)")
	list.Flags().StringVarP(&filter, "filter", "f", "active", "which credentials: active, inactive (EG: archived) or all")
	return list
}

// printCredentials prints list's answer.
func (o *identityOpts) printCredentials(creds []adminclient.Object, consumer, filter string) error {
	switch {
	case o.json:
		return o.printJSON(creds)
	case o.quiet:
		for _, cr := range creds {
			fmt.Fprintln(o.stdout, credentialID(cr))
		}
	case len(creds) == 0:
		fmt.Fprintf(o.stdout, "Consumer %s has no %scredentials\n", consumer, map[string]string{"active": "active ", "inactive": "inactive "}[normFilter(filter)])
	default:
		rows := make([][]string, 0, len(creds))
		for _, cr := range creds {
			rows = append(rows, []string{
				cr.Str("type"), credentialID(cr), yesNo(cr.Bool("isActive")),
				strings.Join(cr.Strings("scopes"), ","), display("createdAt", cr["createdAt"]),
			})
		}
		o.printTable([]string{"TYPE", "ID", "ACTIVE", "SCOPES", "CREATED"}, rows)
	}
	return nil
}

// credentialInfoVerb is credentials info.
func credentialInfoVerb(o *identityOpts) *cobra.Command {
	var typ string
	info := &cobra.Command{
		Use:   "info <id> -t <type>",
		Short: "Show a credential: id is the keyId (key-auth, jwt) or the consumer id (basic-auth, oauth2)",
		Args:  exactArg("credential id (keyId, or the consumer id for basic-auth and oauth2)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkType(cmd, typ); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			var obj adminclient.Object
			_, err = credentialCall(cmd, c, typ, args[0], func(id string) (err error) {
				obj, err = c.GetCredential(ctx(cmd), typ, id)
				return err
			})
			if err != nil {
				return o.explain(err)
			}
			if obj.Str("type") == "" {
				obj["type"] = typ
			}
			return o.printOne(obj, credentialID(obj))
		},
	}
	typeFlag(info, &typ)
	return info
}

// credentialStatusVerb is credentials activate or deactivate.
func credentialStatusVerb(o *identityOpts, verb string, active bool) *cobra.Command {
	var typ string
	status := &cobra.Command{
		Use:   verb + " <id>... -t <type>",
		Short: titleCase(verb) + " credentials",
		Args:  someArgs("credential id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkType(cmd, typ); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return o.each(args, func(arg string) (any, string, string, error) {
				var st string
				id, err := credentialCall(cmd, c, typ, arg, func(id string) (err error) {
					st, err = c.SetCredentialActive(ctx(cmd), typ, id, active)
					return err
				})
				return map[string]any{"id": id, "type": typ, "status": st}, statusLine(st, arg), id, err
			})
		},
	}
	typeFlag(status, &typ)
	return status
}

// credentialsRemoveVerb is credentials remove.
func credentialsRemoveVerb(o *identityOpts) *cobra.Command {
	var typ string
	remove := &cobra.Command{
		Use:     "remove <id>... -t <type>",
		Aliases: []string{"rm"},
		Short:   "Remove credentials (Express Gateway cannot)",
		Args:    someArgs("credential id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkType(cmd, typ); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return o.each(args, func(arg string) (any, string, string, error) {
				id, err := credentialCall(cmd, c, typ, arg, func(id string) error {
					return c.DeleteCredential(ctx(cmd), typ, id)
				})
				return map[string]any{"id": id, "type": typ, "removed": true}, "Removed " + arg, id, err
			})
		},
	}
	typeFlag(remove, &typ)
	return remove
}

// rotateSecretVerb is credentials rotate-secret: a generated secret, or
// the first line of stdin.
func rotateSecretVerb(o *identityOpts) *cobra.Command {
	var (
		typ         string
		secretStdin bool
	)
	rotate := &cobra.Command{
		Use:   "rotate-secret <id> -t <type> [--secret-stdin]",
		Short: "Replace a credential's password, client secret or key secret; the new one is printed this once",
		Example: `  gatehouse credentials rotate-secret 4ChGvYhRRmMI3mVIMqO7qN -t key-auth -q
  echo 'n3w-passw0rd' | gatehouse credentials rotate-secret jdoe-id -t basic-auth --secret-stdin`,
		Args: exactArg("credential id (keyId, or the consumer id for basic-auth and oauth2)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkType(cmd, typ); err != nil {
				return err
			}
			var secret string
			if secretStdin {
				var err error
				if secret, err = readSecretLine(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			var obj adminclient.Object
			_, err = credentialCall(cmd, c, typ, args[0], func(id string) (err error) {
				obj, err = c.RotateSecret(ctx(cmd), typ, id, secret)
				return err
			})
			if err != nil {
				return o.explain(err)
			}
			if obj.Str("id") == "" && obj.Str("keyId") == "" {
				obj["id"] = args[0]
			}
			if obj.Str("type") == "" {
				obj["type"] = typ
			}
			return o.printRotated(obj, typ, secret == "")
		},
	}
	typeFlag(rotate, &typ)
	rotate.Flags().BoolVar(&secretStdin, "secret-stdin", false, "read the new secret from the first line of standard input instead of generating one")
	return rotate
}

// readSecretLine reads --secret-stdin's secret: the first line.
func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("--secret-stdin: %w", err)
	}
	secret := strings.TrimRight(line, "\r\n")
	if secret == "" {
		return "", errors.New("--secret-stdin: standard input has no secret on its first line")
	}
	return secret, nil
}

// printRotated prints rotate-secret's answer; generated says the secret
// in it is new, shown this once.
func (o *identityOpts) printRotated(obj adminclient.Object, typ string, generated bool) error {
	switch {
	case o.json:
		return o.printJSON(obj)
	case o.quiet:
		fmt.Fprintln(o.stdout, quietSecret(obj))
	default:
		fmt.Fprintf(o.stdout, "Rotated the secret of %s credential %s\n", typ, credentialID(obj))
		o.printObject(obj)
		if f, s := secretOf(obj); s != "" && generated {
			fmt.Fprintln(o.stdout, secretNote(f))
		}
	}
	return nil
}

// newCredentialScopesCmd is Express Gateway's `eg credential:scopes
// add|remove|set` spelling of the add-scopes, remove-scopes and set-scopes
// verbs.
func newCredentialScopesCmd(env cliEnv) *cobra.Command {
	cmd, o := group(env, "credential:scopes", []string{"credential:scope"}, "Change a credential's scopes (EG spelling of credentials add-scopes/remove-scopes/set-scopes)")
	add := scopeVerb(o, "add-scopes", nil)
	add.Use, add.Aliases = strings.Replace(add.Use, "add-scopes", "add", 1), nil
	rm := scopeVerb(o, "remove-scopes", nil)
	rm.Use, rm.Aliases = strings.Replace(rm.Use, "remove-scopes", "remove", 1), []string{"rm"}
	set := scopeVerb(o, "set-scopes", nil)
	set.Use = strings.Replace(set.Use, "set-scopes", "set", 1)
	cmd.AddCommand(add, rm, set)
	return cmd
}

// scopeVerb builds add-scopes, remove-scopes or set-scopes.
func scopeVerb(o *identityOpts, verb string, aliases []string) *cobra.Command {
	var typ, id string
	short := map[string]string{
		"add-scopes":    "Grant existing scopes to a credential",
		"remove-scopes": "Take scopes away from a credential",
		"set-scopes":    "Replace a credential's scopes (no scope: remove them all)",
	}[verb]
	args := someArgs("scope")
	if verb == "set-scopes" {
		args = cobra.ArbitraryArgs
	}
	cmd := &cobra.Command{
		Use:     verb + " <scope>... -t <type> --id <id>",
		Aliases: aliases,
		Short:   short,
		Args:    args,
		RunE: func(cmd *cobra.Command, scopes []string) error {
			if err := checkType(cmd, typ); err != nil {
				return err
			}
			if id == "" {
				return fmt.Errorf("%s: missing --id: the keyId (key-auth, jwt) or consumer id (basic-auth, oauth2) of the credential", verbName(cmd))
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			if verb == "set-scopes" {
				realID, err := credentialCall(cmd, c, typ, id, func(id string) error {
					return c.SetCredentialScopes(ctx(cmd), typ, id, scopes)
				})
				if err != nil {
					return o.explain(err)
				}
				if scopes == nil {
					scopes = []string{}
				}
				switch {
				case o.json:
					return o.printJSON(map[string]any{"id": realID, "type": typ, "scopes": scopes})
				case o.quiet:
					fmt.Fprintln(o.stdout, realID)
				case len(scopes) == 0:
					fmt.Fprintf(o.stdout, "Removed every scope of %s credential %s\n", typ, id)
				default:
					fmt.Fprintf(o.stdout, "Set the scopes of %s credential %s to %s\n", typ, id, strings.Join(scopes, ", "))
				}
				return nil
			}
			add := verb == "add-scopes"
			realID := id // the consumer's id once a name was resolved
			return o.each(scopes, func(s string) (any, string, string, error) {
				var err error
				realID, err = credentialCall(cmd, c, typ, realID, func(cid string) error {
					if add {
						return c.AddCredentialScope(ctx(cmd), typ, cid, s)
					}
					return c.RemoveCredentialScope(ctx(cmd), typ, cid, s)
				})
				if add {
					return map[string]any{"id": realID, "type": typ, "scope": s, "added": true},
						fmt.Sprintf("Added scope %s to %s credential %s", s, typ, id), s, err
				}
				return map[string]any{"id": realID, "type": typ, "scope": s, "removed": true},
					fmt.Sprintf("Removed scope %s from %s credential %s", s, typ, id), s, err
			})
		},
	}
	typeFlag(cmd, &typ)
	cmd.Flags().StringVar(&id, "id", "", "the credential: its keyId (key-auth, jwt) or consumer id (basic-auth, oauth2) (required)")
	return cmd
}

func normFilter(f string) string {
	switch strings.ToLower(strings.TrimSpace(f)) {
	case "", "active":
		return "active"
	case "inactive", "archived":
		return "inactive"
	case "all", "active,inactive", "inactive,active", "active,archived", "archived,active":
		return "all"
	}
	return ""
}

// credentialFilter turns --filter into a test on isActive.
func credentialFilter(f string) (func(active bool) bool, error) {
	switch normFilter(f) {
	case "active":
		return func(a bool) bool { return a }, nil
	case "inactive":
		return func(a bool) bool { return !a }, nil
	case "all":
		return func(bool) bool { return true }, nil
	}
	return nil, fmt.Errorf("--filter %q: want active, inactive or all", f)
}
