package admin

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TimeFormat is how dates are sent: RFC 3339 in UTC with milliseconds
// (JavaScript's toISOString). Express Gateway sent Date.toString() output
// ("Thu Apr 05 2018 14:20:51 GMT+0200 (CEST)"), which no parser reads
// reliably.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// object is a JSON object that keeps its keys in order, so responses read
// like Express Gateway's (id first, extras last).
type object []field

type field struct {
	k string
	v any
}

func (o object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(f.k)
		buf.Write(k)
		buf.WriteByte(':')
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// withExtra appends the declared extra properties, sorted, skipping any
// that would shadow a built-in key.
func withExtra(o object, extra map[string]any) object {
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		if !slices.ContainsFunc(o, func(f field) bool { return f.k == k }) {
			o = append(o, field{k, extra[k]})
		}
	}
	return o
}

// egShape is Express Gateway's JSON object for one consumer kind, as
// data: its properties in EG's order, then the declared extra properties
// (withExtra).
type egShape[T any] struct {
	fields []egField[T]
	extra  func(*T) map[string]any
}

// egField is one property of an egShape.
type egField[T any] struct {
	name string
	// optional properties are left out when empty: EG sends the ones a
	// record has.
	optional bool
	value    func(*T) any
}

// render is x in the shape.
func (s egShape[T]) render(x *T) object {
	o := make(object, 0, len(s.fields))
	for _, f := range s.fields {
		v := f.value(x)
		if f.optional && v == "" {
			continue
		}
		o = append(o, field{f.name, v})
	}
	return withExtra(o, s.extra(x))
}

// userShape is EG's user.
var userShape = egShape[store.User]{
	fields: []egField[store.User]{
		{"id", false, func(u *store.User) any { return u.ID }},
		{"username", false, func(u *store.User) any { return u.Username }},
		{"firstname", true, func(u *store.User) any { return u.Firstname }},
		{"lastname", true, func(u *store.User) any { return u.Lastname }},
		{"email", true, func(u *store.User) any { return u.Email }},
		{"redirectUri", true, func(u *store.User) any { return u.RedirectURI }},
		{"isActive", false, func(u *store.User) any { return u.IsActive }},
		{"createdAt", false, func(u *store.User) any { return formatTime(u.CreatedAt) }},
		{"updatedAt", false, func(u *store.User) any { return formatTime(u.UpdatedAt) }},
	},
	extra: func(u *store.User) map[string]any { return u.Extra },
}

// appShape is EG's application.
var appShape = egShape[store.App]{
	fields: []egField[store.App]{
		{"id", false, func(a *store.App) any { return a.ID }},
		{"userId", false, func(a *store.App) any { return a.UserID }},
		{"name", false, func(a *store.App) any { return a.Name }},
		{"redirectUri", true, func(a *store.App) any { return a.RedirectURI }},
		{"isActive", false, func(a *store.App) any { return a.IsActive }},
		{"createdAt", false, func(a *store.App) any { return formatTime(a.CreatedAt) }},
		{"updatedAt", false, func(a *store.App) any { return formatTime(a.UpdatedAt) }},
	},
	extra: func(a *store.App) map[string]any { return a.Extra },
}

// credentialJSON is Express Gateway's credential shape. plain, when not
// empty, is a generated secret in clear, sent only by its creation or
// rotation, under password, secret or keySecret. The hash and the revision
// never leave.
func credentialJSON(c *store.Credential, plain string) object {
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	o := object{{"isActive", c.IsActive}, {"createdAt", formatTime(c.CreatedAt)}, {"updatedAt", formatTime(c.UpdatedAt)}}
	switch c.Type {
	case store.KeyAuth, store.JWT:
		o = append(o, field{"keyId", c.KeyID})
		if plain != "" {
			o = append(o, field{"keySecret", plain})
		}
		o = append(o, field{"scopes", scopes}, field{"consumerId", c.ConsumerID}, field{"id", c.ID}, field{"type", c.Type})
	default:
		o = append(o, field{"autoGeneratePassword", c.AutoGeneratePassword}, field{"passwordKey", c.PasswordKey},
			field{"scopes", scopes})
		if len(c.RedirectURIs) > 0 {
			o = append(o, field{"redirectUris", c.RedirectURIs})
		}
		o = append(o, clientMetadataJSON(&c.ClientMetadata)...)
		o = append(o, field{"id", c.ID}, field{"consumerId", c.ConsumerID}, field{"type", c.Type})
		if plain != "" {
			o = append(o, field{c.PasswordKey, plain})
		}
	}
	return o
}

func tokenJSON(t *store.Token) object {
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	o := object{{"id", t.ID}, {"kind", t.Kind}, {"consumerId", t.ConsumerID}}
	if t.AuthenticatedUserID != "" {
		o = append(o, field{"authenticatedUserId", t.AuthenticatedUserID})
	}
	o = append(o, field{"scopes", scopes}, field{"createdAt", formatTime(t.CreatedAt)})
	if !t.ExpiresAt.IsZero() {
		o = append(o, field{"expiresAt", formatTime(t.ExpiresAt)})
	} else {
		o = append(o, field{"expiresAt", nil})
	}
	return append(o, field{"revoked", t.Revoked})
}

// clientMetadataJSON is an oauth2 credential's OpenID Connect registration
// under its Dynamic Client Registration 1.0 §2 names; absent fields are
// left out, as Express Gateway's credentials have none of them.
func clientMetadataJSON(m *store.ClientMetadata) object {
	var o object
	if len(m.PostLogoutRedirectURIs) > 0 {
		o = append(o, field{"post_logout_redirect_uris", m.PostLogoutRedirectURIs})
	}
	if m.BackchannelLogoutURI != "" {
		o = append(o, field{"backchannel_logout_uri", m.BackchannelLogoutURI},
			field{"backchannel_logout_session_required", m.BackchannelLogoutSessionRequired})
	}
	for _, f := range []field{{"subject_type", m.SubjectType}, {"sector_identifier_uri", m.SectorIdentifierURI},
		{"id_token_signed_response_alg", m.IDTokenSignedResponseAlg}, {"token_endpoint_auth_method", m.TokenEndpointAuthMethod}} {
		if f.v != "" {
			o = append(o, f)
		}
	}
	if len(m.GrantTypes) > 0 {
		o = append(o, field{"grant_types", m.GrantTypes})
	}
	if len(m.ResponseTypes) > 0 {
		o = append(o, field{"response_types", m.ResponseTypes})
	}
	return o
}
