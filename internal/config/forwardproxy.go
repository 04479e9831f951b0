package config

import (
	"fmt"
	"net/url"
	"strings"
)

// ParseForwardProxy reads an outbound proxy URL: http://[user:password@]
// host[:port], as HTTP_PROXY takes it (a bare host:port means http://).
// Only http:// proxies are supported: plain requests go to them in
// absolute form, https ones through CONNECT (RFC 9110 §9.3.6). Errors
// never repeat the password.
func ParseForwardProxy(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if (err != nil || u.Scheme == "" || u.Host == "") && !strings.Contains(raw, "://") {
		// "proxy.example:3128" parses with the scheme "proxy.example";
		// read it as golang.org/x/net/http/httpproxy does.
		if u2, err2 := url.Parse("http://" + raw); err2 == nil {
			u, err = u2, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("proxy is not a URL")
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("proxy %q must start with http:// (only http proxies are supported)", u.Redacted())
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("proxy %q has no host", u.Redacted())
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("proxy %q must be only scheme, host and port", u.Redacted())
	}
	return u, nil
}
