package oauth2server

import (
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

// userinfoPath is the UserInfo endpoint (OpenID Connect Core 1.0 §5.3).
const userinfoPath = "/oauth2/userinfo"

// scopeClaims are the standard claims each scope asks for (Core §5.4).
func scopeClaims() map[string][]string {
	return map[string][]string{
		"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
			"profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
		"email":   {"email", "email_verified"},
		"address": {"address"},
		"phone":   {"phone_number", "phone_number_verified"},
	}
}

// defaultClaims maps every standard claim to a user property: the
// Express Gateway user model's own fields (username, firstname, lastname,
// email, updatedAt; fullname is "firstname lastname") and, for the rest, a
// models/users.json property of the claim's name. oauth2.openid.claims is
// merged over it.
func defaultClaims() map[string]string {
	m := map[string]string{
		"name":               "fullname",
		"given_name":         "firstname",
		"family_name":        "lastname",
		"preferred_username": "username",
		"email":              "email",
		"updated_at":         "updatedAt",
	}
	for _, names := range scopeClaims() {
		for _, c := range names {
			if _, ok := m[c]; !ok {
				m[c] = c
			}
		}
	}
	return m
}

// claimMapping is the defaults with the configured mapping over them; an
// empty property drops the claim.
func claimMapping(cfg map[string]string) map[string]string {
	m := defaultClaims()
	for claim, prop := range cfg {
		if prop == "" {
			delete(m, claim)
			continue
		}
		m[claim] = prop
	}
	return m
}

// claimsSupported lists the claims the provider can return (Discovery 1.0
// §3 claims_supported): the ID token's and the mapped user claims.
func (srv *Server) claimsSupported() []string {
	out := []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash", "sid", "amr"}
	out = append(out, slices.Sorted(maps.Keys(srv.oidc.claims))...)
	return out
}

// userProperty reads a property of the user record: the model's fields by
// name, else the models/users.json properties (Extra).
func userProperty(u *store.User, prop string) any {
	switch prop {
	case "id":
		return u.ID
	case "username":
		return u.Username
	case "firstname":
		return u.Firstname
	case "lastname":
		return u.Lastname
	case "fullname":
		return strings.TrimSpace(u.Firstname + " " + u.Lastname)
	case "email":
		if u.Email != "" {
			return u.Email
		}
	case "updatedAt":
		if !u.UpdatedAt.IsZero() {
			return u.UpdatedAt.Unix()
		}
		return nil
	}
	return u.Extra[prop]
}

// claimValue shapes a property as its claim's type (Core §5.1): booleans
// for *_verified (EG models often store "true"), a number of seconds for
// updated_at, a JSON object for address (a string property becomes its
// formatted member, §5.1.1), strings elsewhere. Empty values are left
// out (§5.3.2: claims without a value are omitted, not null).
func claimValue(claim string, v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		if x == "" {
			return nil, false
		}
	}
	switch claim {
	case "email_verified", "phone_number_verified":
		switch x := v.(type) {
		case bool:
			return x, true
		case string:
			b, err := strconv.ParseBool(x)
			return b, err == nil
		}
		return nil, false
	case "updated_at":
		switch x := v.(type) {
		case int64:
			return x, true
		case float64:
			return int64(x), true
		case int:
			return int64(x), true
		}
		return nil, false
	case "address":
		switch x := v.(type) {
		case map[string]any:
			return x, len(x) > 0
		case string:
			return map[string]any{"formatted": x}, true
		}
		return nil, false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case bool, float64, int, int64:
		return fmt.Sprint(x), true
	}
	return nil, false
}

// userClaims are the claims the scopes grant of the user (Core §5.4).
func (srv *Server) userClaims(u *store.User, scopes []string) map[string]any {
	out := map[string]any{}
	byScope := scopeClaims()
	for _, s := range scopes {
		for _, claim := range byScope[s] {
			prop, ok := srv.oidc.claims[claim]
			if !ok {
				continue
			}
			if v, ok := claimValue(claim, userProperty(u, prop)); ok {
				out[claim] = v
			}
		}
	}
	return out
}

// bearerError is an RFC 6750 §3 refusal of the UserInfo endpoint.
type bearerError struct {
	status      int
	code, desc  string
	scope       string // insufficient_scope: the scope needed
	noErrorCode bool   // §3.1: no credentials at all: a challenge without error
}

