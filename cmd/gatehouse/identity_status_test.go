package main

import (
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

func newCLI(t *testing.T) *cli {
	t.Helper()
	t.Setenv("EG_ADMIN_URL", "")
	t.Setenv("GATEHOUSE_ADMIN_KEY", "")
	st := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(admin.New(st, nil, admin.Options{APIKey: testAdminKey}))
	t.Cleanup(srv.Close)
	return &cli{t: t, url: srv.URL, key: testAdminKey, dir: t.TempDir()}
}

// TestUsersStatusCLI: users deactivate and activate say what they did to
// the user's apps, and activate brings back the apps deactivate took down,
// not one deactivated on its own.
func TestUsersStatusCLI(t *testing.T) {
	c := newCLI(t)
	c.ok("users", "create", "-p", "username=jdoe", "-p", "firstname=J", "-p", "lastname=D")
	web := c.ok("apps", "create", "-u", "jdoe", "-p", "name=web", "-q")
	c.ok("apps", "create", "-u", "jdoe", "-p", "name=cli", "-q")
	off := c.ok("apps", "create", "-u", "jdoe", "-p", "name=off", "-q")
	c.ok("apps", "deactivate", off[:len(off)-1])

	if out := c.ok("users", "deactivate", "jdoe"); out != "Deactivated jdoe and its 2 applications cli, web\n" {
		t.Errorf("users deactivate: %q", out)
	}
	if out := c.ok("users", "activate", "jdoe"); out != "Activated jdoe and its 2 applications cli, web, deactivated with it; application off, deactivated on its own, stays inactive (gatehouse apps activate)\n" {
		t.Errorf("users activate: %q", out)
	}
	if got := decodeJSON[map[string]any](t, c.ok("apps", "info", web[:len(web)-1], "--json")); got["isActive"] != true {
		t.Errorf("web after users activate: %v", got)
	}
	if got := decodeJSON[map[string]any](t, c.ok("apps", "info", off[:len(off)-1], "--json")); got["isActive"] != false {
		t.Errorf("off after users activate: %v", got)
	}
	if out := c.ok("users", "activate", "jdoe"); out != "Active jdoe (unchanged)\n" {
		t.Errorf("users activate again: %q", out)
	}
	c.ok("apps", "deactivate", "web", "cli")
	c.ok("users", "deactivate", "jdoe")
	if out := c.ok("users", "activate", "jdoe"); out != "Activated jdoe (no application was deactivated with it); 3 applications cli, off, web, deactivated on their own, stay inactive (gatehouse apps activate)\n" {
		t.Errorf("users activate with only apps deactivated on their own: %q", out)
	}
	st := decodeJSON[[]map[string]any](t, c.ok("users", "deactivate", "jdoe", "--json"))
	if len(st) != 1 || st[0]["status"] != "Deactivated" || st[0]["deactivatedApps"] == nil {
		t.Errorf("users deactivate --json: %v", st)
	}
}

// TestScopesCLI: scopes create --description, update, info and list show
// descriptions; a create of existing scopes names them.
func TestScopesCLI(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("scopes", "create", "read", "write"); out != "Created read,write\n" {
		t.Fatalf("scopes create: %q", out)
	}
	c.fails("One or more scopes already exist: read, write (none of the scopes was created)", "scopes", "create", "admin", "write", "read")
	c.fails("scope not found: admin", "scopes", "info", "admin")
	if out := c.ok("scopes", "create", "profile", "--description", "See your profile"); out != "Created profile\n" {
		t.Fatalf("scopes create --description: %q", out)
	}
	c.fails("--description describes one scope", "scopes", "create", "a", "b", "-d", "x")
	if out := c.ok("scopes", "info", "profile"); out != "profile: See your profile\n" {
		t.Errorf("scopes info: %q", out)
	}
	if out := c.ok("scopes", "update", "read", "--description", "Read your data"); out != "Updated read\n" {
		t.Errorf("scopes update: %q", out)
	}
	c.fails("scope not found: nope", "scopes", "update", "nope", "-d", "x")
	c.fails("scope not found: nope", "scopes", "info", "nope")
	c.fails("missing --description", "scopes", "update", "read")
	want := "SCOPE    DESCRIPTION\nprofile  See your profile\nread     Read your data\nwrite    -\n"
	if out := c.ok("scopes", "list"); out != want {
		t.Errorf("scopes list:\n%s\nwant:\n%s", out, want)
	}
	if out := c.ok("scopes", "list", "-q"); out != "profile\nread\nwrite\n" {
		t.Errorf("scopes list -q: %q", out)
	}
	got := decodeJSON[[]map[string]string](t, c.ok("scopes", "list", "--json"))
	if len(got) != 3 || got[1]["scope"] != "read" || got[1]["description"] != "Read your data" {
		t.Errorf("scopes list --json: %v", got)
	}
}
