package config

import (
	"strings"
	"testing"
	"time"
)

// TestOpenIDBlock: oauth2.openid decodes its keys; an ID-token algorithm
// the provider has no keys for is refused at its line.
func TestOpenIDBlock(t *testing.T) {
	s, err := ParseSystem("system.config.yml", []byte(`oauth2:
  openid:
    idTokenAlgorithm: EdDSA
    idTokenTimeToExpiry: 15m
    claims: {phone_number: mobile, nickname: ""}
    pairwiseSalt: pepper
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	o := s.OAuth2.OpenID
	if o.IDTokenAlgorithm != "EdDSA" || o.IDTokenTimeToExpiry.Or(0) != 15*time.Minute || o.Claims["phone_number"] != "mobile" ||
		o.Claims["nickname"] != "" || len(o.Claims) != 2 || o.PairwiseSalt != "pepper" {
		t.Errorf("openid block %+v", o)
	}
	for _, alg := range []string{"HS256", "none", "rs256", "PS256"} {
		_, err := ParseSystem("system.config.yml", []byte("oauth2:\n  openid:\n    idTokenAlgorithm: "+alg+"\n"), env(nil))
		want := `system.config.yml:3: oauth2.openid.idTokenAlgorithm: must be one of RS256, ES256, EdDSA, got "` + alg + `"`
		if err == nil || strings.TrimSpace(err.Error()) != want {
			t.Errorf("%s: %v\nwant %s", alg, err, want)
		}
	}
	if _, err := ParseSystem("system.config.yml", []byte("oauth2:\n  openid:\n    claim: {}\n"), env(nil)); err == nil || !strings.Contains(err.Error(), "oauth2.openid.claim: unknown key") {
		t.Errorf("unknown key: %v", err)
	}
}