// userinfo is GET and POST /oauth2/userinfo (Core §5.3): the claims of the
// access token's user that its scopes grant, with the sub of its ID
// token. The token is a Bearer token (RFC 6750 §2.1, or §2.2's form body
// on POST) that holds openid and was issued to a user; an ID token is no
// access token and is refused (parseJWT's typ and key checks).
func (srv *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	tok, berr := bearerToken(w, r)
	if berr != nil {
		srv.writeBearerError(w, berr)
		return
	}
	ctx := r.Context()
	at, err := srv.VerifyAccessToken(r, tok)
	if errors.Is(err, ErrTokenInvalid) || errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrTokenRevoked) {
		srv.writeBearerError(w, &bearerError{status: http.StatusUnauthorized, code: "invalid_token",
			desc: "the access token is invalid, expired or revoked"})
		return
	} else if err != nil {
		srv.writeOAuthError(w, err) // 503 while the store or the keys are unavailable
		return
	}
	if !slices.Contains(at.Scopes, "openid") || at.UserID == "" {
		// RFC 6750 §3.1: a token without the scope the resource needs.
		srv.writeBearerError(w, &bearerError{status: http.StatusForbidden, code: "insufficient_scope",
			desc: "the access token was not granted the openid scope for a user", scope: "openid"})
		return
	}
	consumer, err := srv.s.GetConsumer(ctx, at.ClientID, false)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !consumer.Active()) {
		srv.writeBearerError(w, &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: "the token's client is not active"})
		return
	} else if err != nil {
		srv.writeOAuthError(w, err)
		return
	}
	u, err := srv.s.GetUser(ctx, at.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !u.IsActive) {
		srv.writeBearerError(w, &bearerError{status: http.StatusUnauthorized, code: "invalid_token", desc: "the token's user is not active"})
		return
	} else if err != nil {
		srv.writeOAuthError(w, err)
		return
	}
	sub, err := srv.subject(ctx, consumer, u.ID)
	if err != nil {
		srv.writeOAuthError(w, err)
		return
	}
	claims := srv.userClaims(u, at.Scopes)
	claims["sub"] = sub
	noStore(w)
	writeJSON(w, http.StatusOK, claims)
}

// userinfoMethod answers another method than GET or POST.
func (srv *Server) userinfoMethod(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, POST")
	srv.writeOAuthError(w, &oauthError{Status: http.StatusMethodNotAllowed, Code: "invalid_request",
		Description: userinfoPath + " accepts GET and POST, not " + r.Method})
}

// bearerToken reads the access token: the Authorization header (RFC 6750
// §2.1) or, on a POST with a form body, access_token (§2.2); never both
// (§2: one method per request), never the query (§2.3 is not offered: the
// token would land in logs).
func bearerToken(w http.ResponseWriter, r *http.Request) (string, *bearerError) {
	var tok string
	header := r.Header.Get("Authorization")
	if header != "" {
		scheme, v, ok := strings.Cut(header, " ")
		v = strings.TrimSpace(v)
		if !ok || !strings.EqualFold(scheme, "Bearer") || v == "" {
			return "", &bearerError{status: http.StatusUnauthorized, noErrorCode: true}
		}
		tok = v
	}
	if r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct == "application/x-www-form-urlencoded" {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			if err := r.ParseForm(); err != nil {
				return "", &bearerError{status: http.StatusBadRequest, code: "invalid_request", desc: "the form could not be read"}
			}
			if vals := r.PostForm["access_token"]; len(vals) > 0 {
				if tok != "" || len(vals) > 1 {
					return "", &bearerError{status: http.StatusBadRequest, code: "invalid_request",
						desc: "send the access token once: in the Authorization header or in the form body"}
				}
				tok = vals[0]
			}
		}
	}
	if tok == "" {
		return "", &bearerError{status: http.StatusUnauthorized, noErrorCode: true}
	}
	return tok, nil
}

// writeBearerError answers with RFC 6750 §3's WWW-Authenticate challenge
// and a JSON body of the same error.
func (srv *Server) writeBearerError(w http.ResponseWriter, e *bearerError) {
	ch := `Bearer realm="gatehouse"`
	if !e.noErrorCode {
		ch += `, error="` + e.code + `", error_description="` + e.desc + `"`
		if e.scope != "" {
			ch += `, scope="` + e.scope + `"`
		}
	}
	w.Header().Set("WWW-Authenticate", ch)
	noStore(w)
	if e.noErrorCode {
		writeJSON(w, e.status, map[string]string{"error": "invalid_request", "error_description": "no access token: send it as a Bearer token"})
		return
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}
