package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/model"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Users and applications are Express Gateway's two consumer kinds, with
// the same six routes (list, create, get, update, delete, status). One
// implementation serves both: a consumerKind says what differs, namely the
// path segment, Express Gateway's JSON shape (render.go) and the store
// calls behind each route.

// consumerKind is one kind of consumer, T its store record.
type consumerKind[T any] struct {
	// segment is the routes' first path segment (/users, /users/{id},
	// /users/{id}/status) and, as in Express Gateway, the field of the
	// list answer ({"users": [...], "nextKey": n}).
	segment string
	shape   egShape[T]
	list    func(ctx context.Context, cursor uint64, count int) ([]*T, uint64, error)
	create  func(ctx context.Context, body model.Body) (*T, error)
	get     func(ctx context.Context, id string) (*T, error)
	// update runs the model's change inside the store's transaction: a
	// refused body writes nothing.
	update func(ctx context.Context, id string, body model.Body) (*T, error)
	remove func(ctx context.Context, id string) error
	// setStatus changes the status and returns the answer.
	setStatus func(ctx context.Context, id string, active bool) (any, error)
}

// addRoutes adds the kind's routes to h.
func (k *consumerKind[T]) addRoutes(h map[string]handlerFunc) {
	p := "/" + k.segment
	h["GET "+p] = k.handleList
	h["POST "+p] = k.handleCreate
	h["GET "+p+"/{id}"] = k.handleGet
	h["PUT "+p+"/{id}"] = k.handleUpdate
	h["DELETE "+p+"/{id}"] = k.handleDelete
	h["PUT "+p+"/{id}/status"] = k.handleStatus
}

// GET /users?start=&count=, GET /apps?start=&count=
func (k *consumerKind[T]) handleList(w http.ResponseWriter, r *http.Request) error {
	start, count, err := paging(r)
	if err != nil {
		return err
	}
	items, next, err := k.list(r.Context(), start, count)
	if err != nil {
		return err
	}
	out := make([]object, 0, len(items))
	for _, x := range items {
		out = append(out, k.shape.render(x))
	}
	return writeJSON(w, http.StatusOK, object{{k.segment, out}, {"nextKey", next}})
}

// POST /users, POST /apps
func (k *consumerKind[T]) handleCreate(w http.ResponseWriter, r *http.Request) error {
	body, err := decode(r, true)
	if err != nil {
		return err
	}
	created, err := k.create(r.Context(), body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k.shape.render(created))
}

// GET /users/{id} (id or username), GET /apps/{id} (id or name)
func (k *consumerKind[T]) handleGet(w http.ResponseWriter, r *http.Request) error {
	x, err := k.get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k.shape.render(x))
}

// PUT /users/{id}, PUT /apps/{id}
func (k *consumerKind[T]) handleUpdate(w http.ResponseWriter, r *http.Request) error {
	body, err := decode(r, true)
	if err != nil {
		return err
	}
	x, err := k.update(r.Context(), r.PathValue("id"), body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k.shape.render(x))
}

// DELETE /users/{id}, DELETE /apps/{id}
func (k *consumerKind[T]) handleDelete(w http.ResponseWriter, r *http.Request) error {
	if err := k.remove(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w, http.StatusNoContent)
}

