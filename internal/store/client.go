package store

import (
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Client registration values of an oauth2 credential (OpenID Connect
// Dynamic Client Registration 1.0 §2, RP-Initiated Logout 1.0 §3.1,
// Back-Channel Logout 1.0 §2.2).
const (
	SubjectPublic   = "public"
	SubjectPairwise = "pairwise"

	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthNone              = "none"

	GrantAuthorizationCode = "authorization_code"
	GrantImplicit          = "implicit"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
)

// Values the registration accepts, in the order the errors list them.
var (
	SubjectTypes = []string{SubjectPublic, SubjectPairwise}
	// IDTokenAlgs are the ID-token signing algorithms of the authorization
	// server's keys. "none" is never accepted (an unsigned ID token is no
	// proof, OpenID Connect Core 1.0 §3.1.3.7 step 6 lets it be refused),
	// nor HS256/384/512: the shared key would be the client secret, which
	// Gatehouse only holds hashed.
	IDTokenAlgs      = []string{"RS256", "ES256", "EdDSA"}
	TokenAuthMethods = []string{AuthClientSecretBasic, AuthClientSecretPost, AuthNone}
	GrantTypes       = []string{GrantAuthorizationCode, GrantImplicit, GrantRefreshToken, GrantClientCredentials, GrantPassword}
	// responseTypeWords are the words of a response type (OAuth 2.0
	// Multiple Response Type Encoding Practices §5); "none" stands alone.
	responseTypeWords = []string{"code", "id_token", "token"}
)

// ClientMetadata is what an oauth2 credential registers for OpenID
// Connect. Every field is optional: an absent one keeps Express Gateway's
// behaviour (any grant, response type and client authentication the
// server allows; public subject identifiers; RS256 ID tokens). The JSON
// names are those of Dynamic Client Registration 1.0 §2.
type ClientMetadata struct {
	// PostLogoutRedirectURIs are where RP-Initiated Logout 1.0 §3 may
	// send the user back, compared exactly.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// BackchannelLogoutURI receives the logout token (Back-Channel Logout
	// 1.0 §2.2); BackchannelLogoutSessionRequired asks for sid in it.
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`
	// SubjectType is "public" (empty) or "pairwise" (Core §8).
	SubjectType         string `json:"subject_type,omitempty"`
	SectorIdentifierURI string `json:"sector_identifier_uri,omitempty"`
	// IDTokenSignedResponseAlg is one of IDTokenAlgs; empty is RS256.
	IDTokenSignedResponseAlg string `json:"id_token_signed_response_alg,omitempty"`
	// TokenEndpointAuthMethod is one of TokenAuthMethods; empty accepts
	// any of them, as before.
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	// ResponseTypes are normalised: the words of each sorted.
	ResponseTypes []string `json:"response_types,omitempty"`
}

// IDTokenAlg is the algorithm the client's ID tokens are signed with.
func (c *Credential) IDTokenAlg() string {
	if c.IDTokenSignedResponseAlg == "" {
		return "RS256"
	}
	return c.IDTokenSignedResponseAlg
}

// Pairwise reports whether the client gets pairwise subject identifiers.
func (c *Credential) Pairwise() bool { return c.SubjectType == SubjectPairwise }

// AllowsGrant reports whether the client may use grant type g at the token
// endpoint (or "implicit" at the authorization endpoint). Without
// grant_types every grant is allowed, as before.
func (c *Credential) AllowsGrant(g string) bool {
	return len(c.GrantTypes) == 0 || slices.Contains(c.GrantTypes, g)
}

// AllowsAuthMethod reports whether the client may authenticate to the
// token endpoint with method m (client_secret_basic, client_secret_post,
// none). Without token_endpoint_auth_method any is allowed, as before.
func (c *Credential) AllowsAuthMethod(m string) bool {
	return c.TokenEndpointAuthMethod == "" || c.TokenEndpointAuthMethod == m
}

// AllowsResponseType reports whether the client may send response_type rt
// (its words in any order) to the authorization endpoint: it is
// registered (or response_types is absent) and the grant it implies is
// allowed: code needs authorization_code, token and id_token need implicit
// (Dynamic Client Registration 1.0 §2).
func (c *Credential) AllowsResponseType(rt string) bool {
	n, ok := normalizeResponseType(rt)
	if !ok {
		return false
	}
	if len(c.ResponseTypes) > 0 && !slices.Contains(c.ResponseTypes, n) {
		return false
	}
	for _, g := range impliedGrants(n) {
		if !c.AllowsGrant(g) {
			return false
		}
	}
	return true
}

// SectorIdentifier is the host pairwise subject identifiers are computed
// for (Core §8.1): sector_identifier_uri's host when registered, else the
// one host of the redirect URIs (the app's redirectUri and the
// credential's redirectUris). ok is false when there are several hosts and
// no sector_identifier_uri, which the registration refuses.
func (c *Credential) SectorIdentifier(appRedirectURI string) (host string, ok bool) {
	if c.SectorIdentifierURI != "" {
		u, err := url.Parse(c.SectorIdentifierURI)
		return u.Hostname(), err == nil
	}
	uris := append([]string{}, c.RedirectURIs...)
	if appRedirectURI != "" {
		uris = append(uris, appRedirectURI)
	}
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		h := u.Hostname()
		if h == "" {
			h = u.Scheme // a private-use scheme names the app
		}
		if host != "" && h != host {
			return "", false
		}
		host = h
	}
	return host, true
}

func normalizeResponseType(rt string) (string, bool) {
	words := strings.Fields(rt)
	if len(words) == 0 {
		return "", false
	}
	if len(words) == 1 && words[0] == "none" {
		return "none", true
	}
	sort.Strings(words)
	for i, w := range words {
		if !slices.Contains(responseTypeWords, w) || (i > 0 && words[i-1] == w) {
			return "", false
		}
	}
	return strings.Join(words, " "), true
}

func impliedGrants(normalized string) []string {
	var out []string
	words := strings.Fields(normalized)
	if slices.Contains(words, "code") {
		out = append(out, GrantAuthorizationCode)
	}
	if slices.Contains(words, "token") || slices.Contains(words, "id_token") {
		out = append(out, GrantImplicit)
	}
	return out
}

// CheckClientMetadata validates and normalises m for a credential of type
// typ whose secret is present or not (public), before it is written. As
// CheckRedirectURI, it runs on writes only. Errors name the JSON field.
func CheckClientMetadata(typ string, m *ClientMetadata, public bool, redirectURIs []string, appRedirectURI string) error {
	if typ != OAuth2 {
		if !m.empty() {
			return invalid("post_logout_redirect_uris", "client registration fields (post_logout_redirect_uris, subject_type, grant_types, ...) belong to oauth2 credentials, not %s", typ)
		}
		return nil
	}
	for _, u := range m.PostLogoutRedirectURIs {
		if err := checkWebURI("post_logout_redirect_uris", u, true); err != nil {
			return err
		}
	}
	m.PostLogoutRedirectURIs = dedupe(m.PostLogoutRedirectURIs)
	if m.BackchannelLogoutURI != "" {
		if err := checkWebURI("backchannel_logout_uri", m.BackchannelLogoutURI, true); err != nil {
			return err
		}
	} else if m.BackchannelLogoutSessionRequired {
		return invalid("backchannel_logout_session_required", "backchannel_logout_session_required needs a backchannel_logout_uri (Back-Channel Logout 1.0 §2.2)")
	}
	if m.SectorIdentifierURI != "" {
		// Core §8.1: the sector identifier URI MUST use https.
		if err := checkWebURI("sector_identifier_uri", m.SectorIdentifierURI, false); err != nil {
			return err
		}
	}
	if err := oneOf("subject_type", m.SubjectType, SubjectTypes); err != nil {
		return err
	}
	if err := oneOf("id_token_signed_response_alg", m.IDTokenSignedResponseAlg, IDTokenAlgs); err != nil {
		return err
	}
	if err := oneOf("token_endpoint_auth_method", m.TokenEndpointAuthMethod, TokenAuthMethods); err != nil {
		return err
	}
	switch {
	case m.TokenEndpointAuthMethod == AuthNone && !public:
		return invalid("token_endpoint_auth_method", "token_endpoint_auth_method none is for public clients (no secret): this client has a secret, so use client_secret_basic or client_secret_post")
	case m.TokenEndpointAuthMethod != "" && m.TokenEndpointAuthMethod != AuthNone && public:
		return invalid("token_endpoint_auth_method", "token_endpoint_auth_method %s needs a client secret: this is a public client, so use none", m.TokenEndpointAuthMethod)
	}
	for _, g := range m.GrantTypes {
		if err := oneOf("grant_types", g, GrantTypes); err != nil {
			return err
		}
	}
	m.GrantTypes = dedupe(m.GrantTypes)
	rts := make([]string, 0, len(m.ResponseTypes))
	for _, rt := range m.ResponseTypes {
		n, ok := normalizeResponseType(rt)
		if !ok {
			return invalid("response_types", "unknown response type %q (code, id_token, token and their combinations such as \"code id_token\", or none)", rt)
		}
		rts = append(rts, n)
	}
	m.ResponseTypes = dedupe(rts)
	if len(m.ResponseTypes) == 0 {
		m.ResponseTypes = nil
	}
	// Dynamic Client Registration 1.0 §2: code goes with
	// authorization_code, token and id_token with implicit, both ways.
	if len(m.GrantTypes) > 0 && len(m.ResponseTypes) > 0 {
		need := map[string]bool{}
		for _, rt := range m.ResponseTypes {
			for _, g := range impliedGrants(rt) {
				need[g] = true
				if !slices.Contains(m.GrantTypes, g) {
					return invalid("grant_types", "response type %q needs grant type %s in grant_types (Dynamic Client Registration 1.0 §2)", rt, g)
				}
			}
		}
		for _, g := range []string{GrantAuthorizationCode, GrantImplicit} {
			if slices.Contains(m.GrantTypes, g) && !need[g] {
				return invalid("response_types", "grant type %s needs a response type that uses it in response_types (code for authorization_code; token or id_token for implicit) (Dynamic Client Registration 1.0 §2)", g)
			}
		}
	}
	if m.SubjectType == SubjectPairwise {
		probe := Credential{RedirectURIs: redirectURIs, ClientMetadata: *m}
		if _, ok := probe.SectorIdentifier(appRedirectURI); !ok {
			return invalid("sector_identifier_uri", "pairwise subject_type with redirect URIs on several hosts needs a sector_identifier_uri (OpenID Connect Core 1.0 §8.1)")
		}
	}
	return nil
}

func (m *ClientMetadata) empty() bool {
	return len(m.PostLogoutRedirectURIs) == 0 && m.BackchannelLogoutURI == "" && !m.BackchannelLogoutSessionRequired &&
		m.SubjectType == "" && m.SectorIdentifierURI == "" && m.IDTokenSignedResponseAlg == "" &&
		m.TokenEndpointAuthMethod == "" && len(m.GrantTypes) == 0 && len(m.ResponseTypes) == 0
}

func oneOf(field, v string, allowed []string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return invalid(field, "%s %q is not supported (one of: %s)", field, v, strings.Join(allowed, ", "))
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// checkWebURI applies the redirect-URI rules (CheckRedirectURI) to a URI
// Gatehouse sends a browser or its own request to: absolute, lowercase
// https:// (or http:// on loopback when loopbackHTTP), a host, no user
// name or password, no fragment, no spaces, control characters,
// backslashes or wildcards. The scheme must be written in lowercase: the
// value is compared exactly with what a client sends (RP-Initiated Logout
// 1.0 §3), so no spelling of it may stand for another.
func checkWebURI(field, raw string, loopbackHTTP bool) error {
	bad := func(format string, args ...any) error {
		return invalid(field, "%s %q "+format, append([]any{field, raw}, args...)...)
	}
	if raw == "" {
		return invalid(field, "%s must not be empty", field)
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f || r == '\\' }) {
		return bad("must not contain spaces, control characters or backslashes")
	}
	if strings.Contains(raw, "#") {
		return bad("must not have a fragment")
	}
	if strings.Contains(raw, "*") {
		return bad("must not contain a wildcard (*): it is compared exactly")
	}
	want := "https:// (or http:// on loopback: 127.0.0.1, [::1], localhost)"
	if !loopbackHTTP {
		want = "https://"
	}
	if !strings.HasPrefix(raw, "https://") && !strings.HasPrefix(raw, "http://") {
		return bad("must be an absolute URI starting with %s, in lowercase", want)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return bad("must be an absolute URI with a host, such as https://app.example.com/logged-out")
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return bad("must not contain a user name or password")
	}
	if u.Scheme == "http" && !(loopbackHTTP && LoopbackHost(u.Hostname())) {
		return bad("must use %s", want)
	}
	return nil
}
