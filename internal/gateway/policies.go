package gateway

import (
	"github.com/gatehouse/gatehouse/internal/pipeline"
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
)

// Policies is the table of built-in policies. Adding a policy is one package,
// one line here and one docs page.
func Policies() map[string]pipeline.Factory {
	return map[string]pipeline.Factory{
		"proxy":     {New: proxy.New, Terminal: true},
		"terminate": {New: terminate.New, Terminal: true},
		"cors":      {New: cors.New},
		"headers":   {New: headers.New},
		"log":       {New: logpolicy.New},
		"rewrite":   {New: rewrite.New},

		"basic-auth":        {New: basicauth.New},
		"jwt":               {New: jwtauth.New},
		"key-auth":          {New: keyauth.New},
		"oauth2":            {New: oauth2.New},
		"oauth2-introspect": {New: introspect.New},
		"rate-limit":        {New: ratelimit.New},
	}
}
