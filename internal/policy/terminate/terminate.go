// Package terminate is the terminate policy: it answers the request itself
// with a fixed status and message (Express Gateway: 400 "Terminated").
package terminate

import (
	"net/http"

	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// Options are Express Gateway's terminate options.
type Options struct {
	StatusCode int    `yaml:"statusCode"`
	Message    string `yaml:"message"`
}

// New builds a terminate step.
func New(action policyenv.Decoder, _ *policyenv.Env) (pipeline.Policy, error) {
	o := Options{StatusCode: http.StatusBadRequest, Message: "Terminated"}
	if err := action.Decode(&o); err != nil {
		return nil, err
	}
	if o.StatusCode < 200 || o.StatusCode > 599 {
		return nil, action.Errorf("statusCode", "must be a final HTTP status between 200 and 599, got %d", o.StatusCode)
	}
	body := []byte(o.Message)
	status := o.StatusCode
	return pipeline.PolicyFunc(func(w http.ResponseWriter, r *http.Request, _ pipeline.Handler) error {
		pipeline.StateOf(r).Record.Reason = "terminated"
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return nil
	}), nil
}
