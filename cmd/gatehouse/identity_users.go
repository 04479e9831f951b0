package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/internal/adminclient"
)

// userKind is the users group: a user is named by id or username.
var userKind = consumerKind{
	one: "user", many: "users", aliases: []string{"user"}, idArg: "user id or username",
	short: "Manage users (create, list, info, update, activate, deactivate, remove)",
	create: createHelp{
		use:   "create -p key=value ... | --stdin",
		short: "Create users: -p username=... -p firstname=... -p lastname=..., or NDJSON on stdin",
		example: `  gatehouse users create -p username=jdoe -p firstname=John -p lastname=Doe -p email=jdoe@example.com
  printf '{"username":"a","firstname":"A","lastname":"Z"}\n' | gatehouse users create --stdin`,
		property: "a user property, key=value, or key:=JSON for a number, boolean or list (repeatable)",
		stdin:    "read users as newline-delimited JSON from standard input (-p values are added to each)",
	},
	fromFlags: func(props map[string]any, _ string) error {
		if len(props) == 0 {
			return errors.New("users create: give the user's properties with -p key=value (username, firstname and lastname are required), or --stdin")
		}
		return nil
	},
	add:       (*adminclient.Client).CreateUser,
	listPage:  (*adminclient.Client).ListUsers,
	listAll:   (*adminclient.Client).AllUsers,
	get:       (*adminclient.Client).GetUser,
	update:    (*adminclient.Client).UpdateUser,
	remove:    (*adminclient.Client).DeleteUser,
	setStatus: userStatus,
	// Express Gateway's `users list -q` prints usernames.
	quietList: "username",
	columns: []column{
		{header: "ID", field: "id"}, {header: "USERNAME", field: "username"}, {header: "FIRSTNAME", field: "firstname"},
		{header: "LASTNAME", field: "lastname"}, {header: "EMAIL", field: "email"},
		{header: "ACTIVE", field: "isActive", yesNo: true}, {header: "CREATED", field: "createdAt"},
	},
}

// userStatus is a user's status change, which says what it did to the
// user's apps.
func userStatus(c *adminclient.Client, ctx context.Context, id string, active bool) (any, string, error) {
	st, err := c.SetUserStatus(ctx, id, active)
	res := map[string]any{"id": id, "status": st.Status}
	switch st.Status {
	case "Deactivated":
		res["deactivatedApps"] = refs(st.DeactivatedApps)
	case "Activated":
		res["activatedApps"], res["inactiveApps"] = refs(st.ActivatedApps), refs(st.InactiveApps)
	}
	return res, userStatusLine(st, id), err
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
