package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// The config-editing routes (Express Gateway's /api-endpoints,
// /service-endpoints, /pipelines, /policies). Collections are named as
// in the routes: "api-endpoints", "service-endpoints", "pipelines".

// Entry is one named entry of a config section, its value as JSON.
type Entry struct {
	Name  string
	Value json.RawMessage
}

// ConfigEntries lists a section of the serving config, in file order.
func (c *Client) ConfigEntries(ctx context.Context, collection string) ([]Entry, error) {
	var raw json.RawMessage
	if _, err := c.Do(ctx, http.MethodGet, path(collection), nil, nil, &raw); err != nil {
		return nil, err
	}
	return entries(raw, collection)
}

// entries splits a JSON object keeping its key order (a Go map would
// sort them).
func entries(raw json.RawMessage, what string) ([]Entry, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	bad := fmt.Errorf("the Admin API sent %s that is not a JSON object", what)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad
	}
	var out []Entry
	for dec.More() {
		t, err := dec.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return nil, bad
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, bad
		}
		out = append(out, Entry{Name: name, Value: v})
	}
	return out, nil
}

// ConfigEntry is one entry of the serving config.
func (c *Client) ConfigEntry(ctx context.Context, collection, name string) (json.RawMessage, error) {
	var raw json.RawMessage
	if _, err := c.Do(ctx, http.MethodGet, path(collection, name), nil, nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// SetConfigEntry writes an entry (one JSON value, sent as is so its key
// order is kept); created is true when it was new (201), false when it
// replaced one (204).
func (c *Client) SetConfigEntry(ctx context.Context, collection, name string, value json.RawMessage) (created bool, err error) {
	if !json.Valid(value) {
		return false, fmt.Errorf("the %s entry is not valid JSON", collection)
	}
	status, _, err := c.do(ctx, http.MethodPut, path(collection, name), nil, value, nil)
	return status == http.StatusCreated, err
}

// DeleteConfigEntry removes an entry.
func (c *Client) DeleteConfigEntry(ctx context.Context, collection, name string) error {
	_, err := c.Do(ctx, http.MethodDelete, path(collection, name), nil, nil, nil)
	return err
}

// EnabledPolicies lists the serving config's policies list.
func (c *Client) EnabledPolicies(ctx context.Context) ([]string, error) {
	var names []string
	_, err := c.Do(ctx, http.MethodGet, "/policies", nil, nil, &names)
	return names, err
}

// EnablePolicy adds a policy to the policies list.
func (c *Client) EnablePolicy(ctx context.Context, name string) error {
	_, err := c.Do(ctx, http.MethodPut, path("policies", name), nil, nil, nil)
	return err
}

// DisablePolicy removes a policy from the policies list.
func (c *Client) DisablePolicy(ctx context.Context, name string) error {
	_, err := c.Do(ctx, http.MethodDelete, path("policies", name), nil, nil, nil)
	return err
}
