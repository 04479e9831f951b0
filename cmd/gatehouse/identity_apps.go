package main

import (
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/adminclient"
)

// appKind is the apps group: an app is named by id or name, and created
// for an owner, a user.
var appKind = consumerKind{
	one: "app", many: "apps", aliases: []string{"app"}, idArg: "app id or name",
	short: "Manage applications (create, list, info, update, activate, deactivate, remove)",
	create: createHelp{
		use:   "create -u <user> -p name=... [-p redirectUri=...] | --stdin",
		short: "Create applications owned by a user",
		example: `  gatehouse apps create -u jdoe -p name=my-app -p redirectUri=https://app.example.com/cb
  printf '{"name":"a1"}\n{"name":"a2"}\n' | gatehouse apps create -u jdoe --stdin
  printf '{"userId":"jdoe","name":"a3"}\n' | gatehouse apps create --stdin`,
		property: "an app property, key=value or key:=JSON (repeatable): name (required), redirectUri",
		stdin:    "read apps as newline-delimited JSON from standard input",
	},
	ownerHelp: "the owner: a user id or username (required unless each stdin line has userId)",
	fromFlags: func(props map[string]any, owner string) error {
		if owner == "" {
			return errors.New("apps create: missing -u/--user: the id or username of the app's owner")
		}
		if _, ok := props["name"]; !ok {
			return errors.New("apps create: missing -p name=<app name>")
		}
		props["userId"] = owner
		return nil
	},
	fromStdin: func(in map[string]any, owner string, n int) error {
		if u, ok := in["user"]; ok { // EG's stdin field name
			if _, has := in["userId"]; !has {
				in["userId"] = u
			}
			delete(in, "user")
		}
		if owner != "" {
			in["userId"] = owner
		}
		if adminclient.Format(in["userId"]) == "" {
			return fmt.Errorf("apps create --stdin: object %d has no userId: add \"userId\" to it, or give -u <user>", n)
		}
		return nil
	},
	add:       (*adminclient.Client).CreateApp,
	listPage:  (*adminclient.Client).ListApps,
	listAll:   (*adminclient.Client).AllApps,
	get:       (*adminclient.Client).GetApp,
	update:    (*adminclient.Client).UpdateApp,
	remove:    (*adminclient.Client).DeleteApp,
	setStatus: activeStatus((*adminclient.Client).SetAppActive),
	quietList: "id",
	columns: []column{
		{header: "ID", field: "id"}, {header: "NAME", field: "name"}, {header: "USER ID", field: "userId"},
		{header: "REDIRECT URI", field: "redirectUri"},
		{header: "ACTIVE", field: "isActive", yesNo: true}, {header: "CREATED", field: "createdAt"},
	},
}
