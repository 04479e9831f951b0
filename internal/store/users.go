package store

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
)

// Keys. The backend adds its namespace; these are the logical names.
func userKey(id string) string           { return "user:" + id }
func usernameKey(name string) string     { return "username:" + name }
func appKey(id string) string            { return "app:" + id }
func appNameKey(uid, name string) string { return "appname:" + uid + ":" + name }
func userAppsSet(uid string) string      { return "user-apps:" + uid }

const (
	usersSet = "users"
	appsSet  = "apps"
)

// CreateUser stores a new, active user with a fresh id. The username must
// be unique.
func (s *Store) CreateUser(ctx context.Context, u User) (*User, error) {
	u.Username = strings.TrimSpace(u.Username)
	if u.Username == "" {
		return nil, invalid("username", "username is required")
	}
	if strings.ContainsAny(u.Username, ":\x00") {
		return nil, invalid("username", "username must not contain ':'")
	}
	if len(u.Username) > 200 {
		return nil, invalid("username", "username must be at most 200 characters")
	}
	if err := checkConsumerRedirectURI(u.RedirectURI, ""); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	u.ID, u.IsActive, u.CreatedAt, u.UpdatedAt = newID(), true, now, now
	err := s.update(ctx, func(tx *txn) error {
		if _, taken, err := tx.Get(usernameKey(u.Username)); err != nil {
			return err
		} else if taken {
			return exists("username", "username already exists")
		}
		if err := tx.putJSON(userKey(u.ID), &u, 0); err != nil {
			return err
		}
		if err := tx.putJSON(usernameKey(u.Username), u.ID, 0); err != nil {
			return err
		}
		return tx.SAdd(usersSet, u.ID)
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// checkConsumerRedirectURI checks a user's or application's redirectUri
// when it is set or changed; an unchanged one (a record stored before the
// rules, or imported) is kept as it is, so such records stay editable.
func checkConsumerRedirectURI(next, cur string) error {
	if next == "" || next == cur {
		return nil
	}
	return CheckRedirectURI("redirectUri", next)
}

// GetUser finds a user by id or username.
func (s *Store) GetUser(ctx context.Context, idOrName string) (*User, error) {
	if u, err := cached[User](ctx, s, userKey(idOrName)); err != nil || u != nil {
		return u, err
	}
	id, err := cached[string](ctx, s, usernameKey(idOrName))
	if err != nil {
		return nil, err
	}
	if id != nil {
		if u, err := cached[User](ctx, s, userKey(*id)); err != nil || u != nil {
			return u, err
		}
	}
	return nil, notFound("User not found: %s", idOrName)
}

// UpdateUser applies change to the user atomically. The id, username,
// activity and dates are kept whatever change does.
func (s *Store) UpdateUser(ctx context.Context, idOrName string, change func(*User) error) (*User, error) {
	u, err := s.GetUser(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	var out User
	err = s.update(ctx, func(tx *txn) error {
		var cur User
		if ok, err := tx.getJSON(userKey(u.ID), &cur); err != nil {
			return err
		} else if !ok {
			return notFound("User not found: %s", idOrName)
		}
		next := cur
		if err := change(&next); err != nil {
			return err
		}
		if err := checkConsumerRedirectURI(next.RedirectURI, cur.RedirectURI); err != nil {
			return err
		}
		next.ID, next.Username, next.IsActive, next.CreatedAt = cur.ID, cur.Username, cur.IsActive, cur.CreatedAt
		next.UpdatedAt = s.now().UTC()
		out = next
		return tx.putJSON(userKey(cur.ID), &next, 0)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SetUserActive activates or deactivates a user (SetUserStatus) and
// reports whether the user's status changed.
func (s *Store) SetUserActive(ctx context.Context, idOrName string, active bool) (bool, error) {
	st, err := s.SetUserStatus(ctx, idOrName, active)
	if err != nil {
		return false, err
	}
	return st.Changed, nil
}

// SetUserStatus activates or deactivates a user, with its applications:
// deactivation deactivates the user's active applications (as Express
// Gateway) and marks them DeactivatedWithUser; activation activates again
// exactly the applications so marked, and leaves inactive those that were
// deactivated on their own (Express Gateway activated none, so a user
// deactivated and activated again had no working client). The Admin API
// and the CLI report what it did.
func (s *Store) SetUserStatus(ctx context.Context, idOrName string, active bool) (*UserStatus, error) {
	u, err := s.GetUser(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	var out UserStatus
	err = s.update(ctx, func(tx *txn) error {
		out = UserStatus{} // Update may run fn again
		var cur User
		if ok, err := tx.getJSON(userKey(u.ID), &cur); err != nil || !ok {
			if err == nil {
				err = notFound("User not found: %s", idOrName)
			}
			return err
		}
		if out.Changed = cur.IsActive != active; !out.Changed {
			return nil
		}
		cur.IsActive, cur.UpdatedAt = active, s.now().UTC()
		if err := tx.putJSON(userKey(cur.ID), &cur, 0); err != nil {
			return err
		}
		ids, err := tx.SMembers(userAppsSet(cur.ID))
		if err != nil {
			return err
		}
		for _, id := range ids {
			var a App
			if ok, err := tx.getJSON(appKey(id), &a); err != nil {
				return err
			} else if !ok {
				continue
			}
			switch {
			case !active && a.IsActive:
				a.IsActive, a.DeactivatedWithUser = false, true
			case active && a.DeactivatedWithUser:
				a.IsActive, a.DeactivatedWithUser = true, false
			case active && !a.IsActive:
				out.LeftInactive = append(out.LeftInactive, &a)
				continue
			default:
				continue
			}
			a.UpdatedAt = cur.UpdatedAt
			if err := tx.putJSON(appKey(id), &a, 0); err != nil {
				return err
			}
			out.Apps = append(out.Apps, &a)
		}
		byName := func(a, b *App) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) }
		slices.SortFunc(out.Apps, byName)
		slices.SortFunc(out.LeftInactive, byName)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteUser removes a user with its applications, and every credential
// and token of the user and of those applications.
func (s *Store) DeleteUser(ctx context.Context, idOrName string) error {
	u, err := s.GetUser(ctx, idOrName)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *txn) error {
		var cur User
		if ok, err := tx.getJSON(userKey(u.ID), &cur); err != nil || !ok {
			if err == nil {
				err = notFound("User not found: %s", idOrName)
			}
			return err
		}
		apps, err := tx.SMembers(userAppsSet(cur.ID))
		if err != nil {
			return err
		}
		for _, id := range apps {
			if err := deleteAppTx(tx, id); err != nil {
				return err
			}
		}
		if err := deleteConsumerData(tx, cur.ID); err != nil {
			return err
		}
		if ids, err := tx.SMembers(userTokensSet(cur.ID)); err != nil {
			return err
		} else if len(ids) > 0 {
			if err := tx.SRem(userTokensSet(cur.ID), ids...); err != nil {
				return err
			}
		}
		for _, k := range []string{userKey(cur.ID), usernameKey(cur.Username)} {
			if err := tx.Del(k); err != nil {
				return err
			}
		}
		return tx.SRem(usersSet, cur.ID)
	})
}

// ListUsers pages through users (Express Gateway's start/count, nextKey 0
// at the end).
func (s *Store) ListUsers(ctx context.Context, cursor uint64, count int) ([]*User, uint64, error) {
	return page[User](ctx, s, usersSet, cursor, count, userKey)
}

// page reads one page of a set's members and the records they name
// (members whose record is gone are skipped).
func page[T any](ctx context.Context, s *Store, set string, cursor uint64, count int, key func(string) string) ([]*T, uint64, error) {
	ids, next, err := s.b.Scan(ctx, set, cursor, count)
	if err != nil {
		return nil, 0, err
	}
	out, err := load[T](ctx, s, ids, key)
	return out, next, err
}

// load reads the records of ids through the cache, skipping missing ones.
func load[T any](ctx context.Context, s *Store, ids []string, key func(string) string) ([]*T, error) {
	out := make([]*T, 0, len(ids))
	for _, id := range ids {
		v, err := cached[T](ctx, s, key(id))
		if err != nil {
			return nil, err
		}
		if v != nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// CreateApp stores a new, active application for a user (by id or
// username). Names are unique per user.
func (s *Store) CreateApp(ctx context.Context, a App) (*App, error) {
	a.Name = strings.TrimSpace(a.Name)
	if a.Name == "" {
		return nil, invalid("name", "name is required")
	}
	if len(a.Name) > 200 {
		return nil, invalid("name", "name must be at most 200 characters")
	}
	if a.UserID == "" {
		return nil, invalid("userId", "userId is required")
	}
	if err := checkConsumerRedirectURI(a.RedirectURI, ""); err != nil {
		return nil, err
	}
	owner, err := s.GetUser(ctx, a.UserID)
	if errors.Is(err, ErrNotFound) {
		return nil, &Error{Kind: ErrInvalid, Field: "userId", Msg: "The specified user does not exist: " + a.UserID}
	} else if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	a.ID, a.UserID, a.IsActive, a.CreatedAt, a.UpdatedAt = newID(), owner.ID, true, now, now
	err = s.update(ctx, func(tx *txn) error {
		if _, ok, err := tx.Get(userKey(owner.ID)); err != nil {
			return err
		} else if !ok {
			return &Error{Kind: ErrInvalid, Field: "userId", Msg: "The specified user does not exist: " + owner.ID}
		}
		if _, taken, err := tx.Get(appNameKey(owner.ID, a.Name)); err != nil {
			return err
		} else if taken {
			return exists("name", "the user already has an application named %q", a.Name)
		}
		if err := tx.putJSON(appKey(a.ID), &a, 0); err != nil {
			return err
		}
		if err := tx.Set(appNameKey(owner.ID, a.Name), []byte(a.ID), 0); err != nil {
			return err
		}
		if err := tx.SAdd(userAppsSet(owner.ID), a.ID); err != nil {
			return err
		}
		return tx.SAdd(appsSet, a.ID)
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// GetApp finds an application by id (or by name when exactly one
// application has it).
func (s *Store) GetApp(ctx context.Context, idOrName string) (*App, error) {
	if a, err := cached[App](ctx, s, appKey(idOrName)); err != nil || a != nil {
		return a, err
	}
	return nil, notFound("Application not found: %s", idOrName)
}

// UpdateApp applies change atomically; id, owner, activity and dates are
// kept. A rename keeps names unique per user.
func (s *Store) UpdateApp(ctx context.Context, id string, change func(*App) error) (*App, error) {
	var out App
	err := s.update(ctx, func(tx *txn) error {
		var cur App
		if ok, err := tx.getJSON(appKey(id), &cur); err != nil {
			return err
		} else if !ok {
			return notFound("Application not found: %s", id)
		}
		next := cur
		if err := change(&next); err != nil {
			return err
		}
		next.Name = strings.TrimSpace(next.Name)
		if next.Name == "" {
			return invalid("name", "name must not be empty")
		}
		if err := checkConsumerRedirectURI(next.RedirectURI, cur.RedirectURI); err != nil {
			return err
		}
		next.ID, next.UserID, next.IsActive, next.CreatedAt = cur.ID, cur.UserID, cur.IsActive, cur.CreatedAt
		next.DeactivatedWithUser = cur.DeactivatedWithUser
		next.UpdatedAt = s.now().UTC()
		if next.Name != cur.Name {
			if _, taken, err := tx.Get(appNameKey(cur.UserID, next.Name)); err != nil {
				return err
			} else if taken {
				return exists("name", "the user already has an application named %q", next.Name)
			}
			if err := tx.Del(appNameKey(cur.UserID, cur.Name)); err != nil {
				return err
			}
			if err := tx.Set(appNameKey(cur.UserID, next.Name), []byte(cur.ID), 0); err != nil {
				return err
			}
		}
		out = next
		return tx.putJSON(appKey(cur.ID), &next, 0)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SetAppActive activates or deactivates an application. The status is
// then the application's own: activating its owner later does not change
// it (SetUserStatus), even when it was already inactive.
func (s *Store) SetAppActive(ctx context.Context, id string, active bool) (bool, error) {
	changed := false
	err := s.update(ctx, func(tx *txn) error {
		var cur App
		if ok, err := tx.getJSON(appKey(id), &cur); err != nil {
			return err
		} else if !ok {
			return notFound("Application not found: %s", id)
		}
		changed = cur.IsActive != active
		if !changed && !cur.DeactivatedWithUser {
			return nil
		}
		cur.IsActive, cur.DeactivatedWithUser, cur.UpdatedAt = active, false, s.now().UTC()
		return tx.putJSON(appKey(id), &cur, 0)
	})
	return changed, err
}

// DeleteApp removes an application with its credentials and tokens.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *txn) error {
		if _, ok, err := tx.Get(appKey(id)); err != nil {
			return err
		} else if !ok {
			return notFound("Application not found: %s", id)
		}
		return deleteAppTx(tx, id)
	})
}

func deleteAppTx(tx *txn, id string) error {
	var a App
	ok, err := tx.getJSON(appKey(id), &a)
	if err != nil || !ok {
		return err
	}
	if err := deleteConsumerData(tx, id); err != nil {
		return err
	}
	for _, k := range []string{appKey(id), appNameKey(a.UserID, a.Name)} {
		if err := tx.Del(k); err != nil {
			return err
		}
	}
	if err := tx.SRem(userAppsSet(a.UserID), id); err != nil {
		return err
	}
	return tx.SRem(appsSet, id)
}

// ListApps pages through applications.
func (s *Store) ListApps(ctx context.Context, cursor uint64, count int) ([]*App, uint64, error) {
	return page[App](ctx, s, appsSet, cursor, count, appKey)
}

// UserApps lists a user's applications.
func (s *Store) UserApps(ctx context.Context, userID string) ([]*App, error) {
	ids, err := s.b.Members(ctx, userAppsSet(userID))
	if err != nil {
		return nil, err
	}
	return load[App](ctx, s, ids, appKey)
}

// GetConsumer finds the consumer with this id: an application first, then a
// user (Express Gateway's validateConsumer). withUsername also accepts a
// username. Inactive consumers are returned; callers check Active.
func (s *Store) GetConsumer(ctx context.Context, id string, withUsername bool) (*Consumer, error) {
	a, err := cached[App](ctx, s, appKey(id))
	if err != nil {
		return nil, err
	}
	if a != nil {
		return &Consumer{Type: TypeApplication, App: a}, nil
	}
	u, err := cached[User](ctx, s, userKey(id))
	if err != nil {
		return nil, err
	}
	if u == nil && withUsername {
		uid, err := cached[string](ctx, s, usernameKey(id))
		if err != nil {
			return nil, err
		}
		if uid != nil {
			if u, err = cached[User](ctx, s, userKey(*uid)); err != nil {
				return nil, err
			}
		}
	}
	if u != nil {
		return &Consumer{Type: TypeUser, User: u}, nil
	}
	return nil, notFound("No consumer found with id: %s", id)
}
