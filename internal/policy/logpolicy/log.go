// Package logpolicy is the log policy: it writes one log line per request
// from a message template (Express Gateway's `message`, e.g.
// "${req.method} ${req.originalUrl}") and passes the request on.
package logpolicy

import (
	"log/slog"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/expr"
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// Options are Express Gateway's log options, plus a level.
type Options struct {
	Message string `yaml:"message"`
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
}

// New builds a log step.
func New(action policyenv.Decoder, env *policyenv.Env) (pipeline.Policy, error) {
	var o Options
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	if o.Message == "" {
		return nil, action.Errorf("message", "is required, e.g. \"${req.method} ${req.originalUrl}\"")
	}
	t, err := expr.CompileTemplate(o.Message)
	if err != nil {
		return nil, action.Errorf("message", "%v", err)
	}
	var level slog.Level
	if o.Level != "" {
		if err := level.UnmarshalText([]byte(o.Level)); err != nil {
			return nil, action.Errorf("level", "must be debug, info, warn or error")
		}
	}
	log := env.Logger
	return pipeline.PolicyFunc(func(w http.ResponseWriter, r *http.Request, next pipeline.Handler) error {
		st := pipeline.StateOf(r)
		if log.Enabled(r.Context(), level) {
			log.LogAttrs(r.Context(), level, t.Render(r, st), slog.String("request_id", st.RequestID))
		}
		return next.Handle(w, r)
	}), nil
}
