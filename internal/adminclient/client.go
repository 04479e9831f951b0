// Package adminclient is a small Go client of Gatehouse's Admin API (the
// Express Gateway routes /users, /apps, /credentials, /scopes and /tokens),
// used by the gatehouse CLI. Objects are kept as decoded JSON so that every
// property the server sends, custom user properties included, reaches the
// caller.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// Timeout bounds every Admin API call.
const Timeout = 10 * time.Second

// maxBody bounds what is read from a response.
const maxBody = 64 << 20

// Object is one entity as the Admin API sends it (a user, an app, a
// credential, a token).
type Object map[string]any

// Str returns o[key] as a string ("" when absent or null); numbers and
// booleans are formatted, other values written as JSON.
func (o Object) Str(key string) string {
	return Format(o[key])
}

// Bool returns o[key] when it is a boolean (or the string "true").
func (o Object) Bool(key string) bool {
	switch v := o[key].(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// Strings returns o[key] as a list of strings: a JSON array of strings, or
// one string.
func (o Object) Strings(key string) []string {
	switch v := o[key].(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, Format(e))
		}
		return out
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	}
	return nil
}

// Format writes a decoded JSON value for people: strings as they are, null
// as "", lists of scalars comma-separated, objects as compact JSON.
func Format(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	case float64:
		return fmt.Sprint(v)
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			switch e.(type) {
			case map[string]any, []any:
				b, _ := json.Marshal(v)
				return string(b)
			}
			parts = append(parts, Format(e))
		}
		return strings.Join(parts, ", ")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Error is an error the Admin API answered with. Its text is the API's
// message, on one line.
type Error struct {
	Status  int    // HTTP status
	Code    string // the API's "error" code, when it sent JSON
	Message string
	Field   string // the property the error is about, if any
}

func (e *Error) Error() string { return e.Message }

// Options configure a Client.
type Options struct {
	// URL is the Admin API's base URL, e.g. http://localhost:9876.
	URL string
	// APIKey, when set, is sent as "Authorization: Bearer <key>", or as
	// X-Admin-Key when Header already carries an Authorization header (for
	// an Admin API reached through a gateway pipeline that checks it).
	APIKey string
	// Header is added to every request (the CLI's -H flags).
	Header http.Header
	// HTTPClient defaults to a client with a 10 s timeout.
	HTTPClient *http.Client
	// Trace, when set, receives one line per call (the CLI's --verbose):
	// method, URL, status and duration; never headers or bodies.
	Trace io.Writer
}

// Client calls the Admin API. It is safe for concurrent use.
type Client struct {
	base   string
	key    string
	header http.Header
	http   *http.Client
	trace  io.Writer
}

// New checks the base URL and returns a client.
func New(o Options) (*Client, error) {
	base := strings.TrimRight(strings.TrimSpace(o.URL), "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("admin URL %q: want http://host:port or https://host:port", o.URL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("admin URL %q: must not have a query or fragment", o.URL)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: Timeout}
	}
	return &Client{base: base, key: o.APIKey, header: o.Header.Clone(), http: hc, trace: o.Trace}, nil
}

// path joins escaped segments: path("credentials", typ, id) is
// /credentials/<typ>/<id> with each part escaped ('|' and '/' included).
func path(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// Do sends one request. in, when not nil, is sent as JSON; a JSON answer is
// decoded into out when out is not nil (numbers as json.Number). A status of
// 400 or more becomes an *Error. It reports whether the answer had a body
// other than JSON null.
func (c *Client) Do(ctx context.Context, method, p string, query url.Values, in, out any) (bool, error) {
	_, had, err := c.do(ctx, method, p, query, in, out)
	return had, err
}

// do is Do that also returns the status of a successful answer (201 and
// 204 say different things on the config routes).
func (c *Client) do(ctx context.Context, method, p string, query url.Values, in, out any) (int, bool, error) {
	target := c.base + p
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, false, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return 0, false, err
	}
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.key != "" {
		if req.Header.Get("Authorization") != "" {
			req.Header.Set("X-Admin-Key", c.key)
		} else {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if c.trace != nil {
			fmt.Fprintf(c.trace, "%s %s: %v\n", method, target, err)
		}
		return 0, false, c.netError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if c.trace != nil {
		fmt.Fprintf(c.trace, "%s %s -> %d (%s)\n", method, target, resp.StatusCode, time.Since(start).Round(time.Millisecond))
	}
	if err != nil {
		return 0, false, c.netError(ctx, err)
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, false, apiError(resp, data)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return resp.StatusCode, false, nil
	}
	if out == nil {
		return resp.StatusCode, true, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return resp.StatusCode, false, fmt.Errorf("the Admin API at %s sent an answer that is not the expected JSON (%s %s): %v", c.base, method, p, err)
	}
	return resp.StatusCode, true, nil
}

func (c *Client) netError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("cannot reach the Admin API at %s: is `gatehouse serve` running?", c.base)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("the Admin API at %s did not answer within %s", c.base, c.http.Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("cannot reach the Admin API at %s: %s", c.base, oneLine(err.Error()))
}

// apiError turns an error answer into an *Error: the JSON {"error",
// "message", "field"} Gatehouse sends, or the first line of a text answer
// (Express Gateway's style), or the status text.
func apiError(resp *http.Response, data []byte) error {
	e := &Error{Status: resp.StatusCode}
	var j struct {
		Error   any    `json:"error"`
		Message string `json:"message"`
		Field   string `json:"field"`
	}
	if json.Unmarshal(data, &j) == nil && (j.Error != nil || j.Message != "") {
		e.Code, e.Message, e.Field = Format(j.Error), j.Message, j.Field
		if e.Message == "" {
			e.Message = e.Code
		}
	} else if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "html") {
		e.Message = strings.TrimSpace(string(data))
	}
	e.Message = oneLine(e.Message)
	if e.Message == "" {
		e.Message = fmt.Sprintf("the Admin API answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return e
}

// oneLine keeps an error readable on one terminal line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 500 {
		s = s[:497] + "..."
	}
	return s
}

// IsNotFound reports whether err is an Admin API 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// IsUnauthorized reports whether err is an Admin API 401 or 403.
func IsUnauthorized(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}