// PUT /users/{id}/status, PUT /apps/{id}/status {"status": bool}
func (k *consumerKind[T]) handleStatus(w http.ResponseWriter, r *http.Request) error {
	body, err := decode(r, true)
	if err != nil {
		return err
	}
	active, err := statusBody(body)
	if err != nil {
		return err
	}
	out, err := k.setStatus(r.Context(), r.PathValue("id"), active)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// userKind is /users over the Users role: a user is found by id or
// username.
func (a *server) userKind() *consumerKind[store.User] {
	s, m := Users(a.consumers), a.m
	return &consumerKind[store.User]{
		segment: "users",
		shape:   userShape,
		list:    s.ListUsers,
		create: func(ctx context.Context, body model.Body) (*store.User, error) {
			u, err := m.NewUser(body)
			if err != nil {
				return nil, err
			}
			return s.CreateUser(ctx, u)
		},
		get: s.GetUser,
		update: func(ctx context.Context, id string, body model.Body) (*store.User, error) {
			return s.UpdateUser(ctx, id, func(u *store.User) error { return m.UpdateUser(u, body) })
		},
		remove: s.DeleteUser,
		setStatus: func(ctx context.Context, id string, active bool) (any, error) {
			st, err := s.SetUserStatus(ctx, id, active)
			if err != nil {
				return nil, err
			}
			return userStatusJSON(active, st), nil
		},
	}
}

// userStatusJSON is Express Gateway's status answer, and what the change
// did to the user's applications: deactivation lists the ones it
// deactivated (deactivatedApps); activation the ones it activated again
// (activatedApps: those the deactivation took down) and the ones left
// inactive because they were deactivated on their own (inactiveApps).
func userStatusJSON(active bool, st *store.UserStatus) object {
	out := object{{"status", statusText(active, st.Changed)["status"]}}
	switch {
	case st.Changed && active:
		out = append(out, field{"activatedApps", appRefs(st.Apps)}, field{"inactiveApps", appRefs(st.LeftInactive)})
	case st.Changed:
		out = append(out, field{"deactivatedApps", appRefs(st.Apps)})
	}
	return out
}

// appRefs names applications by id and name.
func appRefs(apps []*store.App) []object {
	out := make([]object, 0, len(apps))
	for _, a := range apps {
		out = append(out, object{{"id", a.ID}, {"name", a.Name}})
	}
	return out
}

// appKind is /apps over the Apps role: an application is found by id or,
// as Express Gateway, by name (findApp); its owner, given as
// {"userId": id-or-username}, must exist.
func (a *server) appKind() *consumerKind[store.App] {
	s, m := Apps(a.consumers), a.m
	return &consumerKind[store.App]{
		segment: "apps",
		shape:   appShape,
		list:    s.ListApps,
		create: func(ctx context.Context, body model.Body) (*store.App, error) {
			app, err := m.NewApp(body)
			if err != nil {
				return nil, err
			}
			return createApp(ctx, a.consumers, app)
		},
		get: func(ctx context.Context, id string) (*store.App, error) { return findApp(ctx, s, id) },
		update: func(ctx context.Context, id string, body model.Body) (*store.App, error) {
			app, err := findApp(ctx, s, id)
			if err != nil {
				return nil, err
			}
			return s.UpdateApp(ctx, app.ID, func(x *store.App) error { return m.UpdateApp(x, body) })
		},
		remove: func(ctx context.Context, id string) error {
			app, err := findApp(ctx, s, id)
			if err != nil {
				return err
			}
			return s.DeleteApp(ctx, app.ID)
		},
		setStatus: func(ctx context.Context, id string, active bool) (any, error) {
			app, err := findApp(ctx, s, id)
			if err != nil {
				return nil, err
			}
			changed, err := s.SetAppActive(ctx, app.ID, active)
			if err != nil {
				return nil, err
			}
			return statusText(active, changed), nil
		},
	}
}

// createApp stores app for its owner, app.UserID, a user id or username.
// The owner is resolved here rather than by CreateApp, which reports any
// failure to read the user (an outage included) as an unknown user.
func createApp(ctx context.Context, s Consumers, app store.App) (*store.App, error) {
	owner, err := s.GetUser(ctx, app.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, unknownUser(app.UserID)
	}
	if err != nil {
		return nil, err
	}
	app.UserID = owner.ID
	created, err := s.CreateApp(ctx, app)
	var se *store.Error
	if errors.As(err, &se) && errors.Is(err, store.ErrInvalid) && se.Field == "userId" {
		return nil, unknownUser(owner.ID) // deleted in between
	}
	return created, err
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
func findApp(ctx context.Context, s Apps, idOrName string) (*store.App, error) {
	app, err := s.GetApp(ctx, idOrName)
	if !errors.Is(err, store.ErrNotFound) {
		return app, err
	}
	var found []*store.App
	var cursor uint64
	for {
		apps, next, lerr := s.ListApps(ctx, cursor, maxCount)
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

// findConsumer is Express Gateway's findConsumer: a user by id or
// username, or an application by id or name.
func findConsumer(ctx context.Context, s Consumers, id string) (*store.Consumer, error) {
	c, err := s.GetConsumer(ctx, id, true)
	if !errors.Is(err, store.ErrNotFound) {
		return c, err
	}
	app, aerr := findApp(ctx, s, id)
	if aerr != nil {
		if errors.Is(aerr, store.ErrNotFound) {
			return nil, err
		}
		return nil, aerr
	}
	return &store.Consumer{Type: store.TypeApplication, App: app}, nil
}
