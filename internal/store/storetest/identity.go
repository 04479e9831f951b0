package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// testScopeDescriptions: a scope's description is stored with it, read
// back, changed and listed; a scope created without one (as every scope
// was before, and as Express Gateway stores them) reads as no description;
// a refused creation names every scope that exists.
func testScopeDescriptions(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	must(t, s.RegisterScopes(ctx, store.Scope{Name: "profile:read", Description: "  See your profile  "}, store.Scope{Name: "plain"}))
	sc, err := s.GetScope(ctx, "profile:read")
	must(t, err)
	if sc.Name != "profile:read" || sc.Description != "See your profile" {
		t.Errorf("GetScope = %+v, want the trimmed description", sc)
	}
	if sc, err := s.GetScope(ctx, "plain"); err != nil || sc.Description != "" {
		t.Errorf("GetScope(plain) = %+v, %v", sc, err)
	}
	_, err = s.GetScope(ctx, "ghost")
	wantKind(t, err, store.ErrNotFound, "GetScope of an unknown scope")

	// Every existing scope is named, none of the new ones is created.
	err = s.RegisterScopes(ctx, store.Scope{Name: "new"}, store.Scope{Name: "plain"}, store.Scope{Name: "profile:read"})
	wantKind(t, err, store.ErrExists, "existing scopes")
	if err == nil || !strings.Contains(err.Error(), "plain, profile:read") {
		t.Errorf("the error does not name the existing scopes: %v", err)
	}
	if ok, _ := s.ScopeExists(ctx, "new"); ok {
		t.Error("a refused RegisterScopes created a scope")
	}

	up, err := s.SetScopeDescription(ctx, "plain", "Plain access")
	must(t, err)
	if up.Description != "Plain access" {
		t.Errorf("SetScopeDescription = %+v", up)
	}
	_, err = s.SetScopeDescription(ctx, "ghost", "x")
	wantKind(t, err, store.ErrNotFound, "describe an unknown scope")
	_, err = s.SetScopeDescription(ctx, "plain", "two\nlines")
	wantKind(t, err, store.ErrInvalid, "a description with a newline")
	_, err = s.SetScopeDescription(ctx, "plain", strings.Repeat("x", store.MaxScopeDescription+1))
	wantKind(t, err, store.ErrInvalid, "a description too long")

	list, err := s.ListScopeDetails(ctx)
	must(t, err)
	want := []store.Scope{{Name: "plain", Description: "Plain access"}, {Name: "profile:read", Description: "See your profile"}}
	if !slices.Equal(list, want) {
		t.Errorf("ListScopeDetails = %+v, want %+v", list, want)
	}
	// The consent page's lookup keeps the order asked and tolerates a
	// scope deleted since.
	got, err := s.ScopeDetails(ctx, []string{"profile:read", "gone", "plain"})
	must(t, err)
	if len(got) != 3 || got[0].Description != "See your profile" || got[1] != (store.Scope{Name: "gone"}) || got[2].Description != "Plain access" {
		t.Errorf("ScopeDetails = %+v", got)
	}
	// Clearing a description, then deleting and re-creating the scope.
	if sc, err := s.SetScopeDescription(ctx, "plain", ""); err != nil || sc.Description != "" {
		t.Errorf("clear description: %+v %v", sc, err)
	}
	if sc, _ := s.GetScope(ctx, "plain"); sc == nil || sc.Description != "" {
		t.Errorf("cleared description reads %+v", sc)
	}
	must(t, s.DeleteScope(ctx, "profile:read"))
	must(t, s.CreateScopes(ctx, "profile:read"))
	if sc, _ := s.GetScope(ctx, "profile:read"); sc == nil || sc.Description != "" {
		t.Errorf("a re-created scope kept the old description: %+v", sc)
	}
}

