package gateway

import (
	"github.com/gatehouse/gatehouse/internal/accesstoken"
	"github.com/gatehouse/gatehouse/internal/policy/basicauth"
	"github.com/gatehouse/gatehouse/internal/policy/cors"
	"github.com/gatehouse/gatehouse/internal/policy/headers"
	"github.com/gatehouse/gatehouse/internal/policy/introspect"
	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
	"github.com/gatehouse/gatehouse/internal/policy/keyauth"
	"github.com/gatehouse/gatehouse/internal/policy/logpolicy"
	"github.com/gatehouse/gatehouse/internal/policy/oauth2"
	"github.com/gatehouse/gatehouse/internal/policy/proxy"
	"github.com/gatehouse/gatehouse/internal/policy/ratelimit"
	"github.com/gatehouse/gatehouse/internal/policy/rewrite"
	"github.com/gatehouse/gatehouse/internal/policy/terminate"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// Policies is the table of built-in policies. Adding a policy is one package,
// one line here and one docs page. tokens verifies the authorization
// server's access tokens for the oauth2 policy (nil: there is no server,
// and a pipeline with an oauth2 step does not build).
func Policies(tokens accesstoken.Verifier) map[string]policyenv.Factory {
	return map[string]policyenv.Factory{
		"proxy":     {New: proxy.New, Terminal: true, Options: proxy.Options{}},
		"terminate": {New: terminate.New, Terminal: true, Options: terminate.Options{}},
		"cors":      {New: cors.New, Options: cors.Options{}},
		"headers":   {New: headers.New, Options: headers.Options{}},
		"log":       {New: logpolicy.New, Options: logpolicy.Options{}},
		"rewrite":   {New: rewrite.New, Options: rewrite.Options{}},

		"basic-auth":        {New: basicauth.New, Options: basicauth.Options{}},
		"jwt":               {New: jwtauth.New, Options: jwtauth.Options{}},
		"key-auth":          {New: keyauth.New, Options: keyauth.Options{}},
		"oauth2":            {New: oauth2.New(tokens), Options: oauth2.Options{}},
		"oauth2-introspect": {New: introspect.New, Options: introspect.Options{}},
		"rate-limit":        {New: ratelimit.New, Options: ratelimit.Options{}},
	}
}
