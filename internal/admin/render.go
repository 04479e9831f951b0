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

func userJSON(u *store.User) object {
	o := object{{"id", u.ID}, {"username", u.Username}}
	if u.Firstname != "" {
		o = append(o, field{"firstname", u.Firstname})
	}
	if u.Lastname != "" {
		o = append(o, field{"lastname", u.Lastname})
	}
	if u.Email != "" {
		o = append(o, field{"email", u.Email})
	}
	if u.RedirectURI != "" {
		o = append(o, field{"redirectUri", u.RedirectURI})
	}
	o = append(o, field{"isActive", u.IsActive}, field{"createdAt", formatTime(u.CreatedAt)}, field{"updatedAt", formatTime(u.UpdatedAt)})
	return withExtra(o, u.Extra)
}

func appJSON(a *store.App) object {
	o := object{{"id", a.ID}, {"userId", a.UserID}, {"name", a.Name}}
	if a.RedirectURI != "" {
		o = append(o, field{"redirectUri", a.RedirectURI})
	}
	o = append(o, field{"isActive", a.IsActive}, field{"createdAt", formatTime(a.CreatedAt)}, field{"updatedAt", formatTime(a.UpdatedAt)})
	return withExtra(o, a.Extra)
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
