package jwtauth

import (
	"github.com/gatehouse/gatehouse/internal/pipeline"
	"github.com/gatehouse/gatehouse/internal/policy/authn"
)

// Rejection exposes rejection to the package's external tests (the
// verifier and fuzz tests) with a challenge of the given scheme.
func Rejection(err error, scheme string) *pipeline.Rejection {
	return rejection(err, authn.BearerScheme(scheme))
}
