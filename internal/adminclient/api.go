package adminclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Page is one page of a users or apps listing. NextKey is the cursor of the
// next page, "" when this is the last one (Express Gateway sends 0).
type Page struct {
	Items   []Object
	NextKey string
}

// DefaultPageSize is the count asked for per page, Express Gateway's default.
const DefaultPageSize = 100

func (c *Client) list(ctx context.Context, collection, start string, count int) (Page, error) {
	q := url.Values{}
	if start != "" {
		q.Set("start", start)
	}
	if count > 0 {
		q.Set("count", strconv.Itoa(count))
	}
	var out map[string]any
	if _, err := c.Do(ctx, http.MethodGet, path(collection), q, nil, &out); err != nil {
		return Page{}, err
	}
	items, err := objects(out[collection], collection)
	if err != nil {
		return Page{}, err
	}
	next := Format(out["nextKey"])
	if next == "0" {
		next = ""
	}
	return Page{Items: items, NextKey: next}, nil
}

// listAll follows nextKey to the end. A server that repeats a cursor is
// stopped rather than followed forever.
func (c *Client) listAll(ctx context.Context, collection string) ([]Object, error) {
	var all []Object
	seen := map[string]bool{}
	start := ""
	for {
		p, err := c.list(ctx, collection, start, DefaultPageSize)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.NextKey == "" || seen[p.NextKey] {
			return all, nil
		}
		seen[p.NextKey] = true
		start = p.NextKey
	}
}

func objects(v any, what string) ([]Object, error) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("the Admin API sent %q that is not a list", what)
	}
	out := make([]Object, 0, len(arr))
	for _, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("the Admin API sent an entry of %q that is not an object", what)
		}
		out = append(out, Object(m))
	}
	return out, nil
}

