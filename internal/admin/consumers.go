package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/store"
)

// GET /users?start=&count=
func (a *server) listUsers(w http.ResponseWriter, r *http.Request) error {
	start, count, err := paging(r)
	if err != nil {
		return err
	}
	users, next, err := a.s.ListUsers(r.Context(), start, count)
	if err != nil {
		return err
	}
	out := make([]object, 0, len(users))
	for _, u := range users {
		out = append(out, userJSON(u))
	}
	return writeJSON(w, http.StatusOK, struct {
		Users   []object `json:"users"`
		NextKey uint64   `json:"nextKey"`
	}{out, next})
}

// POST /users
func (a *server) createUser(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decode(r, true)
	if err != nil {
		return err
	}
	u, err := a.m.NewUser(body)
	if err != nil {
		return err
	}
	created, err := a.s.CreateUser(r.Context(), u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userJSON(created))
}

// GET /users/{id} (id or username)
func (a *server) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.s.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userJSON(u))
}

// PUT /users/{id}
func (a *server) updateUser(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decode(r, true)
	if err != nil {
		return err
	}
	// The model's update runs inside the store's transaction: a refused
	// body writes nothing.
	u, err := a.s.UpdateUser(r.Context(), r.PathValue("id"), func(u *store.User) error { return a.m.UpdateUser(u, body) })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userJSON(u))
}

// DELETE /users/{id}
func (a *server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := a.s.DeleteUser(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}

// PUT /users/{id}/status {"status": bool}: Express Gateway's answer, and
// what the change did to the user's applications: deactivation lists the
// ones it deactivated (deactivatedApps); activation the ones it activated
// again (activatedApps: those the deactivation took down) and the ones left
// inactive because they were deactivated on their own (inactiveApps).
func (a *server) userStatus(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decode(r, true)
	if err != nil {
		return err
	}
	active, err := statusBody(body)
	if err != nil {
		return err
	}
	st, err := a.s.SetUserStatus(r.Context(), r.PathValue("id"), active)
	if err != nil {
		return err
	}
	out := object{{"status", statusText(active, st.Changed)["status"]}}
	switch {
	case st.Changed && active:
		out = append(out, field{"activatedApps", appRefs(st.Apps)}, field{"inactiveApps", appRefs(st.LeftInactive)})
	case st.Changed:
		out = append(out, field{"deactivatedApps", appRefs(st.Apps)})
	}
	return writeJSON(w, http.StatusOK, out)
}

// appRefs names applications by id and name.
func appRefs(apps []*store.App) []object {
	out := make([]object, 0, len(apps))
	for _, a := range apps {
		out = append(out, object{{"id", a.ID}, {"name", a.Name}})
	}
	return out
}

// GET /apps?start=&count=
func (a *server) listApps(w http.ResponseWriter, r *http.Request) error {
	start, count, err := paging(r)
	if err != nil {
		return err
	}
	apps, next, err := a.s.ListApps(r.Context(), start, count)
	if err != nil {
		return err
	}
	out := make([]object, 0, len(apps))
	for _, app := range apps {
		out = append(out, appJSON(app))
	}
	return writeJSON(w, http.StatusOK, struct {
		Apps    []object `json:"apps"`
		NextKey uint64   `json:"nextKey"`
	}{out, next})
}

// POST /apps {"userId": id-or-username, "name", ...}
func (a *server) createApp(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decode(r, true)
	if err != nil {
		return err
	}
	app, err := a.m.NewApp(body)
	if err != nil {
		return err
	}
	// Resolved here rather than by CreateApp, which reports any failure to
	// read the user (an outage included) as an unknown user.
	owner, err := a.s.GetUser(r.Context(), app.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return unknownUser(app.UserID)
	}
	if err != nil {
		return err
	}
	app.UserID = owner.ID
	created, err := a.s.CreateApp(r.Context(), app)
	var se *store.Error
	if errors.As(err, &se) && errors.Is(err, store.ErrInvalid) && se.Field == "userId" {
		return unknownUser(owner.ID) // deleted in between
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, appJSON(created))
}

// unknownUser: 409, Express Gateway's status for an app whose user does
// not exist (its own test asserts it), with the JSON reason.
func unknownUser(id string) error {
	return &Error{Status: http.StatusConflict, Code: "unknown_user", Field: "userId",
		Message: "The specified user does not exist: " + id}
}

// findApp finds an application by id or, as Express Gateway, by name.
// The store indexes names per user only, so a name is found by walking
// the applications; a name several users' applications share is refused.
func (a *server) findApp(ctx context.Context, idOrName string) (*store.App, error) {
	app, err := a.s.GetApp(ctx, idOrName)
	if !errors.Is(err, store.ErrNotFound) {
		return app, err
	}
	var found []*store.App
	var cursor uint64
	for {
		apps, next, lerr := a.s.ListApps(ctx, cursor, maxCount)
		if lerr != nil {
			return nil, lerr
		}
		for _, x := range apps {
			if x.Name == idOrName {
				found = append(found, x)
			}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	switch len(found) {
	case 0:
		return nil, err
	case 1:
		return found[0], nil
	}
	return nil, &Error{Status: http.StatusConflict, Code: "ambiguous",
		Message: "several applications are named " + idOrName + ": use the application's id"}
}

// GET /apps/{id} (id or name)
func (a *server) getApp(w http.ResponseWriter, r *http.Request) error {
	app, err := a.findApp(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, appJSON(app))
}

// PUT /apps/{id}
func (a *server) updateApp(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decode(r, true)
	if err != nil {
		return err
	}
	app, err := a.findApp(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	updated, err := a.s.UpdateApp(r.Context(), app.ID, func(x *store.App) error { return a.m.UpdateApp(x, body) })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, appJSON(updated))
}

// DELETE /apps/{id}
func (a *server) deleteApp(w http.ResponseWriter, r *http.Request) error {
	app, err := a.findApp(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := a.s.DeleteApp(r.Context(), app.ID); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}

// PUT /apps/{id}/status {"status": bool}
func (a *server) appStatus(w http.ResponseWriter, r *http.Request) error {
	body, err := a.decode(r, true)
	if err != nil {
		return err
	}
	active, err := statusBody(body)
	if err != nil {
		return err
	}
	app, err := a.findApp(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	changed, err := a.s.SetAppActive(r.Context(), app.ID, active)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, statusText(active, changed))
}

// findConsumer is Express Gateway's findConsumer: a user by id or
// username, or an application by id or name.
func (a *server) findConsumer(ctx context.Context, id string) (*store.Consumer, error) {
	c, err := a.s.GetConsumer(ctx, id, true)
	if !errors.Is(err, store.ErrNotFound) {
		return c, err
	}
	app, aerr := a.findApp(ctx, id)
	if aerr != nil {
		if errors.Is(aerr, store.ErrNotFound) {
			return nil, err
		}
		return nil, aerr
	}
	return &store.Consumer{Type: store.TypeApplication, App: app}, nil
}