// testUserStatusApps: deactivating a user deactivates its active apps;
// activating it activates exactly those again, not an app deactivated on
// its own before or during the user's deactivation.
func testUserStatusApps(t *testing.T, nb NewBackend) {
	s, _ := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "olga")
	web, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "web"})
	must(t, err)
	cli, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "cli"})
	must(t, err)
	off, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "off"})
	must(t, err)
	pinned, err := s.CreateApp(ctx, store.App{UserID: u.ID, Name: "pinned"})
	must(t, err)
	if _, err := s.SetAppActive(ctx, off.ID, false); err != nil { // an admin's own choice
		t.Fatal(err)
	}

	st, err := s.SetUserStatus(ctx, "olga", false)
	must(t, err)
	if !st.Changed || !slices.Equal(appIDs(st.Apps), sorted(web.ID, cli.ID, pinned.ID)) || len(st.LeftInactive) != 0 {
		t.Errorf("deactivation = changed %v, apps %v, left %v; want the three active apps", st.Changed, appIDs(st.Apps), appIDs(st.LeftInactive))
	}
	for _, a := range st.Apps {
		if a.IsActive {
			t.Errorf("reported app %s is active", a.Name)
		}
	}
	// While the user is inactive an admin deactivates an app explicitly
	// (already inactive: the status is now its own).
	if _, err := s.SetAppActive(ctx, pinned.ID, false); err != nil {
		t.Fatal(err)
	}
	// Updating an app keeps the mark.
	if _, err := s.UpdateApp(ctx, cli.ID, func(a *store.App) error { a.DeactivatedWithUser = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if st, err := s.SetUserStatus(ctx, u.ID, false); err != nil || st.Changed || len(st.Apps) != 0 {
		t.Errorf("second deactivation = %+v, %v; want no change", st, err)
	}

	st, err = s.SetUserStatus(ctx, u.ID, true)
	must(t, err)
	if !st.Changed || !slices.Equal(appIDs(st.Apps), sorted(web.ID, cli.ID)) || !slices.Equal(appIDs(st.LeftInactive), sorted(off.ID, pinned.ID)) {
		t.Errorf("activation = changed %v, apps %v, left %v; want web and cli back, off and pinned left", st.Changed, appIDs(st.Apps), appIDs(st.LeftInactive))
	}
	for id, want := range map[string]bool{web.ID: true, cli.ID: true, off.ID: false, pinned.ID: false} {
		a, err := s.GetApp(ctx, id)
		must(t, err)
		if a.IsActive != want || a.DeactivatedWithUser {
			t.Errorf("app %s: active %v (want %v), deactivatedWithUser %v", a.Name, a.IsActive, want, a.DeactivatedWithUser)
		}
	}
	if st, err := s.SetUserStatus(ctx, u.ID, true); err != nil || st.Changed || len(st.Apps) != 0 {
		t.Errorf("second activation = %+v, %v; want no change", st, err)
	}
	_, err = s.SetUserStatus(ctx, "nobody", false)
	wantKind(t, err, store.ErrNotFound, "status of an unknown user")
}

// testUserTokens: the tokens issued to applications on a user's behalf are
// listed for that user, without revoked or expired ones, nor those of
// other users or of the client alone.
func testUserTokens(t *testing.T, nb NewBackend) {
	s, clk := open(t, nb)
	ctx := context.Background()
	u := newUser(t, s, "pat")
	other := newUser(t, s, "quinn")
	app, err := s.CreateApp(ctx, store.App{UserID: other.ID, Name: "client"})
	must(t, err)
	save := func(user string, ttl time.Duration) *store.Token {
		var tok store.Token
		store.NewToken(&tok)
		tok.Kind, tok.ConsumerID, tok.AuthenticatedUserID = store.AccessToken, app.ID, user
		tok.CreatedAt, tok.ExpiresAt = clk.now(), clk.now().Add(ttl)
		must(t, s.SaveToken(ctx, &tok))
		return &tok
	}
	live := save(u.ID, time.Hour)
	short := save(u.ID, time.Minute)
	revoked := save(u.ID, time.Hour)
	save(other.ID, time.Hour)
	save("", time.Hour) // client credentials: nobody's
	if _, err := s.RevokeToken(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	list, err := s.UserTokens(ctx, u.ID)
	must(t, err)
	if ids := tokenIDs(list); !slices.Equal(ids, sorted(live.ID, short.ID)) {
		t.Errorf("UserTokens = %v, want %v", ids, sorted(live.ID, short.ID))
	}
	clk.advance(2 * time.Minute)
	list, err = s.UserTokens(ctx, u.ID)
	must(t, err)
	if ids := tokenIDs(list); !slices.Equal(ids, []string{live.ID}) {
		t.Errorf("UserTokens after expiry = %v, want only %s", ids, live.ID)
	}
	must(t, s.DeleteUser(ctx, u.ID))
	if list, err := s.UserTokens(ctx, u.ID); err != nil || len(list) != 0 {
		t.Errorf("UserTokens of a deleted user = %d, %v", len(list), err)
	}
}

func appIDs(apps []*store.App) []string {
	out := make([]string, 0, len(apps))
	for _, a := range apps {
		out = append(out, a.ID)
	}
	slices.Sort(out)
	return out
}

func tokenIDs(list []*store.Token) []string {
	out := make([]string, 0, len(list))
	for _, tk := range list {
		out = append(out, tk.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}