func (c *Client) object(ctx context.Context, method, p string, in any) (Object, error) {
	var out Object
	if _, err := c.Do(ctx, method, p, nil, in, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) status(ctx context.Context, p string, active bool) (string, error) {
	var out struct {
		Status string `json:"status"`
	}
	if _, err := c.Do(ctx, http.MethodPut, p, nil, map[string]bool{"status": active}, &out); err != nil {
		return "", err
	}
	if out.Status == "" {
		if active {
			out.Status = "Activated"
		} else {
			out.Status = "Deactivated"
		}
	}
	return out.Status, nil
}

// Users.

// CreateUser creates a user from its properties (username, firstname,
// lastname, email, redirectUri, custom ones).
func (c *Client) CreateUser(ctx context.Context, props map[string]any) (Object, error) {
	return c.object(ctx, http.MethodPost, path("users"), props)
}

// ListUsers returns one page of users; start is a cursor from a previous
// page ("" for the first).
func (c *Client) ListUsers(ctx context.Context, start string, count int) (Page, error) {
	return c.list(ctx, "users", start, count)
}

// AllUsers lists every user, page after page.
func (c *Client) AllUsers(ctx context.Context) ([]Object, error) { return c.listAll(ctx, "users") }

// GetUser finds a user by id or username.
func (c *Client) GetUser(ctx context.Context, idOrName string) (Object, error) {
	return c.object(ctx, http.MethodGet, path("users", idOrName), nil)
}

// UpdateUser changes some properties of a user.
func (c *Client) UpdateUser(ctx context.Context, idOrName string, props map[string]any) (Object, error) {
	return c.object(ctx, http.MethodPut, path("users", idOrName), props)
}

// AppRef names an application in a status answer.
type AppRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// UserStatus is the answer of a user's status change: Express Gateway's
// status and what it did to the user's applications.
type UserStatus struct {
	Status string `json:"status"`
	// DeactivatedApps are the apps a deactivation deactivated with the
	// user; ActivatedApps those an activation brought back (the ones the
	// deactivation took down); InactiveApps those it left inactive,
	// deactivated on their own.
	DeactivatedApps []AppRef `json:"deactivatedApps,omitempty"`
	ActivatedApps   []AppRef `json:"activatedApps,omitempty"`
	InactiveApps    []AppRef `json:"inactiveApps,omitempty"`
}

// SetUserStatus activates or deactivates a user and reports what happened
// to its applications.
func (c *Client) SetUserStatus(ctx context.Context, idOrName string, active bool) (UserStatus, error) {
	var out UserStatus
	if _, err := c.Do(ctx, http.MethodPut, path("users", idOrName, "status"), nil, map[string]bool{"status": active}, &out); err != nil {
		return UserStatus{}, err
	}
	if out.Status == "" {
		out.Status = map[bool]string{true: "Activated", false: "Deactivated"}[active]
	}
	return out, nil
}

// DeleteUser removes a user, its applications and its credentials.
func (c *Client) DeleteUser(ctx context.Context, idOrName string) error {
	_, err := c.Do(ctx, http.MethodDelete, path("users", idOrName), nil, nil, nil)
	return err
}

// Applications.

// CreateApp creates an application; props carry userId (a user id or
// username), name and redirectUri.
func (c *Client) CreateApp(ctx context.Context, props map[string]any) (Object, error) {
	return c.object(ctx, http.MethodPost, path("apps"), props)
}

// ListApps returns one page of applications.
func (c *Client) ListApps(ctx context.Context, start string, count int) (Page, error) {
	return c.list(ctx, "apps", start, count)
}

// AllApps lists every application.
func (c *Client) AllApps(ctx context.Context) ([]Object, error) { return c.listAll(ctx, "apps") }

// GetApp finds an application by id or name.
func (c *Client) GetApp(ctx context.Context, idOrName string) (Object, error) {
	return c.object(ctx, http.MethodGet, path("apps", idOrName), nil)
}

// UpdateApp changes some properties of an application.
func (c *Client) UpdateApp(ctx context.Context, idOrName string, props map[string]any) (Object, error) {
	return c.object(ctx, http.MethodPut, path("apps", idOrName), props)
}

// SetAppActive activates or deactivates an application.
func (c *Client) SetAppActive(ctx context.Context, idOrName string, active bool) (string, error) {
	return c.status(ctx, path("apps", idOrName, "status"), active)
}

// DeleteApp removes an application.
func (c *Client) DeleteApp(ctx context.Context, idOrName string) error {
	_, err := c.Do(ctx, http.MethodDelete, path("apps", idOrName), nil, nil, nil)
	return err
}

// Credentials.

// CreateCredential gives a consumer (user id or username, app id or name) a
// credential of type typ. The answer carries the generated password, secret
// or keySecret: the only time it is readable.
func (c *Client) CreateCredential(ctx context.Context, consumer, typ string, cred map[string]any) (Object, error) {
	if cred == nil {
		cred = map[string]any{}
	}
	return c.object(ctx, http.MethodPost, path("credentials"), map[string]any{
		"consumerId": consumer, "type": typ, "credential": cred,
	})
}

// GetCredential reads one credential: id is the consumer id for basic-auth
// and oauth2, the keyId for key-auth and jwt.
func (c *Client) GetCredential(ctx context.Context, typ, id string) (Object, error) {
	out, err := c.object(ctx, http.MethodGet, path("credentials", typ, id), nil)
	if err == nil && out == nil { // Express Gateway answers 200 null
		err = &Error{Status: http.StatusNotFound, Message: "No credential found with id: " + id}
	}
	return out, err
}

// ListCredentials lists a consumer's credentials of every type, active or
// not.
func (c *Client) ListCredentials(ctx context.Context, consumer string) ([]Object, error) {
	var out map[string]any
	if _, err := c.Do(ctx, http.MethodGet, path("credentials", consumer), nil, nil, &out); err != nil {
		return nil, err
	}
	return objects(out["credentials"], "credentials")
}

// SetCredentialActive activates or deactivates a credential.
func (c *Client) SetCredentialActive(ctx context.Context, typ, id string, active bool) (string, error) {
	return c.status(ctx, path("credentials", typ, id, "status"), active)
}

// AddCredentialScope grants an existing scope to a credential.
func (c *Client) AddCredentialScope(ctx context.Context, typ, id, scope string) error {
	_, err := c.Do(ctx, http.MethodPut, path("credentials", typ, id, "scopes", scope), nil, nil, nil)
	return err
}

// RemoveCredentialScope takes a scope away from a credential.
func (c *Client) RemoveCredentialScope(ctx context.Context, typ, id, scope string) error {
	_, err := c.Do(ctx, http.MethodDelete, path("credentials", typ, id, "scopes", scope), nil, nil, nil)
	return err
}

// SetCredentialScopes replaces a credential's scopes.
func (c *Client) SetCredentialScopes(ctx context.Context, typ, id string, scopes []string) error {
	if scopes == nil {
		scopes = []string{}
	}
	_, err := c.Do(ctx, http.MethodPut, path("credentials", typ, id, "scopes"), nil, map[string]any{"scopes": scopes}, nil)
	return err
}

// DeleteCredential removes a credential.
func (c *Client) DeleteCredential(ctx context.Context, typ, id string) error {
	_, err := c.Do(ctx, http.MethodDelete, path("credentials", typ, id), nil, nil, nil)
	return err
}

// RotateSecret replaces a credential's password, client secret or key
// secret; an empty secret asks the server to generate one. The answer holds
// the new plain value under password, secret or keySecret.
func (c *Client) RotateSecret(ctx context.Context, typ, id, secret string) (Object, error) {
	body := map[string]any{}
	if secret != "" {
		body["secret"] = secret
	}
	return c.object(ctx, http.MethodPut, path("credentials", typ, id, "secret"), body)
}

// Scopes.

// CreateScopes registers scopes; it fails if one already exists (the
// error names those that do), and then creates none.
func (c *Client) CreateScopes(ctx context.Context, scopes ...string) error {
	_, err := c.Do(ctx, http.MethodPost, path("scopes"), nil, map[string]any{"scopes": scopes}, nil)
	return err
}

// Scope is a scope name and its description (empty when it has none).
type Scope struct {
	Name        string `json:"scope"`
	Description string `json:"description,omitempty"`
}

// CreateScope registers one scope with a description.
func (c *Client) CreateScope(ctx context.Context, name, description string) error {
	body := map[string]any{"scopes": []any{map[string]any{"name": name, "description": description}}}
	_, err := c.Do(ctx, http.MethodPost, path("scopes"), nil, body, nil)
	return err
}

// DescribeScope sets an existing scope's description (empty removes it).
func (c *Client) DescribeScope(ctx context.Context, name, description string) (Scope, error) {
	if _, err := c.GetScopeDetails(ctx, name); err != nil {
		return Scope{}, err // PUT would create a scope that does not exist
	}
	var out Scope
	if _, err := c.Do(ctx, http.MethodPut, path("scopes", name), nil, map[string]any{"description": description}, &out); err != nil {
		return Scope{}, err
	}
	if out.Name == "" {
		out = Scope{Name: name, Description: description}
	}
	return out, nil
}

// ListScopeDetails lists every scope with its description.
func (c *Client) ListScopeDetails(ctx context.Context) ([]Scope, error) {
	var out struct {
		Scopes       []string          `json:"scopes"`
		Descriptions map[string]string `json:"descriptions"`
	}
	if _, err := c.Do(ctx, http.MethodGet, path("scopes"), nil, nil, &out); err != nil {
		return nil, err
	}
	list := make([]Scope, 0, len(out.Scopes))
	for _, name := range out.Scopes {
		list = append(list, Scope{Name: name, Description: out.Descriptions[name]})
	}
	return list, nil
}

// GetScopeDetails reads a scope with its description.
func (c *Client) GetScopeDetails(ctx context.Context, scope string) (Scope, error) {
	var out Scope
	if _, err := c.Do(ctx, http.MethodGet, path("scopes", scope), nil, nil, &out); err != nil {
		return Scope{}, err
	}
	if out.Name == "" {
		out.Name = scope
	}
	return out, nil
}

// DeleteScope removes a scope (and takes it away from every credential).
func (c *Client) DeleteScope(ctx context.Context, scope string) error {
	_, err := c.Do(ctx, http.MethodDelete, path("scopes", scope), nil, nil, nil)
	return err
}

// Tokens.

// ListTokens lists a consumer's live tokens.
func (c *Client) ListTokens(ctx context.Context, consumer string) ([]Object, error) {
	var out map[string]any
	if _, err := c.Do(ctx, http.MethodGet, path("tokens"), url.Values{"consumerId": {consumer}}, nil, &out); err != nil {
		return nil, err
	}
	return objects(out["tokens"], "tokens")
}

// RevokeToken revokes a token given as "<id>|<secret>" or as its id alone.
func (c *Client) RevokeToken(ctx context.Context, token string) (Object, error) {
	var raw json.RawMessage
	if _, err := c.Do(ctx, http.MethodDelete, path("tokens", token), nil, nil, &raw); err != nil {
		return nil, err
	}
	var out Object
	if json.Unmarshal(raw, &out) != nil || out == nil { // Express Gateway sends a Redis reply array
		out = Object{}
	}
	return out, nil
}
