package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/memstore"
)

// TestConsentsCLI: consents list (all, by user, by client; table, -q,
// --json) and consents revoke, which revokes the client's refresh tokens
// for the user; missing flags and unknown names fail with one line.
func TestConsentsCLI(t *testing.T) {
	t.Setenv("EG_ADMIN_URL", "")
	t.Setenv("GATEHOUSE_ADMIN_KEY", "")
	st := store.New(memstore.New(nil), store.Options{BcryptCost: 4})
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(admin.New(st, nil, admin.Options{APIKey: testAdminKey}))
	t.Cleanup(srv.Close)
	c := &cli{t: t, url: srv.URL, key: testAdminKey, dir: t.TempDir()}
	ctx := context.Background()

	jdoe := strings.TrimSpace(c.ok("users", "create", "-p", "username=jdoe", "-p", "firstname=J", "-p", "lastname=D", "-q"))
	ann := strings.TrimSpace(c.ok("users", "create", "-p", "username=ann", "-p", "firstname=A", "-p", "lastname=N", "-q"))
	web := strings.TrimSpace(c.ok("apps", "create", "-u", "jdoe", "-p", "name=web", "-q"))
	if out := c.ok("consents", "list"); out != "No consents\n" {
		t.Fatalf("consents list (none): %q", out)
	}
	for _, u := range []string{jdoe, ann} {
		if err := st.GrantConsent(ctx, u, web, []string{"openid", "profile"}); err != nil {
			t.Fatal(err)
		}
	}
	tok := store.Token{Kind: store.RefreshToken, ConsumerID: web, AuthenticatedUserID: jdoe, ExpiresAt: time.Now().Add(time.Hour)}
	store.NewToken(&tok)
	if err := st.SaveToken(ctx, &tok); err != nil {
		t.Fatal(err)
	}

	table := c.ok("consents", "list")
	if row := tableRow(t, table, jdoe); row[1] != web || row[2] != "openid,profile" {
		t.Fatalf("consents list row: %q\n%s", row, table)
	}
	if got := lines(c.ok("consents", "list", "--user", "jdoe", "-q")); len(got) != 1 || got[0] != jdoe+" "+web {
		t.Fatalf("consents list --user -q: %q", got)
	}
	if got := decodeJSON[[]map[string]any](t, c.ok("consents", "list", "--client", web, "--json")); len(got) != 2 || got[0]["clientId"] != web {
		t.Fatalf("consents list --client --json: %v", got)
	}
	c.fails("User not found", "consents", "list", "--user", "nobody")

	c.fails("--user and --client are both required", "consents", "revoke", "--user", "jdoe")
	if out := c.ok("consents", "revoke", "--user", "jdoe", "--client", web); out != "Revoked the consent of jdoe to "+web+" (1 refresh tokens revoked)\n" {
		t.Fatalf("consents revoke: %q", out)
	}
	if got, err := st.GetToken(ctx, tok.ID); err != nil || !got.Revoked {
		t.Fatalf("the refresh token survived the consent: %+v %v", got, err)
	}
	c.fails("No consent", "consents", "revoke", "--user", "jdoe", "--client", web)
	if got := lines(c.ok("consents", "list", "-q")); len(got) != 1 || got[0] != ann+" "+web {
		t.Fatalf("after revoke: %q", got)
	}
}

// TestClientRegistrationCLI: credentials create takes the OpenID Connect
// registration fields as -p properties, set-client replaces them, and a
// bad value fails with the Admin API's one-line reason.
func TestClientRegistrationCLI(t *testing.T) {
	c := newCLI(t)
	c.ok("users", "create", "-p", "username=jdoe", "-p", "firstname=J", "-p", "lastname=D")
	web := strings.TrimSpace(c.ok("apps", "create", "-u", "jdoe", "-p", "name=web", "-q"))
	c.fails(`must use https://`, "credentials", "create", "-c", web, "-t", "oauth2", "-p", "post_logout_redirect_uris=http://web.example/bye")
	c.fails(`id_token_signed_response_alg "none" is not supported`, "credentials", "create", "-c", web, "-t", "oauth2", "-p", "id_token_signed_response_alg=none")
	out := c.ok("credentials", "create", "-c", web, "-t", "oauth2", "-p", `post_logout_redirect_uris=["https://web.example/bye"]`,
		"-p", "subject_type=pairwise", "-p", `grant_types=["authorization_code","refresh_token"]`)
	if field(t, out, "subject_type") != "pairwise" || field(t, out, "post_logout_redirect_uris") != "https://web.example/bye" {
		t.Fatalf("credentials create:\n%s", out)
	}
	c.fails(`unknown response type "cod"`, "credentials", "set-client", "web", "-p", "response_types=cod")
	c.fails(`unknown property "secret"`, "credentials", "set-client", web, "-p", "secret=x")
	out = c.ok("credentials", "set-client", "web", "-p", "backchannel_logout_uri=https://web.example/bc", "-p", "backchannel_logout_session_required=true")
	if !strings.HasPrefix(out, "Updated "+web+"\n") || field(t, out, "backchannel_logout_uri") != "https://web.example/bc" || strings.Contains(out, "subject_type") {
		t.Fatalf("credentials set-client:\n%s", out)
	}
	got := decodeJSON[map[string]any](t, c.ok("credentials", "info", web, "-t", "oauth2", "--json"))
	if got["backchannel_logout_session_required"] != true || got["grant_types"] != nil {
		t.Fatalf("credentials info after set-client: %v", got)
	}
}
