package adminclient

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
)

// DefaultURL is where the Admin API listens when nothing says otherwise.
const DefaultURL = "http://localhost:9876"

// Where a Target's URL came from.
const (
	FromFlag    = "--admin-url"
	FromEnv     = "EG_ADMIN_URL"
	FromSystem  = "system.config.yml cli.url"
	FromGateway = "gateway.config.yml admin"
	FromDefault = "default"
)

// Target is where the CLI sends Admin API calls, and what the config
// directory adds to them.
type Target struct {
	URL    string
	Source string // FromFlag, FromEnv, FromSystem, FromGateway or FromDefault
	// APIKey is gateway.config.yml's admin.apiKey, set only when URL was
	// derived from that same file's admin block (the CLI runs next to the
	// gateway), so a key is never sent to a server it was not written for.
	APIKey string
	// Header is system.config.yml's cli.headers.
	Header http.Header
	// Verbose is system.config.yml's cli.verbose.
	Verbose bool
}

// Resolve finds the Admin API with Express Gateway's precedence: flagURL
// (the --admin-url flag) when set, then the EG_ADMIN_URL environment
// variable, then cli.url in system.config.yml, then
// http://<admin.host|hostname|localhost>:<admin.port|9876> from
// gateway.config.yml, then http://localhost:9876.
//
// The config files are read leniently: a file that is missing, or has
// errors in parts the CLI does not use (an unset ${REDIS_PASSWORD}, say),
// does not stop the CLI; whatever could be read is used.
func Resolve(flagURL, dir string, lookup config.Lookup) Target {
	var t Target
	sys, _ := config.LoadSystem(dir, lookup)
	if sys != nil && sys.CLI != nil {
		t.Verbose = sys.CLI.Verbose
		if len(sys.CLI.Headers) > 0 {
			t.Header = http.Header{}
			for k, v := range sys.CLI.Headers {
				t.Header.Set(k, Format(v))
			}
		}
	}
	switch {
	case strings.TrimSpace(flagURL) != "":
		t.URL, t.Source = flagURL, FromFlag
		return t
	case envSet(lookup, "EG_ADMIN_URL"):
		v, _ := lookup("EG_ADMIN_URL")
		t.URL, t.Source = v, FromEnv
		return t
	case sys != nil && sys.CLI != nil && strings.TrimSpace(sys.CLI.URL) != "":
		t.URL, t.Source = sys.CLI.URL, FromSystem
		return t
	}
	if g, _ := config.LoadGateway(dir, lookup); g != nil && g.Admin != nil {
		a := g.Admin
		host := a.Host
		if host == "" {
			host = a.Hostname
		}
		switch host {
		case "", "0.0.0.0", "::", "[::]", "*":
			host = "localhost" // listening everywhere: reach it locally
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		port := a.PortOr(config.DefaultAdminPort)
		t.URL = "http://" + net.JoinHostPort(host, strconv.Itoa(port))
		t.Source, t.APIKey = FromGateway, a.APIKey
		return t
	}
	t.URL, t.Source = DefaultURL, FromDefault
	return t
}

func envSet(lookup config.Lookup, name string) bool {
	if lookup == nil {
		return false
	}
	v, ok := lookup(name)
	return ok && strings.TrimSpace(v) != ""
}
