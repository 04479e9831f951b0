package admin

import (
	"net/http"
	"testing"
)

// TestWeakSecretsRefused: the Admin API answers 400 naming the rule for a
// chosen secret shorter than its type allows, at creation and rotation
// (issue #11 §3). Generated secrets are unaffected.
func TestWeakSecretsRefused(t *testing.T) {
	e := newEnv(t, nil, Options{})
	ann := e.mustUser("ann")["id"].(string)
	app := e.mustApp(ann, "shop")["id"].(string)
	for _, tt := range []struct {
		name  string
		body  map[string]any
		field string
		msg   string
	}{
		{"basic-auth password 1", map[string]any{"consumerId": ann, "type": "basic-auth", "credential": map[string]any{"password": "1"}},
			"credential.password", "a basic-auth password must be at least 8 characters (got 1): NIST SP 800-63B §5.1.1.2; the minimum is crypto.minPasswordLength in system.config.yml"},
		{"oauth2 secret a", map[string]any{"consumerId": app, "type": "oauth2", "credential": map[string]any{"secret": "a"}},
			"credential.secret", "an oauth2 client secret must be at least 32 characters (got 1); leave it out to have a random one generated"},
		{"key-auth secret x", map[string]any{"consumerId": ann, "type": "key-auth", "credential": map[string]any{"keyId": "ann-key", "keySecret": "x"}},
			"credential.keySecret", "a key-auth keySecret must be at least 22 characters (got 1); leave it out to have a random one generated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			e.want(e.do("POST", "/credentials", tt.body), http.StatusBadRequest, "bad_request", tt.field, tt.msg)
		})
	}
	e.t = t
	// Nothing was created by the refusals: generated secrets still work.
	for _, body := range []map[string]any{
		{"consumerId": ann, "type": "basic-auth"},
		{"consumerId": app, "type": "oauth2"},
		{"consumerId": ann, "type": "key-auth", "credential": map[string]any{"keyId": "ann-key"}},
	} {
		e.want(e.do("POST", "/credentials", body), http.StatusOK, "", "", "")
	}
	e.want(e.do("PUT", "/credentials/oauth2/"+app+"/secret", map[string]any{"secret": "b"}), http.StatusBadRequest, "bad_request", "secret",
		"an oauth2 client secret must be at least 32 characters (got 1); leave it out to have a random one generated")
	e.want(e.do("PUT", "/credentials/basic-auth/"+ann+"/secret", map[string]any{"password": "1234567"}), http.StatusBadRequest, "bad_request", "password",
		"a basic-auth password must be at least 8 characters (got 7): NIST SP 800-63B §5.1.1.2; the minimum is crypto.minPasswordLength in system.config.yml")
	e.want(e.do("PUT", "/credentials/key-auth/ann-key/secret", map[string]any{"keySecret": "x"}), http.StatusBadRequest, "bad_request", "keySecret",
		"a key-auth keySecret must be at least 22 characters (got 1); leave it out to have a random one generated")
	e.want(e.do("PUT", "/credentials/basic-auth/"+ann+"/secret", map[string]any{"password": "12345678"}), http.StatusOK, "", "", "")
}
