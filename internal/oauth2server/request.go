package oauth2server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// maxBody bounds form and JSON bodies of the OAuth2 endpoints.
const maxBody = 64 << 10

// params reads a form or JSON body (Express Gateway accepts both at the
// token endpoint). Repeated parameters are an error (RFC 6749 §3.1, §3.2).
func params(r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, errInvalidRequest("could not read the body")
	}
	if len(body) > maxBody {
		return nil, &oauthError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "request body too large"}
	}
	var v url.Values
	switch ct {
	case "application/json":
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, errInvalidRequest("body is not valid JSON")
		}
		v = url.Values{}
		for k, x := range m {
			switch y := x.(type) {
			case string:
				v.Set(k, y)
			case float64, bool:
				v.Set(k, fmt.Sprint(y))
			case nil:
			default:
				return nil, errInvalidRequest("Invalid parameter: %s must be a string", k)
			}
		}
	case "application/x-www-form-urlencoded", "":
		if v, err = url.ParseQuery(string(body)); err != nil {
			return nil, errInvalidRequest("body is not a valid form")
		}
	default:
		return nil, errInvalidRequest("Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	for k, vals := range v {
		if len(vals) > 1 {
			return nil, errInvalidRequest("parameter %s is repeated", k)
		}
	}
	return v, nil
}

// basicAuth reads HTTP Basic client credentials; RFC 6749 §2.3.1 says they
// are form-urlencoded before base64.
func basicAuth(r *http.Request) (id, secret string, present bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false, nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "basic") {
		return "", "", true, errInvalidClient(true)
	}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
	if derr != nil {
		return "", "", true, errInvalidClient(true)
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", true, errInvalidClient(true)
	}
	if uu, e := url.QueryUnescape(u); e == nil {
		u = uu
	}
	if pp, e := url.QueryUnescape(p); e == nil {
		p = pp
	}
	return u, p, true, nil
}
